"""SIGKILL at the worst moments -- mid-ingestion, mid-seal, mid-key-rotation -- loses nothing committed.

After every kill: ``PRAGMA integrity_check`` is ok, every committed tape is byte-for-byte what it was,
nothing half-written is visible (no partial tape, no half-sealed snapshot), and the interrupted work
either resumes (seal jobs, key rotations re-run) or is cleanly refused and can be repeated (tapes).
"""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import create_app
from gateway.access.admin import create_party
from gateway.fault_points import FAULT_ENV
from gateway.keys.backup import integrity_check
from gateway.keys.gateway_key import load_gateway_key
from gateway.keys.keyring import load_master_key, unwrap_data_key
from gateway.keys.rotation import genesis_key, header_public_key, history_path
from gateway.keys.tape_signatures import public_key_bytes, sign_tape
from gateway.snapshots.demo import DemoInstance, init_instance
from gateway.storage.db import connect
from proofs.key_history import verify_key_history
from proofs.signing import key_id
from proofs.snapshot import verify_header, verify_snapshot
from tests.gateway.helpers import cn_row, jsonl
from tests.security.world import POOL, World, bearer, build_world

from .server import Server

CUTOFF_A, CUTOFF_B = "2024-06-30", "2024-07-31"


class Deal:
    """An instance with a platform (API key + signing key) and pool P1, served by a killable server."""

    def __init__(self, root: Path, **env: str) -> None:
        self.inst: DemoInstance = init_instance(root)
        self.sk = Ed25519PrivateKey.generate()
        db = connect(self.inst.db_path)
        try:
            _, self.api_key = create_party(db, "plat", "platform", public_key=public_key_bytes(self.sk))
        finally:
            db.conn.close()
        self.server = Server(self.inst.db_path, self.inst.master_key_file, **env)

    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def tape_headers(self, cutoff: str, body: bytes) -> dict[str, str]:
        digest = hashlib.sha256(body).hexdigest()
        return {
            **self.h(),
            "Content-Type": "application/x-ndjson",
            "X-Tape-SHA256": digest,
            "X-Tape-Signature": base64.b64encode(sign_tape(self.sk, POOL, cutoff, digest)).decode(),
        }

    def create_pool(self) -> requests.Response:
        """Create pool P1 (CN_CONSUMER) through the API."""
        return requests.post(
            f"{self.server.url}/platform/pools",
            json={"pool_id": POOL, "settings": {"preset": "CN_CONSUMER"}},
            headers=self.h(),
            timeout=30,
        )

    def submit(self, cutoff: str, body: bytes) -> requests.Response:
        return requests.post(
            f"{self.server.url}/platform/pools/{POOL}/cutoffs/{cutoff}/tapes",
            data=body,
            headers=self.tape_headers(cutoff, body),
            timeout=300,
        )

    def rows(self, sql: str, *args: Any) -> list[Any]:
        db = connect(self.inst.db_path)
        try:
            return db.conn.execute(sql, args).fetchall()
        finally:
            db.conn.close()


def committed_state(deal: Deal, cutoff: str | None = None) -> list[Any]:
    """Every stored loan and tape row (of one cut-off's tapes if ``cutoff`` is given)."""
    tapes = deal.rows(
        "SELECT id, content_sha256, row_count, status FROM tapes "
        "WHERE ? IS NULL OR cutoff_date = ? ORDER BY id",
        cutoff,
        cutoff,
    )
    loans = []
    for tape in tapes:
        lo, hi = tape[0] << 32, (tape[0] + 1) << 32
        loans += deal.rows("SELECT id, plain, sealed FROM loans WHERE id > ? AND id < ? ORDER BY id", lo, hi)
    return tapes + loans


