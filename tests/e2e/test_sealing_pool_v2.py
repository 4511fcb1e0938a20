"""The gateway seals a tape schema v2 tape under the pool statement v2 (``POOLPROOF_SEAL_LANE_SET=pool-v2``).

The pool's own lane set follows from its settings (widths and cap: ``statement_lane_set``); the stored
snapshot passes the auditor's full check with ``proofs/`` alone; a borrower's inclusion bundle opens
their loan's state, balance and flows; and a tape without period flows is refused with a reason.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.access.admin import create_party
from gateway.ingest.pipeline import ingest_tape, iter_rows_as_jsonl
from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.keys.gateway_key import load_gateway_key
from gateway.keys.keyring import load_master_key
from gateway.loan_facts import loan_facts, statement_lane_set
from gateway.snapshots.demo import init_instance
from gateway.snapshots.seal_jobs import SealError, SealSettings, run_seal_job, start_seal_job
from gateway.snapshots.sealed import get_snapshot, inclusion_bundle, lane_totals, stream_snapshot_bundle
from gateway.storage.db import connect
from gateway.storage.records import create_pool, get_tape, iter_loans, pool_keys, snapshot_status
from gateway.synth import generate_tape, monthly_cutoff
from proofs.inclusion import verify_inclusion_bundle
from proofs.snapshot import verify_snapshot

FIRST = date(2024, 1, 31)
SETTINGS = SealSettings(chunk_log2=4, workers=0, lane_set="pool-v2")


@pytest.fixture
def local(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An instance with one 40-loan pool whose month-7 tape carries period flows."""
    inst = init_instance(tmp_path / "inst")
    master = load_master_key(key_file=inst.master_key_file)
    db = connect(inst.db_path)
    create_party(db, "plat", "platform", public_key=b"\x01" * 32)
    pool = create_pool(db, master, "P1", "plat", CN_CONSUMER)
    cutoff = monthly_cutoff(FIRST, 7).isoformat()
    rows = generate_tape(40, seed=5, cutoff=FIRST, pool_id="P1", month=7)
    body = io.BytesIO(b"".join(iter_rows_as_jsonl(rows)))
    ingest_tape(
        db, pool, pool_keys(db, master, "P1"), cutoff, body, "jsonl", submitted_by="plat", max_bytes=1 << 30
    )
    yield {
        "inst": inst,
        "db": db,
        "master": master,
        "cutoff": cutoff,
        "gkey": load_gateway_key(inst.gateway_key_file),
    }
    db.conn.close()


def test_a_v2_tape_is_sealed_under_the_pools_statement_and_audits(local: dict[str, Any]) -> None:
    db, master, cutoff, inst = local["db"], local["master"], local["cutoff"], local["inst"]
    job, _ = start_seal_job(db, master, "P1", cutoff, SETTINGS)
    lanes = statement_lane_set(CN_CONSUMER)
    assert job.params.lane_set == lanes.name
    done = run_seal_job(inst.db_path, master, local["gkey"], "v", job.id, workers=0)
    assert done.state == "sealed", done
    snap = get_snapshot(db, "P1", cutoff)
    text = "".join(stream_snapshot_bundle(db, snap))
    header = verify_snapshot(io.StringIO(text), local["gkey"].public_key())
    assert header.lanes == lanes
    keys = pool_keys(db, master, "P1")
    records = [s.record for s in iter_loans(db, keys, get_tape(db, job.tape_id))]
    facts = [loan_facts(r, CN_CONSUMER) for r in records]
    totals = dict(zip(lanes.lanes, lane_totals(keys, snap)[0], strict=True))
    assert lanes.metric_value("outstanding_balance", totals) == sum(f.balance for f in facts)
    assert lanes.metric_value("loan_count", totals) == len(facts)
    for index in (0, 17, 39):
        bundle = inclusion_bundle(db, keys, snap, records[index], index + 1)
        verified = verify_inclusion_bundle(bundle, local["gkey"].public_key())
        assert verified.facts is not None
        assert (verified.facts.state, verified.facts.balance, verified.facts.flows) == (
            facts[index].state,
            facts[index].balance,
            facts[index].flows,
        )


def test_a_tape_without_period_flows_is_refused_under_pool_v2(tmp_path: Path) -> None:
    inst = init_instance(tmp_path / "inst")
    master = load_master_key(key_file=inst.master_key_file)
    db = connect(inst.db_path)
    try:
        create_party(db, "plat", "platform", public_key=b"\x01" * 32)
        pool = create_pool(db, master, "P1", "plat", CN_CONSUMER)
        cutoff = monthly_cutoff(FIRST, 2).isoformat()
        rows = [
            {k: v for k, v in row.items() if not k.startswith("period_")}
            for row in generate_tape(12, seed=5, cutoff=FIRST, pool_id="P1", month=2)
        ]
        body = io.BytesIO(b"".join(iter_rows_as_jsonl(rows)))
        ingest_tape(
            db,
            pool,
            pool_keys(db, master, "P1"),
            cutoff,
            body,
            "jsonl",
            submitted_by="plat",
            max_bytes=1 << 30,
        )
        with pytest.raises(SealError, match=r"carries no period flows \(seal it under dpd5-v3\)"):
            start_seal_job(db, master, "P1", cutoff, SETTINGS)
        assert snapshot_status(db, "P1", cutoff)[0] == "open"
    finally:
        db.conn.close()
