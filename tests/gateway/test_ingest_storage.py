"""How an ingest writes to SQLite: exposure ids, the connection settings it borrows, deferred checkpoints."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.ingest import pipeline as ingest
from gateway.ingest.pipeline import TapeRejected, ingest_tape
from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.storage import tapes as tape_storage
from gateway.storage.db import connect
from gateway.storage.records import create_pool, get_pool, pool_keys, snapshot_loans

from .helpers import CUTOFF, Instance, cn_row, jsonl, make_instance

LATER = "2024-07-31"


@pytest.fixture
def inst(tmp_path: Path) -> Instance:
    inst = make_instance(tmp_path)
    inst.add_platform("plat1")
    db = inst.db()
    try:
        create_pool(db, inst.master(), "P1", "plat1", CN_CONSUMER)
    finally:
        db.conn.close()
    return inst


def _ingest_body(inst: Instance, db: Any, cutoff: str, body: bytes, workers: int = 0) -> ingest.IngestOutcome:
    """``ingest_tape`` of the JSONL ``body`` into pool P1 at ``cutoff``."""
    return ingest_tape(
        db,
        get_pool(db, "P1"),
        pool_keys(db, inst.master(), "P1"),
        cutoff,
        io.BytesIO(body),
        "jsonl",
        submitted_by="t",
        max_bytes=10**8,
        workers=workers,
    )


def _ingest(inst: Instance, db: Any, cutoff: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return _ingest_body(inst, db, cutoff, jsonl(rows)).result


def _exposures(inst: Instance, db: Any, cutoff: str) -> dict[str, str]:
    _, loans = snapshot_loans(db, inst.master(), "P1", cutoff)
    return {loan.record["platform_loan_id"]: loan.record["exposure_id"] for loan in loans}


def test_a_known_loan_keeps_its_exposure_id_and_a_new_loan_gets_a_fresh_one(inst: Instance) -> None:
    db = inst.db()
    _ingest(inst, db, CUTOFF, [cn_row(i) for i in (1, 2, 3)])
    _ingest(inst, db, LATER, [cn_row(i) for i in (2, 3, 4, 5)])
    first, later = _exposures(inst, db, CUTOFF), _exposures(inst, db, LATER)
    assert {k: later[k] for k in ("L0000002", "L0000003")} == {k: first[k] for k in ("L0000002", "L0000003")}
    fresh = {later["L0000004"], later["L0000005"]}
    assert len(fresh) == 2
    assert not fresh & set(first.values())
    assert all(len(e) == 24 and int(e, 16) >= 0 for e in later.values())
    rows = db.conn.execute("SELECT exposure_id, first_cutoff FROM exposures ORDER BY first_cutoff").fetchall()
    assert sorted(e for e, _ in rows) == sorted(set(first.values()) | fresh)
    assert [c for _, c in rows] == [CUTOFF] * 3 + [LATER] * 2


def test_exposure_ids_of_one_tape_are_distinct(inst: Instance) -> None:
    db = inst.db()
    _ingest(inst, db, CUTOFF, [cn_row(i) for i in range(1, 301)])
    assert len(set(_exposures(inst, db, CUTOFF).values())) == 300


def _settings(db: Any) -> tuple[int, int]:
    return (
        db.conn.execute("PRAGMA cache_size").fetchone()[0],
        db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0],
    )


def _loans_in_main_file(db_path: Path, tmp: Path) -> int:
    """Loans readable from the database file alone (what a checkpoint has copied out of the WAL)."""
    copy = tmp / "main-only.db"
    shutil.copyfile(db_path, copy)
    conn = sqlite3.connect(copy)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM loans").fetchone()[0])
    finally:
        conn.close()


def test_a_large_tape_is_checkpointed_after_the_answer(
    inst: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "BACKGROUND_CHECKPOINT_ROWS", 20)
    started: list[threading.Thread | None] = []
    real = ingest.checkpoint_in_background

    def record(db: Any) -> threading.Thread | None:
        started.append(real(db))
        return started[-1]

    monkeypatch.setattr(ingest, "checkpoint_in_background", record)
    db = inst.db()
    before = _settings(db)
    _ingest(inst, db, CUTOFF, [cn_row(i) for i in range(1, 20)])
    assert started == []  # below the threshold the commit checkpoints as usual
    _ingest(inst, db, LATER, [cn_row(i) for i in range(1, 31)])
    assert len(started) == 1
    assert started[0] is not None
    started[0].join(timeout=30)
    assert not started[0].is_alive()
    # The request's connection is still open, so only the background checkpoint can have copied the pages.
    assert _loans_in_main_file(inst.db_path, tmp_path) == 19 + 30
    assert _settings(db) == before


def test_a_rejected_tape_restores_the_connection_settings(inst: Instance) -> None:
    db = inst.db()
    before = _settings(db)
    with pytest.raises(TapeRejected):
        _ingest(inst, db, CUTOFF, [cn_row(1), cn_row(2, term_months=-1)])
    assert _settings(db) == before
    assert db.conn.execute("SELECT COUNT(*) FROM loans").fetchone()[0] == 0
    assert not db.conn.in_transaction


def test_an_explicit_cache_setting_is_kept_during_an_ingest(
    inst: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POOLPROOF_SQLITE_CACHE_KIB", "256")
    seen: list[int] = []
    real_store = ingest._store

    def spy(conn: sqlite3.Connection, res: Any, has_prior: bool) -> None:
        seen.append(conn.execute("PRAGMA cache_size").fetchone()[0])
        real_store(conn, res, has_prior)

    monkeypatch.setattr(ingest, "_store", spy)
    db = connect(inst.db_path)
    _ingest(inst, db, CUTOFF, [cn_row(1)])
    assert seen == [-256]
    monkeypatch.delenv("POOLPROOF_SQLITE_CACHE_KIB")
    seen.clear()
    _ingest(inst, db, LATER, [cn_row(1)])
    assert seen == [-ingest.INGEST_CACHE_KIB]


def test_a_checkpoint_that_cannot_start_does_not_fail_a_committed_tape(
    inst: Instance, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ingest, "BACKGROUND_CHECKPOINT_ROWS", 2)

    def refuse(path: Any) -> Any:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(tape_storage, "connect", refuse)
    db = inst.db()
    result = _ingest(inst, db, CUTOFF, [cn_row(i) for i in range(1, 4)])
    assert result["rows"] == 3
    assert db.conn.execute("SELECT COUNT(*) FROM loans").fetchone()[0] == 3
    assert "background WAL checkpoint" in caplog.text


def _tape_with_blank_lines(n: int, bad: int | None = None) -> tuple[bytes, dict[int, int]]:
    """A JSONL tape of ``n`` loans with a blank line after every fourth; loan number -> its line."""
    lines: list[str] = []
    line_of: dict[int, int] = {}
    for i in range(1, n + 1):
        row = cn_row(i, term_months=0) if i == bad else cn_row(i)
        lines.append(json.dumps(row, ensure_ascii=False))
        line_of[i] = len(lines)
        if i % 4 == 0:
            lines.append("   ")
    return ("\n".join(lines) + "\n").encode(), line_of


@pytest.mark.parametrize("workers", [0, 2])
def test_errors_name_the_jsonl_line_across_batches_and_worker_processes(
    inst: Instance, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(ingest, "BATCH_ROWS", 5)
    body, line_of = _tape_with_blank_lines(30, bad=23)
    db = inst.db()
    with pytest.raises(TapeRejected) as exc:
        _ingest_body(inst, db, CUTOFF, body, workers)
    errors = [(e.row, e.field, e.rule) for e in exc.value.report.errors]
    assert errors == [(line_of[23], "term_months", "range")]
    assert line_of[23] == 28  # five blank lines before it


@pytest.mark.parametrize("workers", [0, 2])
def test_loan_indexes_are_consecutive_whatever_the_blank_lines(
    inst: Instance, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(ingest, "BATCH_ROWS", 5)
    body, _ = _tape_with_blank_lines(30)
    db = inst.db()
    _ingest_body(inst, db, CUTOFF, body, workers)
    _, loans = snapshot_loans(db, inst.master(), "P1", CUTOFF)
    assert [(loan.index, loan.record["platform_loan_id"]) for loan in loans] == [
        (i, f"L{i:07d}") for i in range(1, 31)
    ]


def _row_counts(db: Any) -> list[int]:
    tables = ("tapes", "loans", "exposures")
    return [db.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables]


def test_the_same_tape_read_again_without_a_declared_hash_answers_the_first_result_and_stores_nothing(
    inst: Instance,
) -> None:
    db = inst.db()
    rows = [cn_row(i) for i in (1, 2, 3)]

    def submit() -> ingest.IngestOutcome:
        return _ingest_body(inst, db, CUTOFF, jsonl(rows))

    first = submit()
    counts = _row_counts(db)
    again = submit()
    assert not first.replayed
    assert again.replayed
    assert again.result == first.result
    assert _row_counts(db) == counts
    assert not db.conn.in_transaction
