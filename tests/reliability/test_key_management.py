"""Key management: file permissions, master and gateway key rotation, the key history, backup/restore."""

from __future__ import annotations

import io
import stat
from pathlib import Path
from typing import Any

import pytest

from gateway import create_app
from gateway.keys.backup import backup, integrity_check, restore
from gateway.keys.gateway_key import load_gateway_key
from gateway.keys.key_files import KeyManagementError
from gateway.keys.keyring import KeyringError, load_master_key, unwrap_data_key
from gateway.keys.rotation import (
    header_public_key,
    history_path,
    load_history,
    revoke_gateway_key,
    rotate_gateway_key,
    rotate_master_key,
)
from gateway.storage.db import connect
from proofs.errors import VerificationError
from proofs.key_history import key_by_id, verify_key_history
from proofs.signing import key_id, parse_public_key
from proofs.snapshot import verify_header, verify_snapshot
from tests.gateway.helpers import CUTOFF, cn_row, jsonl
from tests.security.world import CLAIM, POOL, World, bearer, build_world, nonce

NEXT_CUTOFF = "2024-07-31"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path / "inst")


def key_files(w: World) -> list[Path]:
    return [w.inst.master_key_file, w.inst.gateway_key_file, history_path(w.inst.gateway_key_file)]


def restarted(w: World, **config: Any) -> Any:
    """A fresh app over the same instance (what a server restart does), with a test client."""
    app = create_app(
        w.inst.config(TESTING=True, SEAL_WORKERS=0, SEAL_CHUNK_LOG2=4, RATE_LIMIT_PER_SECOND=0, **config)
    )
    return app.test_client()


def seal(client: Any, w: World, cutoff: str) -> None:
    import time

    rows = [cn_row(i, current_principal_fen=300_000 + i) for i in range(1, 9)]
    body = jsonl(rows)
    r = client.post(
        f"/platform/pools/{POOL}/cutoffs/{cutoff}/tapes",
        data=body,
        headers={**bearer(w.keys["platform"]), **w.signed_tape_headers(body, cutoff=cutoff)},
    )
    assert r.status_code == 201, r.get_json()
    job = client.post(
        f"/platform/pools/{POOL}/cutoffs/{cutoff}/seal", headers=bearer(w.keys["platform"])
    ).get_json()
    for _ in range(600):
        state = client.get(
            f"/platform/pools/{POOL}/jobs/{job['job_id']}", headers=bearer(w.keys["platform"])
        ).get_json()
        if state["state"] != "running":
            break
        time.sleep(0.1)
    assert state["state"] == "sealed", state


def header_of(client: Any, w: World, cutoff: str) -> dict[str, Any]:
    r = client.get(f"/auditor/pools/{POOL}/snapshots/{cutoff}/header", headers=bearer(w.keys["auditor"]))
    assert r.status_code == 200, r.get_json()
    doc: dict[str, Any] = r.get_json()
    return doc


def signer_id(header: dict[str, Any]) -> str:
    return str(header["signatures"][0]["key_id"])


# --- permissions ------------------------------------------------------------------------------------------
def test_key_files_are_owner_only(world: World) -> None:
    assert mode(world.inst.master_key_file) == 0o600
    assert mode(world.inst.gateway_key_file) == 0o600
    rotate_master_key(world.inst.db_path, world.inst.master_key_file)
    rotate_gateway_key(world.inst.gateway_key_file)
    assert mode(world.inst.master_key_file) == 0o600
    assert mode(world.inst.gateway_key_file) == 0o600
    retired = list(world.inst.root.glob("master.key.retired-*"))
    assert len(retired) == 1
    assert mode(retired[0]) == 0o600
    assert mode(history_path(world.inst.gateway_key_file)) == 0o644  # public keys only


# --- master key -------------------------------------------------------------------------------------------
def test_master_key_rotation_rewraps_every_pool_and_the_data_stays_readable(world: World) -> None:
    old = load_master_key(key_file=world.inst.master_key_file)
    db = connect(world.inst.db_path)
    loans_before = db.conn.execute("SELECT id, plain, sealed FROM loans ORDER BY id").fetchall()
    db.conn.close()
    done = rotate_master_key(world.inst.db_path, world.inst.master_key_file)
    assert done.pools_rewrapped >= 1
    assert done.pools_already_new == 0
    new = load_master_key(key_file=world.inst.master_key_file)
    assert new != old
    db = connect(world.inst.db_path)
    try:
        for pool_id, wrapped in db.conn.execute("SELECT id, wrapped_key FROM pools"):
            unwrap_data_key(new, pool_id, wrapped)
            with pytest.raises(KeyringError):
                unwrap_data_key(old, pool_id, wrapped)
        # Data keys did not change, so no loan needed re-encryption.
        assert db.conn.execute("SELECT id, plain, sealed FROM loans ORDER BY id").fetchall() == loans_before
    finally:
        db.conn.close()
    assert integrity_check(world.inst.db_path) == "ok"
    client = restarted(world)
    page = client.get(
        f"/regulator/pools/{POOL}/cutoffs/{CUTOFF}/loans", headers=bearer(world.keys["regulator"])
    )
    assert page.status_code == 200
    assert len(page.get_json()["loans"]) == len(world.rows)
    claim = client.post(
        f"/trustee/pools/{POOL}/snapshots/{CUTOFF}/claims",
        json={"statement": CLAIM, "nonce": nonce()},
        headers=bearer(world.keys["trustee"]),
    )
    assert claim.status_code == 200, claim.get_json()


