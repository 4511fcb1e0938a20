"""Every linear figure of the pool statement v2, *proven*, equals a plain-pandas reading of the raw tape.

The stored tape's loans are mapped to their facts (:func:`gateway.loan_facts.loan_facts`), sealed under
the pool's statement lane set (:func:`gateway.loan_facts.statement_lane_set`: widths from the pool's
per-loan cap, the cap proven per loan), the whole snapshot passes the auditor's full check
(``verify_snapshot``), and each figure is disclosed exactly with a proof that an investor's tool
verifies against the signed header. The disclosed value must equal what
:mod:`tests.reference.abs_metrics` computes from the raw file with the definitions of docs/metrics.md.
The default run seals the first loans of the Lending Club tape; ``--runslow`` adds a synthetic month
and seals the whole Lending Club tape.
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
from proofs.cell_claims import cell_metric, cell_opening, prove_cell
from proofs.claim_bundle import ExpectedClaim, metric_opening, prove_claim_bundle, verify_claim_answer
from proofs.claims import Disclosure
from proofs.group import ORDER, get_group, random_scalar
from proofs.lanes import LaneSet
from proofs.pedersen import commit
from proofs.snapshot import loan_blindings, verify_header, verify_snapshot
from proofs.strata import Row
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


#: Dimensions whose every cell is disclosed with a claim in the default run (few cells each, to keep
#: CI time); every other row is opened against its loans' own openings, the top region's balance is
#: always claimed (the concentration figure), and ``--runslow`` proves every cell by claim.
CLAIMED_DIMENSIONS = ("vintage", "product_type")


def _claim_cell(
    sealed: Sealed, lanes: LaneSet, row: Row, totals: list[int], blindings: list[int]
) -> dict[str, int]:
    """The cell's active count and outstanding balance, each disclosed with a proof over the cell's
    committed row and verified as an investor's tool does."""
    header = verify_header(sealed.header, sealed.key.public_key())
    group = get_group()
    rhos = [random_scalar() for _ in lanes.lanes]
    table = sealed.outcome.strata
    assert table is not None
    evidence = prove_cell(
        group, header, table, row.dimension, row.cell, totals, blindings, rhos, random_scalar
    )
    out = {}
    for inner, suffix in (("active_loan_count", "count"), ("outstanding_balance", "balance")):
        statement = Disclosure(cell_metric(row.dimension, row.cell, inner))
        opening = cell_opening(header, inner, totals, rhos)
        nonce = f"{row.dimension}{row.cell}{suffix}".encode().ljust(16, b".")[:64]
        doc = prove_claim_bundle(
            group, header, statement, {statement.metric: opening}, nonce, cells=[evidence]
        )
        verify_claim_answer(
            doc,
            sealed.key.public_key(),
            expected=ExpectedClaim(nonce=nonce, statement=statement, header_hash=header.hash),
            witnesses=WitnessPolicy.unwitnessed(),
        )
        out[suffix] = int(doc["proof"]["value"])
    return out


def proven_cell_figures(sealed: Sealed, lanes: LaneSet, claimed: tuple[str, ...] | None) -> dict[str, int]:
    """Every stratification cell's active count and outstanding balance, and the top region's balance.

    Cells of the ``claimed`` dimensions (``None``: all) are each disclosed with a proof
    (:func:`_claim_cell`). For the others the row's committed sums are opened with the sums of its
    loans' openings, which by the binding of the commitments shows the row commits to exactly these
    loans' values; their figures are read from those values. The top region is always claimed.
    """
    table = sealed.outcome.strata
    assert table is not None
    group = get_group()
    out: dict[str, int] = {}
    openings: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for row in table.rows:
        members = [f for f in sealed.loans if f.labels[row.dimension] == row.cell]  # type: ignore[union-attr]
        totals = [sum(col) for col in zip(*(lanes.facts_values(f) for f in members), strict=True)]
        blindings = [
            sum(col) % ORDER
            for col in zip(*(loan_blindings(sealed.seed, f.exposure_id, lanes) for f in members), strict=True)
        ]
        openings[(row.dimension, row.cell)] = (totals, blindings)
        if claimed is None or row.dimension in claimed:
            figures = _claim_cell(sealed, lanes, row, totals, blindings)
        else:
            packed = lanes.input_values(totals)
            assert row.count == len(members)
            assert all(
                row.sums[j] == commit(group, packed[j], blindings[j]) for j in range(len(lanes.inputs))
            )
            opened = dict(zip(lanes.lanes, totals, strict=True))
            figures = {
                "count": lanes.metric_value("active_loan_count", opened),
                "balance": lanes.metric_value("outstanding_balance", opened),
            }
        if figures["count"]:  # a cell of terminated loans only has no active figure
            out[f"strat.{row.dimension}.{row.cell}.count"] = figures["count"]
            out[f"strat.{row.dimension}.{row.cell}.balance"] = figures["balance"]
    regions = {k: v for k, v in out.items() if k.startswith("strat.region.") and k.endswith(".balance")}
    top = max(regions, key=lambda k: regions[k], default=None)
    out["top_region_balance"] = 0
    if top is not None:
        cell = top.split(".")[2]
        _, row = table.row("region", cell)
        out["top_region_balance"] = _claim_cell(sealed, lanes, row, *openings[("region", cell)])["balance"]
    return out


