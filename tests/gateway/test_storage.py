"""Storage: migrations, key wrapping, sealed loan blobs, API keys."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import sqlite_utils
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.keys.keyring import (
    KeyringError,
    PoolKeys,
    load_master_key,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from gateway.storage import db as storage_db
from gateway.storage.db import MIGRATIONS, connect, migrate, schema_version
from gateway.storage.records import authenticate, create_pool, hash_api_key, table_digest
from gateway.storage.witnesses import list_witnesses, register_witness

from .helpers import make_instance


def test_migrations_apply_once_and_record_the_version(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db")
    assert schema_version(db) == 0
    assert migrate(db) == MIGRATIONS[-1][0]
    assert migrate(db) == MIGRATIONS[-1][0]
    assert db.conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_data_key_unwraps_only_for_its_pool_and_master_key() -> None:
    master, other = b"m" * 32, b"o" * 32
    dk = new_data_key()
    wrapped = wrap_data_key(master, "P1", dk)
    assert unwrap_data_key(master, "P1", wrapped) == dk
    with pytest.raises(KeyringError):
        unwrap_data_key(master, "P2", wrapped)
    with pytest.raises(KeyringError):
        unwrap_data_key(other, "P1", wrapped)


def test_sealed_blob_is_bound_to_pool_cutoff_and_row() -> None:
    keys = PoolKeys.from_data_key("P1", new_data_key())
    ref = (7 << 32) | 1
    blob = keys.encrypt(b'{"id_number":"x"}', "2024-06-30", ref)
    assert keys.decrypt(blob, "2024-06-30", ref) == b'{"id_number":"x"}'
    for cutoff, other_ref in (("2024-07-31", ref), ("2024-06-30", ref + 1), ("2024-06-30", (8 << 32) | 1)):
        with pytest.raises(InvalidTag):
            keys.decrypt(blob, cutoff, other_ref)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(InvalidTag):
        keys.decrypt(tampered, "2024-06-30", ref)
    moved = PoolKeys.from_data_key("P2", new_data_key())
    with pytest.raises(InvalidTag):
        moved.decrypt(blob, "2024-06-30", ref)


def test_master_key_sources(tmp_path: Path) -> None:
    raw = b"k" * 32
    assert load_master_key(key=base64.b64encode(raw).decode()) == raw
    with pytest.raises(KeyringError, match="32 bytes"):
        load_master_key(key=base64.b64encode(b"short").decode())
    with pytest.raises(KeyringError, match="no master key"):
        load_master_key()
    with pytest.raises(KeyringError, match="cannot read"):
        load_master_key(key_file=tmp_path / "missing.key")


def test_master_key_is_never_in_the_database(tmp_path: Path) -> None:
    inst = make_instance(tmp_path)
    inst.add_platform("plat1")
    db = inst.db()
    create_pool(db, inst.master(), "P1", "plat1", CN_CONSUMER)
    db.conn.close()
    data = b"".join(p.read_bytes() for p in tmp_path.glob("poolproof.db*"))
    assert inst.master() not in data
    assert base64.b64encode(inst.master()) not in data


def test_api_keys_are_stored_hashed_and_checked(tmp_path: Path) -> None:
    inst = make_instance(tmp_path)
    key = inst.add_party("aud", "auditor")
    db = inst.db()
    stored = [r[0] for r in db.conn.execute("SELECT key_hash FROM api_keys")]
    assert hash_api_key(key) in stored
    assert key not in stored
    p = authenticate(db, key)
    assert p is not None
    assert p.party is not None
    assert p.party.role == "auditor"
    assert authenticate(db, key + "x") is None
    admin = authenticate(db, inst.admin_key)
    assert admin is not None
    assert admin.is_admin


def test_snapshot_loans_decrypts_every_loan_in_order(tmp_path: Path) -> None:
    import io

    from gateway.ingest.pipeline import ingest_tape
    from gateway.storage.records import get_pool, mark_sealed, pool_keys, snapshot_loans, snapshot_status

    from .helpers import CUTOFF, cn_row, jsonl

    inst = make_instance(tmp_path)
    inst.add_platform("plat1")
    db = inst.db()
    create_pool(db, inst.master(), "P1", "plat1", CN_CONSUMER)
    rows = [cn_row(i) for i in range(1, 12)]
    ingest_tape(
        db,
        get_pool(db, "P1"),
        pool_keys(db, inst.master(), "P1"),
        CUTOFF,
        io.BytesIO(jsonl(rows)),
        "jsonl",
        submitted_by="t",
        max_bytes=10**7,
    )
    tape, loans = snapshot_loans(db, inst.master(), "P1", CUTOFF)
    got = list(loans)
    assert tape.row_count == 11
    assert [g.index for g in got] == list(range(1, 12))
    for g, r in zip(got, rows, strict=True):
        assert {k: v for k, v in g.record.items() if k in r} == {k: v for k, v in r.items() if v is not None}
        assert g.record["dpd_bucket"] == "M0"
        assert g.record["pool_id"] == "P1"
    assert mark_sealed(db, "P1", CUTOFF) == tape.id
    assert snapshot_status(db, "P1", CUTOFF) == ("sealed", tape.id)


def _database_at_version_4(path: Path, monkeypatch: pytest.MonkeyPatch) -> sqlite_utils.Database:
    db = connect(path)
    with monkeypatch.context() as m:
        m.setattr(storage_db, "MIGRATIONS", [mig for mig in MIGRATIONS if mig[0] <= 4])
        assert migrate(db) == 4
    return db


def test_a_version_4_database_upgrades_to_the_tables_it_used_to_create_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _database_at_version_4(tmp_path / "v4.db", monkeypatch)
    assert "witnesses" not in db.table_names()
    assert migrate(db) == MIGRATIONS[-1][0] >= 5
    assert {"disclosure_ledger", "disclosure_tables", "witnesses", "witness_cosignatures"} <= set(
        db.table_names()
    )
    assert list_witnesses(db) == []


def test_a_version_4_database_keeps_the_rows_of_tables_made_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _database_at_version_4(tmp_path / "v4.db", monkeypatch)
    # What version 4 code created on first use, with a row in each.
    db.conn.execute("CREATE TABLE disclosure_ledger (pool_id TEXT PRIMARY KEY, state TEXT NOT NULL)")
    db.conn.execute(
        "CREATE TABLE disclosure_tables (pool_id TEXT NOT NULL, snapshot_id TEXT NOT NULL, "
        "report_id TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (pool_id, snapshot_id, report_id))"
    )
    db.conn.execute(
        "CREATE TABLE witnesses (key_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
        "public_key BLOB NOT NULL, registered_at TEXT NOT NULL)"
    )
    db.conn.execute(
        "CREATE TABLE witness_cosignatures (snapshot_id TEXT NOT NULL, "
        "key_id TEXT NOT NULL REFERENCES witnesses(key_id), cosignature TEXT NOT NULL, "
        "received_at TEXT NOT NULL, PRIMARY KEY (snapshot_id, key_id))"
    )
    witness = register_witness(db, "auditor-1", Ed25519PrivateKey.generate().public_key())
    db.conn.execute("INSERT INTO disclosure_ledger (pool_id, state) VALUES ('P1', '{}')")
    before = table_digest(db)
    assert migrate(db) == MIGRATIONS[-1][0]
    after = table_digest(db)
    for name in ("disclosure_ledger", "disclosure_tables", "witnesses", "witness_cosignatures"):
        assert after[name] == before[name]
    assert [w.key_id for w in list_witnesses(db)] == [witness.key_id]


def test_tapes_stored_before_tape_schema_versions_are_marked_v1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = connect(tmp_path / "v5.db")
    with monkeypatch.context() as m:
        m.setattr(storage_db, "MIGRATIONS", [mig for mig in MIGRATIONS if mig[0] <= 5])
        assert migrate(db) == 5
    db.conn.execute("PRAGMA foreign_keys = OFF")
    row = "(?, 'P', '2024-01-31', 'current', 'sha', NULL, 'jsonl', 1, 1, 0, 'plat', 't', NULL, NULL, ?, "
    row += "'{}', '{}')"
    db.conn.execute(f"INSERT INTO tapes VALUES {row}", (1, '{"rows": 1}'))
    db.conn.execute(f"INSERT INTO tapes VALUES {row}", (2, '{"rows": 1, "tape_schema": "poolproof/tape/v2"}'))
    db.conn.commit()
    assert migrate(db) == MIGRATIONS[-1][0] >= 6
    stats = dict(db.conn.execute("SELECT id, stats FROM tapes ORDER BY id").fetchall())
    assert json.loads(stats[1]) == {"rows": 1, "tape_schema": "poolproof/tape/v1"}
    assert json.loads(stats[2]) == {"rows": 1, "tape_schema": "poolproof/tape/v2"}