def test_a_server_with_the_wrong_master_key_refuses_cleanly(world: World, tmp_path: Path) -> None:
    from gateway.keys.keyring import generate_master_key_file

    wrong = generate_master_key_file(tmp_path / "wrong.key")
    client = restarted(world, MASTER_KEY_FILE=str(wrong))
    page = client.get(
        f"/regulator/pools/{POOL}/cutoffs/{CUTOFF}/loans", headers=bearer(world.keys["regulator"])
    )
    assert page.status_code == 503
    assert page.headers["Retry-After"]


# --- gateway key ------------------------------------------------------------------------------------------
def test_gateway_key_rotation_keeps_old_snapshots_verifiable_through_the_history(world: World) -> None:
    old_public = load_gateway_key(world.inst.gateway_key_file).public_key()
    old_header = header_of(world.client, world, CUTOFF)
    old_bundle = world.client.get(
        f"/auditor/pools/{POOL}/snapshots/{CUTOFF}/bundle", headers=bearer(world.keys["auditor"])
    ).get_data(as_text=True)
    done = rotate_gateway_key(world.inst.gateway_key_file)
    assert done.old_key_id == key_id(old_public)
    client = restarted(world)
    served = client.get("/public/gateway-key").get_json()
    assert served["key_id"] == done.new_key_id != done.old_key_id
    seal(client, world, NEXT_CUTOFF)
    new_header = header_of(client, world, NEXT_CUTOFF)
    assert signer_id(new_header) == done.new_key_id
    # A verifier who pinned the gateway key at onboarding (obtained out of band) checks the
    # published history forward from it, and that it ends at the key the gateway serves now ...
    trusted = parse_public_key(served["public_key_hex"])
    history = client.get("/public/gateway-key-history").get_json()
    keys = verify_key_history(history, old_public, current=trusted)
    assert [k.key_id for k in keys] == [done.old_key_id, done.new_key_id]
    # (one who pinned only the new key is not vouched any older key: trust runs forward only)
    with pytest.raises(VerificationError, match="vouched for from your anchor"):
        key_by_id(verify_key_history(history, trusted), done.old_key_id)
    # ... and so verifies both snapshots, each under the key its header names.
    verify_header(new_header, key_by_id(keys, signer_id(new_header)))
    old_key = key_by_id(keys, signer_id(old_header))
    verify_header(old_header, old_key)
    verify_snapshot(io.StringIO(old_bundle), old_key)
    with pytest.raises(VerificationError):
        verify_header(old_header, trusted)  # the new key never signed the old header
    assert header_of(client, world, CUTOFF) == old_header  # the stored header is unchanged


# --- backup and restore -----------------------------------------------------------------------------------
def test_a_restored_backup_serves_and_verifies_the_same_snapshots(world: World, tmp_path: Path) -> None:
    load_history(world.inst.gateway_key_file)
    stats = world.client.get(
        f"/trustee/pools/{POOL}/cutoffs/{CUTOFF}/stats", headers=bearer(world.keys["trustee"])
    )
    assert stats.status_code == 200  # one decision-log entry, so there is a log to back up
    manifest = backup(world.inst.db_path, tmp_path / "backup", key_files(world))
    assert set(manifest["files"]) >= {
        "poolproof.db",
        "poolproof-decisions.db",
        "keys/master.key",
        "keys/gateway.key",
    }
    for name, info in manifest["files"].items():
        if info["kind"] == "key":
            assert mode(tmp_path / "backup" / name) == 0o600
    target = tmp_path / "restored"
    written = restore(tmp_path / "backup", target / "poolproof.db", target)
    assert target / "poolproof.db" in written
    assert integrity_check(target / "poolproof.db") == "ok"
    assert mode(target / "master.key") == 0o600
    app = create_app(
        {
            "DATABASE": str(target / "poolproof.db"),
            "MASTER_KEY_FILE": str(target / "master.key"),
            "GATEWAY_KEY_FILE": str(target / "gateway.key"),
            "RATE_LIMIT_PER_SECOND": 0,
        }
    )
    client = app.test_client()
    original = header_of(world.client, world, CUTOFF)
    assert header_of(client, world, CUTOFF) == original
    key = parse_public_key(client.get("/public/gateway-key").get_json()["public_key_hex"])
    bundle = client.get(
        f"/auditor/pools/{POOL}/snapshots/{CUTOFF}/bundle", headers=bearer(world.keys["auditor"])
    )
    verify_snapshot(io.StringIO(bundle.get_data(as_text=True)), key)
    claim = client.post(
        f"/trustee/pools/{POOL}/snapshots/{CUTOFF}/claims",
        json={"statement": CLAIM, "nonce": nonce()},
        headers=bearer(world.keys["trustee"]),
    )
    assert claim.status_code == 200, claim.get_json()  # the restored master key opens the restored pools
    log = client.get("/admin/decision-log/verify", headers=bearer(world.keys["admin"]))
    assert log.status_code == 200
    assert log.get_json()["verified"] is True


