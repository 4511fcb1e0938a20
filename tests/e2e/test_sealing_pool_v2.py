"""The gateway seals a tape schema v2 tape under the pool statement v2 (``POOLPROOF_SEAL_LANE_SET=pool-v2``).

The pool's own lane set follows from its settings (widths and cap: ``statement_lane_set``); the stored
snapshot passes the auditor's full check with ``proofs/`` alone; a borrower's inclusion bundle opens
their loan's state, balance and flows; and a tape without period flows is refused with a reason.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.loan_facts import loan_facts, statement_lane_set
from gateway.snapshots.seal_jobs import SealError, SealSettings, run_seal_job, start_seal_job
from gateway.snapshots.sealed import get_snapshot, inclusion_bundle, lane_totals, stream_snapshot_bundle
from gateway.storage.records import get_tape, iter_loans, pool_keys, snapshot_status
from gateway.synth import generate_tape
from proofs.inclusion import verify_inclusion_bundle
from proofs.snapshot import verify_snapshot

from .seal_util import FIRST, open_instance

SETTINGS = SealSettings(chunk_log2=4, workers=0, lane_set="pool-v2")


@pytest.fixture
def local(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An instance with one 40-loan pool whose month-7 tape carries period flows."""
    opened = open_instance(tmp_path, 7)
    yield opened
    opened["db"].conn.close()


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
    rows = [
        {k: v for k, v in row.items() if not k.startswith("period_")}
        for row in generate_tape(12, seed=5, cutoff=FIRST, pool_id="P1", month=2)
    ]
    opened = open_instance(tmp_path, 2, rows=rows)
    db, master, cutoff = opened["db"], opened["master"], opened["cutoff"]
    try:
        with pytest.raises(SealError, match=r"carries no period flows \(seal it under dpd5-v3\)"):
            start_seal_job(db, master, "P1", cutoff, SETTINGS)
        assert snapshot_status(db, "P1", cutoff)[0] == "open"
    finally:
        db.conn.close()
