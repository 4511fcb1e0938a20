"""Killing the server (SIGKILL) in the middle of a large submission leaves no partial tape."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from gateway.storage.db import connect

from .helpers import CUTOFF, cn_row, jsonl, make_instance


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(db: Path, key: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, POOLPROOF_SQLITE_CACHE_KIB="256")  # tiny page cache: the write spills to the WAL
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "serve",
            "--db",
            str(db),
            "--master-key-file",
            str(key),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start")


def test_sigkill_during_a_large_submission_leaves_no_partial_tape(tmp_path: Path) -> None:
    inst = make_instance(tmp_path)
    plat = inst.add_platform("plat1")
    port = _free_port()
    proc = _start(inst.db_path, inst.key_path, port)
    url = f"http://127.0.0.1:{port}"
    try:
        h = {"Authorization": f"Bearer {plat.api_key}"}
        r = requests.post(
            f"{url}/platform/pools",
            json={"pool_id": "P1", "settings": {"preset": "CN_CONSUMER"}},
            headers=h,
            timeout=10,
        )
        assert r.status_code == 201
        body = jsonl(cn_row(i) for i in range(1, 40_001))
        headers = plat.headers("P1", CUTOFF, body)
        wal = inst.db_path.with_name("poolproof.db-wal")
        wal_before = wal.stat().st_size if wal.exists() else 0
        # Send the request on a raw socket so this test decides when the server dies.
        sock = socket.create_connection(("127.0.0.1", port))
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(
            f"POST /platform/pools/P1/cutoffs/{CUTOFF}/tapes HTTP/1.1\r\nHost: x\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the ingest transaction is writing pages
            if wal.exists() and wal.stat().st_size > wal_before + 4_000_000:
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the ingest transaction never reached the WAL")
        sock.setblocking(False)
        try:
            answered = sock.recv(1)
        except BlockingIOError:
            answered = b""
        assert answered == b"", "the server answered before it was killed"
        workers = _children(proc.pid)
        assert workers, "a 40,000-row JSONL tape is processed by worker processes"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        sock.close()
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "worker processes outlived the killed server"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    db = connect(inst.db_path)
    try:
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for table in ("tapes", "loans", "exposures", "snapshots"):
            assert db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
        assert db.conn.execute("SELECT COUNT(*) FROM pools").fetchone()[0] == 1
    finally:
        db.conn.close()
