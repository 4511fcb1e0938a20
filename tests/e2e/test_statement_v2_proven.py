"""Every linear figure of the pool statement v2, *proven*, equals a plain-pandas reading of the raw tape.

The stored tape's loans are mapped to their facts (:func:`gateway.loan_facts.loan_facts`), sealed under
the pool's statement lane set (:func:`gateway.loan_facts.statement_lane_set`: widths from the pool's
per-loan cap, the cap proven per loan), the whole snapshot passes the auditor's full check
(``verify_snapshot``), and each figure is disclosed exactly with a proof that an investor's tool
verifies against the signed header. The disclosed value must equal what
:mod:`tests.reference.abs_metrics` computes from the raw file with the definitions of docs/metrics.md.
The default run seals the first loans of the Lending Club tape and a synthetic month; ``--runslow``
seals the whole Lending Club tape.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.importers.lendingclub import LENDINGCLUB_AS_OF, import_lendingclub, lendingclub_csv_path
from gateway.importers.tape_v1 import write_jsonl
from gateway.ingest.pool_settings import CN_CONSUMER, US_CONSUMER, PoolConfig
from gateway.loan_facts import loan_facts, statement_lane_set
from gateway.synth import generate_tape, monthly_cutoff
from proofs.claim_bundle import ExpectedClaim, metric_opening, prove_claim_bundle, verify_claim_answer
from proofs.claims import Disclosure
from proofs.group import get_group
from proofs.lanes import LaneSet
from proofs.snapshot import verify_header, verify_snapshot
from proofs.witness import WitnessPolicy
from tests.e2e.test_statement_v2_reference import store
from tests.reference import abs_metrics as ref
from tests.snapshot_util import Sealed, seal_in_memory

#: Lending Club loans are at most USD 40,000: the pool's per-loan cap.
LC_SETTINGS = replace(US_CONSUMER, balance_cap_fen=4_000_000)
#: Figures every run must prove (the reference names them; the statement's own helpers aside).
REQUIRED = (
    "count_M0",
    "count_DEFAULTED",
    "count_PREPAID",
    "count_WRITTEN_OFF",
    "balance_M0",
    "balance_DEFAULTED",
    "loan_count",
    "active_loan_count",
    "pool_balance",
    "outstanding_balance",
    "beginning_balance",
    "delinquent_1plus_balance",
    "delinquent_90plus_or_defaulted_balance",
    "scheduled_principal",
    "unscheduled_principal",
    "interest",
    "fees",
    "defaulted_principal",
    "written_off",
    "collections",
)


def proven_figures(sealed: Sealed, lanes: LaneSet) -> dict[str, int]:
    """Every metric of ``lanes``, disclosed with a proof and verified as an investor's tool does."""
    header = verify_snapshot(io.StringIO(sealed.bundle_text), sealed.key.public_key())
    assert header == verify_header(sealed.header, sealed.key.public_key())
    out: dict[str, int] = {}
    for metric in lanes.metrics:
        statement = Disclosure(metric)
        opening = metric_opening(
            lanes, metric, sealed.outcome.lane_value_sums, sealed.outcome.lane_blinding_sums
        )
        nonce = metric.encode().ljust(16, b".")[:32]
        doc = prove_claim_bundle(get_group(), header, statement, {metric: opening}, nonce)
        verify_claim_answer(
            doc,
            sealed.key.public_key(),
            expected=ExpectedClaim(nonce=nonce, statement=statement, header_hash=header.hash),
            witnesses=WitnessPolicy.unwitnessed(),
        )
        out[metric] = int(doc["proof"]["value"])
    return out


def seal(records: list[dict[str, object]], settings: PoolConfig) -> tuple[Sealed, LaneSet]:
    lanes = statement_lane_set(settings)
    facts = [loan_facts(r, settings) for r in records]
    return seal_in_memory(facts, chunk_log2=7, lane_set=lanes.name, ipa_rounds=2), lanes  # type: ignore[arg-type]


def assert_proven_equal_reference(proven: dict[str, int], reference: dict[str, int]) -> None:
    shared = sorted(set(proven) & set(reference))
    assert set(REQUIRED) <= set(shared)
    assert {m: proven[m] for m in shared} == {m: reference[m] for m in shared}


def _lendingclub(tmp: Path, loans: int | None) -> None:
    body = io.StringIO()
    write_jsonl(import_lendingclub(pool_id="LC"), body)
    records = store(tmp, LC_SETTINGS, LENDINGCLUB_AS_OF.isoformat(), body.getvalue().encode())
    frame = ref.lendingclub_loans(lendingclub_csv_path(), LENDINGCLUB_AS_OF)
    if loans is not None:
        records, frame = records[:loans], frame.iloc[:loans]
    sealed, lanes = seal(records, LC_SETTINGS)
    reference = ref.abs_metrics(frame)
    assert_proven_equal_reference(proven_figures(sealed, lanes), reference)
    for name in ("count_M1", "count_DEFAULTED", "count_PREPAID", "count_WRITTEN_OFF", "written_off"):
        assert reference[name] > 0, name


lendingclub = pytest.mark.skipif(
    not lendingclub_csv_path().exists(), reason="shared Lending Club tape absent"
)


@lendingclub
def test_lendingclub_first_loans_proven_figures_equal_the_reference(tmp_path: Path) -> None:
    # The first 600 rows hold every state the sample has (current, late, defaulted, paid off, charged off).
    _lendingclub(tmp_path, 600)


@lendingclub
@pytest.mark.slow
def test_lendingclub_whole_tape_proven_figures_equal_the_reference(tmp_path: Path) -> None:
    _lendingclub(tmp_path, None)


def test_synthetic_month_proven_figures_equal_the_reference(tmp_path: Path) -> None:
    first = LENDINGCLUB_AS_OF.replace(year=2024)
    cutoff = monthly_cutoff(first, 7)
    path = tmp_path / "synth.jsonl"
    write_jsonl(generate_tape(300, seed=5, cutoff=first, pool_id="S", month=7), str(path))
    (tmp_path / "db").mkdir()
    records = store(tmp_path / "db", CN_CONSUMER, cutoff.isoformat(), path.read_bytes())
    sealed, lanes = seal(records, CN_CONSUMER)
    reference = ref.abs_metrics(ref.tape_loans(path, cutoff))
    assert_proven_equal_reference(proven_figures(sealed, lanes), reference)
    assert reference["count_DEFAULTED"] > 0
    assert reference["written_off"] > 0