def test_a_corrupted_backup_is_refused_and_nothing_is_written(world: World, tmp_path: Path) -> None:
    backup(world.inst.db_path, tmp_path / "backup", key_files(world))
    db_copy = tmp_path / "backup" / "poolproof.db"
    data = bytearray(db_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    db_copy.write_bytes(bytes(data))
    with pytest.raises(KeyManagementError, match=r"poolproof\.db: missing or its SHA-256 differs"):
        restore(tmp_path / "backup", tmp_path / "restored" / "poolproof.db", tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


def test_restore_does_not_overwrite_without_force(world: World, tmp_path: Path) -> None:
    backup(world.inst.db_path, tmp_path / "backup", key_files(world))
    with pytest.raises(KeyManagementError, match="refusing to overwrite"):
        restore(tmp_path / "backup", world.inst.db_path, world.inst.root)


def test_backup_and_restore_through_the_cli(world: World, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gateway.cli import cli

    env = {
        "POOLPROOF_DATABASE": str(world.inst.db_path),
        "POOLPROOF_MASTER_KEY_FILE": str(world.inst.master_key_file),
    }
    runner = CliRunner()
    out = runner.invoke(cli, ["backup", str(tmp_path / "b")], env=env)
    assert out.exit_code == 0, out.output
    assert "keys/master.key" in out.output
    restored = {
        "POOLPROOF_DATABASE": str(tmp_path / "r" / "poolproof.db"),
        "POOLPROOF_MASTER_KEY_FILE": str(tmp_path / "r" / "master.key"),
    }
    out = runner.invoke(cli, ["restore", str(tmp_path / "b")], env=restored)
    assert out.exit_code == 0, out.output
    assert (tmp_path / "r" / "gateway.key").exists()
    out = runner.invoke(cli, ["restore", str(tmp_path / "b")], env=restored)
    assert out.exit_code == 1
    assert "refusing to overwrite" in out.output


def test_the_signer_of_an_old_header_is_found_through_the_history(world: World) -> None:
    from gateway.keys.rotation import header_public_key

    old_header = header_of(world.client, world, CUTOFF)
    old_public = load_gateway_key(world.inst.gateway_key_file).public_key()
    rotate_gateway_key(world.inst.gateway_key_file)
    found = header_public_key(world.inst.gateway_key_file, old_header)
    assert key_id(found) == key_id(old_public)
    verify_header(old_header, found)


def test_a_revoked_retired_gateway_key_is_refused_for_what_it_signed(world: World) -> None:
    old_header = header_of(world.client, world, CUTOFF)
    with pytest.raises(KeyManagementError, match="cannot revoke itself"):
        revoke_gateway_key(world.inst.gateway_key_file, signer_id(old_header), "x")
    done = rotate_gateway_key(world.inst.gateway_key_file)
    assert header_public_key(world.inst.gateway_key_file, old_header)  # vouched for, not revoked
    revoked = revoke_gateway_key(world.inst.gateway_key_file, done.old_key_id, "retired key file leaked")
    assert revoked.entries_in_history == 3
    with pytest.raises(VerificationError, match="revoked"):
        header_public_key(world.inst.gateway_key_file, old_header)
    with pytest.raises(KeyManagementError, match="already revoked"):
        revoke_gateway_key(world.inst.gateway_key_file, done.old_key_id, "again")
    # The published history says so to every verifier anchored at the genesis key.
    history = restarted(world).get("/public/gateway-key-history").get_json()
    old_public = parse_public_key(history["entries"][0]["public_key"])
    keys = verify_key_history(
        history, old_public, current=load_gateway_key(world.inst.gateway_key_file).public_key()
    )
    assert [k.revoked for k in keys.keys] == [True, False]


def test_claims_on_a_snapshot_sealed_before_a_gateway_key_rotation_are_still_answered(world: World) -> None:
    rotate_gateway_key(world.inst.gateway_key_file)
    client = restarted(world)
    claim = client.post(
        f"/trustee/pools/{POOL}/snapshots/{CUTOFF}/claims",
        json={"statement": CLAIM, "nonce": nonce()},
        headers=bearer(world.keys["trustee"]),
    )
    assert claim.status_code == 200, claim.get_json()