def _send_raw(port: int, path: str, headers: dict[str, str], body: bytes) -> None:
    """Send a request on a raw socket and never read the answer (the server is about to die)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port))
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        time.sleep(30)
        sock.close()
    except OSError:
        return


def test_repeated_sigkills_during_ingestion_lose_nothing_committed(tmp_path: Path) -> None:
    deal = Deal(tmp_path / "inst")
    deal.server.start()
    try:
        assert deal.create_pool().status_code == 201
        assert deal.submit(CUTOFF_A, jsonl(cn_row(i) for i in range(1, 301))).status_code == 201
    finally:
        deal.server.kill()
    before = committed_state(deal)
    big = jsonl(cn_row(i) for i in range(1, 25_001))
    path = f"/platform/pools/{POOL}/cutoffs/{CUTOFF_B}/tapes"
    for delay in (0.3, 0.9, 1.8):
        deal.server.start()
        sender = threading.Thread(
            target=_send_raw,
            args=(deal.server.port, path, deal.tape_headers(CUTOFF_B, big), big),
            daemon=True,
        )
        sender.start()
        time.sleep(delay)
        deal.server.kill()
        assert integrity_check(deal.inst.db_path) == "ok"
        after = committed_state(deal)
        loans_b = deal.rows("SELECT COUNT(*) FROM tapes WHERE cutoff_date = ?", CUTOFF_B)[0][0]
        if loans_b == 0:
            assert after == before, f"a tape killed after {delay}s left something behind"
        else:  # the kill came after the commit: then the whole tape is there
            assert deal.rows("SELECT row_count FROM tapes WHERE cutoff_date = ?", CUTOFF_B) == [(25_000,)]
            assert deal.rows("SELECT COUNT(*) FROM loans") == [(25_300,)]
            assert committed_state(deal, CUTOFF_A) == before
    deal.server.start()
    try:
        again = deal.submit(CUTOFF_B, big)
    finally:
        deal.server.kill()
    assert again.status_code in (200, 201), again.text[:300]
    assert again.json()["rows"] == 25_000
    assert committed_state(deal, CUTOFF_A) == before  # tape A untouched by everything above
    assert deal.rows("SELECT COUNT(*) FROM loans")[0][0] == 25_300
    assert integrity_check(deal.inst.db_path) == "ok"


def _wait(predicate: Any, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_repeated_sigkills_during_sealing_resume_to_a_verifying_snapshot(tmp_path: Path) -> None:
    deal = Deal(tmp_path / "inst", POOLPROOF_SEAL_WORKERS="0", POOLPROOF_SEAL_CHUNK_LOG2="3")
    deal.server.start()
    try:
        assert deal.create_pool().status_code == 201
        assert deal.submit(CUTOFF_A, jsonl(cn_row(i) for i in range(1, 49))).status_code == 201
        before = committed_state(deal)
        job = requests.post(
            f"{deal.server.url}/platform/pools/{POOL}/cutoffs/{CUTOFF_A}/seal", headers=deal.h(), timeout=60
        ).json()
        job_id = job["job_id"]

        def done() -> int:
            return int(deal.rows("SELECT leaves_done FROM seal_jobs WHERE id = ?", job_id)[0][0])

        for threshold in (8, 24):
            _wait(lambda t=threshold: done() >= t)
            deal.server.kill()
            assert integrity_check(deal.inst.db_path) == "ok"
            assert deal.rows("SELECT state FROM seal_jobs WHERE id = ?", job_id) == [("running",)]
            assert deal.rows("SELECT COUNT(*) FROM sealed_snapshots") == [(0,)], (
                "half-sealed snapshot visible"
            )
            assert committed_state(deal) == before
            deal.server.start()  # resumes the running job
            r = requests.get(
                f"{deal.server.url}/platform/pools/{POOL}/snapshots/{CUTOFF_A}/header",
                headers=deal.h(),
                timeout=30,
            )
            assert r.status_code in (200, 404)
        _wait(lambda: deal.rows("SELECT state FROM seal_jobs WHERE id = ?", job_id)[0][0] != "running")
        bundle = requests.get(
            f"{deal.server.url}/platform/pools/{POOL}/snapshots/{CUTOFF_A}/bundle",
            headers=deal.h(),
            timeout=120,
        )
    finally:
        deal.server.kill()
    assert deal.rows("SELECT state FROM seal_jobs WHERE id = ?", job_id) == [("sealed",)]
    assert bundle.status_code == 200
    key = load_gateway_key(deal.inst.gateway_key_file).public_key()
    assert verify_snapshot(io.StringIO(bundle.text), key).leaf_count == 48
    assert committed_state(deal) == before
    assert integrity_check(deal.inst.db_path) == "ok"


# --- key rotation -----------------------------------------------------------------------------------------
def _poolproof(world: World, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {
        **os.environ,
        "POOLPROOF_DATABASE": str(world.inst.db_path),
        "POOLPROOF_MASTER_KEY_FILE": str(world.inst.master_key_file),
    }
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def rotating_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("rotation"))


def _serves_every_pool(world: World) -> int:
    """Status of a regulator loan read on every pool through a fresh app (a restarted server)."""
    app = create_app(world.inst.config(RATE_LIMIT_PER_SECOND=0))
    client = app.test_client()
    codes = {
        client.get(
            f"/regulator/pools/{p}/cutoffs/2024-06-30/loans", headers=bearer(world.keys["regulator"])
        ).status_code
        for (p,) in _pools(world)
    }
    assert len(codes) == 1, codes
    return codes.pop()


def _pools(world: World) -> list[tuple[str]]:
    db = connect(world.inst.db_path)
    try:
        return db.conn.execute("SELECT id FROM pools").fetchall()
    finally:
        db.conn.close()


@pytest.mark.parametrize("point", ["master.after_new_key", "master.after_rewrap", "master.after_retire"])
def test_a_master_key_rotation_killed_at_any_step_is_finished_by_running_it_again(
    rotating_world: World, point: str
) -> None:
    w = rotating_world
    before = load_master_key(key_file=w.inst.master_key_file)
    crashed = _poolproof(w, "keys", "rotate-master", fault=point)
    assert crashed.returncode == -9, crashed.stderr
    assert integrity_check(w.inst.db_path) == "ok"
    # Between the re-wrap and the rename the server refuses cleanly (503); otherwise it serves.
    assert _serves_every_pool(w) == (503 if point != "master.after_new_key" else 200)
    again = _poolproof(w, "keys", "rotate-master")
    assert again.returncode == 0, again.stderr
    after = load_master_key(key_file=w.inst.master_key_file)
    assert after != before
    db = connect(w.inst.db_path)
    try:
        for pool_id, wrapped in db.conn.execute("SELECT id, wrapped_key FROM pools"):
            unwrap_data_key(after, pool_id, wrapped)
    finally:
        db.conn.close()
    assert not w.inst.master_key_file.with_name("master.key.next").exists()
    assert _serves_every_pool(w) == 200


@pytest.mark.parametrize("point", ["gateway.after_new_key", "gateway.after_history"])
def test_a_gateway_key_rotation_killed_at_any_step_is_finished_by_running_it_again(
    rotating_world: World, point: str
) -> None:
    w = rotating_world
    header = (
        create_app(w.inst.config(RATE_LIMIT_PER_SECOND=0))
        .test_client()
        .get(f"/auditor/pools/{POOL}/snapshots/2024-06-30/header", headers=bearer(w.keys["auditor"]))
        .get_json()
    )
    old_id = key_id(load_gateway_key(w.inst.gateway_key_file).public_key())
    crashed = _poolproof(w, "keys", "rotate-gateway", fault=point)
    assert crashed.returncode == -9, crashed.stderr
    # The key file still holds a key the history knows: the server keeps signing verifiably.
    current = load_gateway_key(w.inst.gateway_key_file).public_key()
    assert key_id(current) == old_id
    again = _poolproof(w, "keys", "rotate-gateway")
    assert again.returncode == 0, again.stderr
    new = load_gateway_key(w.inst.gateway_key_file).public_key()
    assert key_id(new) != old_id
    import json

    doc = json.loads(history_path(w.inst.gateway_key_file).read_text())
    keys = verify_key_history(doc, genesis_key(doc), current=new)
    assert [k.key_id for k in keys][-2:] == [old_id, key_id(new)]
    assert len({k.key_id for k in keys}) == len(keys)
    verify_header(header, header_public_key(w.inst.gateway_key_file, header))
