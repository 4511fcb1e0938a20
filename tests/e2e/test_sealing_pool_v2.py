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


class _Crash(BaseException):
    """Stands for the process dying (not an ``Exception``, so the job is not marked failed)."""


def test_the_sealed_snapshot_carries_a_stratification_table_equal_to_a_pandas_groupby(
    local: dict[str, Any],
) -> None:
    """Every cell's loan count and balance, recomputed by pandas from the stored rows under the
    docs/metrics.md cell definitions, equals what the table commits to (opened from the sealed loans'
    openings); the borrower's inclusion bundle shows the loan's cells; a crashed seal resumes to the
    identical table."""
    import pandas as pd

    from gateway.snapshots.sealed import snapshot_seed
    from gateway.storage.records import get_pool
    from proofs.group import ORDER, get_group
    from proofs.pedersen import commit
    from proofs.snapshot import loan_blindings, read_snapshot_parts
    from proofs.strata import Table

    db, master, cutoff, inst = local["db"], local["master"], local["cutoff"], local["inst"]
    job, _ = start_seal_job(db, master, "P1", cutoff, SETTINGS, seed=bytes(range(32)))

    def crash_after_chunk_0(index: int) -> None:
        if index == 0:
            raise _Crash

    with pytest.raises(_Crash):
        run_seal_job(
            inst.db_path, master, local["gkey"], "v", job.id, workers=0, after_chunk=crash_after_chunk_0
        )
    done = run_seal_job(inst.db_path, master, local["gkey"], "v", job.id, workers=0)
    assert done.state == "sealed", done
    snap = get_snapshot(db, "P1", cutoff)
    text = "".join(stream_snapshot_bundle(db, snap))
    header = verify_snapshot(io.StringIO(text), local["gkey"].public_key())
    assert header.strata is not None
    _, table_doc, _ = read_snapshot_parts(io.StringIO(text))
    group = get_group()
    lanes = header.lanes
    table = Table.from_dict(group, table_doc, len(lanes.inputs))

    keys = pool_keys(db, master, "P1")
    settings = get_pool(db, "P1").config
    records = [s.record for s in iter_loans(db, keys, get_tape(db, job.tape_id))]
    seed = snapshot_seed(db, keys, snap)
    frame = pd.DataFrame(records)
    facts = [loan_facts(r, settings) for r in records]

    # The written definitions (docs/metrics.md, "Stratification"): bands are inclusive lower edges.
    def band(edges: tuple[int, ...], v: int) -> str:
        lo = 0
        for e in edges:
            if v < e:
                return f"{lo}-{e - 1}"
            lo = e
        return f"{lo}+"

    frame["rate_band"] = [band(settings.rate_band_edges_bps, int(v)) for v in frame["nominal_rate_bps"]]
    frame["original_term"] = frame["term_months"].astype(int).astype(str)
    frame["balance_band"] = [
        band(settings.balance_band_edges_fen, int(v)) for v in frame["current_principal_fen"]
    ]
    frame["region"] = frame["region_code"].astype(str).str[:2]
    frame["vintage"] = [f"{d[:4]}-Q{(int(d[5:7]) - 1) // 3 + 1}" for d in frame["origination_date"]]
    frame["product_type"] = frame["product_type"].astype(str)
    frame["balance"] = [f.balance for f in facts]
    for dim in ("rate_band", "original_term", "balance_band", "region", "vintage", "product_type"):
        expected = frame.groupby(dim).agg(n=("balance", "size"), balance=("balance", "sum"))
        cells = {r.cell: r for r in table.rows if r.dimension == dim}
        assert sorted(cells) == sorted(str(c) for c in expected.index), dim
        for cell, row in expected.iterrows():
            stored = cells[str(cell)]
            assert stored.count == row["n"]
            members = [f for f in facts if f.labels[dim] == cell]
            # The row commits to exactly its members' packed inputs: open it with their openings.
            for j in range(len(lanes.inputs)):
                value = sum(lanes.input_values(lanes.facts_values(f))[j] for f in members)
                blinding = sum(loan_blindings(seed, f.exposure_id, lanes)[j] for f in members) % ORDER
                assert stored.sums[j] == commit(group, value, blinding)
            assert sum(f.balance for f in members) == row["balance"]

    for index in (0, 21):
        bundle = inclusion_bundle(db, keys, snap, records[index], index + 1)
        verified = verify_inclusion_bundle(bundle, local["gkey"].public_key())
        assert verified.facts is not None
        assert dict(verified.facts.labels) == dict(facts[index].labels)
