"""Files a real ``poolproof init`` and ``poolproof serve`` create are readable by their owner only (0600),
whatever the umask allows: the database and its WAL and shared-memory files, the decision log, the
master key and the gateway signing key."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import requests

from gateway.storage.db import connect
from tests.reliability.server import Server


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _init(root: Path) -> str:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "init",
            "--db",
            str(root / "poolproof.db"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        preexec_fn=lambda: os.umask(0o022),  # a permissive umask: the modes must not depend on it
    )
    found = re.search(r"operator API key \(shown once\): (\S+)", proc.stdout)
    assert found, proc.stdout
    return found.group(1)


def test_init_and_a_running_server_create_every_file_0600(tmp_path: Path) -> None:
    root = tmp_path / "instance"
    admin = _init(root)
    # gateway.pub is the public key verifiers are given: the one file others may read.
    names = ["gateway.key", "gateway.pub", "master.key", "poolproof.db"]
    assert sorted(p.name for p in root.iterdir()) == names
    assert {p.name: _mode(p) for p in root.iterdir() if p.name != "gateway.pub"} == dict.fromkeys(
        ["gateway.key", "master.key", "poolproof.db"], 0o600
    )
    old = os.umask(0o022)
    try:
        server = Server(root / "poolproof.db", root / "master.key").start()
    finally:
        os.umask(old)
    readers: list[sqlite3.Connection] = []
    try:
        headers = {"Authorization": f"Bearer {admin}"}
        r = requests.post(
            f"{server.url}/admin/parties",
            json={"party_id": "fm-inv", "role": "investor"},
            headers=headers,
            timeout=30,
        )
        assert r.status_code == 201, r.text
        assert (
            requests.get(f"{server.url}/admin/decision-log/verify", headers=headers, timeout=30).status_code
            == 200
        )
        # WAL and shared-memory files live while a connection is open; hold one open to each database.
        for name in ("poolproof.db", "poolproof-decisions.db"):
            reader = sqlite3.connect(root / name)
            reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
            readers.append(reader)
        files = {p.name: _mode(p) for p in root.iterdir() if p.is_file() and p.name != "gateway.pub"}
    finally:
        for reader in readers:
            reader.close()
        server.kill()
    wal = {"poolproof.db-wal", "poolproof.db-shm", "poolproof-decisions.db-wal", "poolproof-decisions.db-shm"}
    assert wal <= set(files), files
    assert files == dict.fromkeys(files, 0o600)


def test_connect_creates_a_new_database_file_0600(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        db = connect(tmp_path / "fresh.db")
        db.conn.execute("CREATE TABLE t (x)")
        db.conn.close()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "fresh.db") == 0o600


def test_connect_leaves_the_mode_of_an_existing_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "existing.db"
    path.touch()
    path.chmod(0o640)
    connect(path).conn.close()
    assert _mode(path) == 0o640