def derived_figures(proven: dict[str, int]) -> dict[str, int]:
    """The docs/metrics.md ratios, each from its two proven figures (formula as written there)."""
    base = proven["beginning_balance"] - proven["scheduled_principal"]
    return {
        "smm_ppm": ref.ppm(proven["unscheduled_principal"], base),
        "cpr_ppm": ref.annualised_ppm(proven["unscheduled_principal"], base),
        "mdr_ppm": ref.ppm(proven["defaulted_principal"], base),
        "cdr_ppm": ref.annualised_ppm(proven["defaulted_principal"], base),
        "loss_severity_ppm": ref.ppm(proven["written_off"] - proven["recoveries"], proven["written_off"]),
        "portfolio_yield_ppm": ref.ppm(
            12 * (proven["interest"] + proven["fees"]), proven["beginning_balance"]
        ),
        "delinquency_1plus_ratio_ppm": ref.ppm(proven["delinquent_1plus_balance"], proven["pool_balance"]),
        "delinquency_90plus_or_defaulted_ratio_ppm": ref.ppm(
            proven["delinquent_90plus_or_defaulted_balance"], proven["outstanding_balance"]
        ),
        "top_region_share_ppm": ref.ppm(proven["top_region_balance"], proven["outstanding_balance"]),
    }


def assert_cells_and_ratios_equal_reference(
    sealed: Sealed,
    lanes: LaneSet,
    proven: dict[str, int],
    reference: dict[str, int],
    claimed: tuple[str, ...] | None = CLAIMED_DIMENSIONS,
) -> None:
    cells = proven_cell_figures(sealed, lanes, claimed)
    expected_cells = {k: v for k, v in reference.items() if k.startswith("strat.")}
    assert {k: v for k, v in cells.items() if k.startswith("strat.")} == expected_cells
    assert cells["top_region_balance"] == reference["top_region_balance"]
    ratios = derived_figures({**proven, **cells})
    assert ratios == {k: reference[k] for k in ratios}


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
    proven = proven_figures(sealed, lanes)
    assert_proven_equal_reference(proven, reference)
    assert_cells_and_ratios_equal_reference(
        sealed, lanes, proven, reference, None if loans is None else CLAIMED_DIMENSIONS
    )
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


@pytest.mark.slow  # the Lending Club run above proves the same figures on real loans in CI
def test_synthetic_month_proven_figures_equal_the_reference(tmp_path: Path) -> None:
    first = LENDINGCLUB_AS_OF.replace(year=2024)
    cutoff = monthly_cutoff(first, 7)
    path = tmp_path / "synth.jsonl"
    write_jsonl(generate_tape(300, seed=5, cutoff=first, pool_id="S", month=7), str(path))
    (tmp_path / "db").mkdir()
    records = store(tmp_path / "db", CN_CONSUMER, cutoff.isoformat(), path.read_bytes())
    sealed, lanes = seal(records, CN_CONSUMER)
    reference = ref.abs_metrics(ref.tape_loans(path, cutoff))
    proven = proven_figures(sealed, lanes)
    assert_proven_equal_reference(proven, reference)
    assert_cells_and_ratios_equal_reference(sealed, lanes, proven, reference)
    assert reference["count_DEFAULTED"] > 0
    assert reference["written_off"] > 0
