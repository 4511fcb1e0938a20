"""The statement v2 facts of stored tapes equal a plain-pandas reading of the raw files.

The tape goes the whole way in: imported through the shipped mapping, ingested (validated, encrypted,
stored), read back and decrypted, and mapped loan by loan by :func:`gateway.loan_facts.loan_facts`. The
reference (:mod:`tests.reference.abs_metrics`) reads the CSV as shipped with pandas and applies the
written definitions of docs/metrics.md and docs/importing.md. Every figure must agree exactly, in cents:
each state's count and balance, each flow, each stratification cell, the largest balance, the top
region's share, and the ratios built from them. The synthetic platform's tape (JSONL, tape schema v2)
is checked the same way.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from gateway.importers.lendingclub import LENDINGCLUB_AS_OF, import_lendingclub, lendingclub_csv_path
from gateway.importers.tape_v1 import write_jsonl
from gateway.ingest.pipeline import ingest_tape
from gateway.ingest.pool_settings import CN_CONSUMER, US_CONSUMER, PoolConfig
from gateway.loan_facts import STRATIFICATION_DIMENSIONS, loan_facts
from gateway.storage.records import create_pool, get_pool, pool_keys, snapshot_loans
from gateway.synth import generate_tape, monthly_cutoff
from proofs.loan_facts import FLOWS
from tests.gateway.helpers import make_instance
from tests.reference import abs_metrics as ref

pytestmark = pytest.mark.skipif(not lendingclub_csv_path().exists(), reason="shared Lending Club tape absent")

CUTOFF = LENDINGCLUB_AS_OF.isoformat()


def facts_frame(records: list[dict[str, Any]], settings: PoolConfig = US_CONSUMER) -> pd.DataFrame:
    """The gateway's per-loan facts in the reference's loan columns."""
    rows = []
    for rec in records:
        f = loan_facts(rec, settings)
        rows.append(
            {
                "state": f.state_name,
                "balance": f.balance,
                **dict(zip(FLOWS, f.flows, strict=True)),
                **f.labels,
                "obligor": rec["obligor_pseudo_id"],
            }
        )
    return pd.DataFrame(rows, columns=list(ref.LOAN_COLUMNS))


def store(tmp: Path, settings: PoolConfig, cutoff: str, body: bytes) -> list[dict[str, Any]]:
    """Ingest a JSONL tape into a fresh pool and read its loans back, decrypted."""
    inst = make_instance(tmp)
    inst.add_platform("plat1")
    db = inst.db()
    try:
        create_pool(db, inst.master(), "P", "plat1", settings)
        keys = pool_keys(db, inst.master(), "P")
        ingest_tape(db, get_pool(db, "P"), keys, cutoff, io.BytesIO(body), "jsonl", submitted_by="t",
                    max_bytes=10**9, workers=0)  # fmt: skip
        tape, loans = snapshot_loans(db, inst.master(), "P", cutoff)
        assert tape.stats["tape_schema"] == "poolproof/tape/v2"
        return [loan.record for loan in loans]
    finally:
        db.conn.close()


@pytest.fixture(scope="module")
def stored_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    body = io.StringIO()
    write_jsonl(import_lendingclub(pool_id="LC"), body)
    return store(tmp_path_factory.mktemp("lc-v2"), US_CONSUMER, CUTOFF, body.getvalue().encode())


@pytest.fixture(scope="module")
def gateway_figures(stored_records: list[dict[str, Any]]) -> dict[str, int]:
    return ref.abs_metrics(facts_frame(stored_records))


@pytest.fixture(scope="module")
def reference_figures() -> dict[str, int]:
    return ref.abs_metrics(ref.lendingclub_loans(lendingclub_csv_path(), LENDINGCLUB_AS_OF))


def test_the_same_figures_are_named_on_both_sides(
    gateway_figures: dict[str, int], reference_figures: dict[str, int]
) -> None:
    assert sorted(gateway_figures) == sorted(reference_figures)


def _family(figures: dict[str, int], prefix: str) -> dict[str, int]:
    return {k: v for k, v in figures.items() if k.startswith(prefix)}


@pytest.mark.parametrize("prefix", ["count_", "balance_"])
def test_every_state_has_the_same_loans_and_balance(
    gateway_figures: dict[str, int], reference_figures: dict[str, int], prefix: str
) -> None:
    assert _family(gateway_figures, prefix) == _family(reference_figures, prefix)


@pytest.mark.parametrize("flow", FLOWS)
def test_every_period_flow_sums_to_the_same_cents(
    gateway_figures: dict[str, int], reference_figures: dict[str, int], flow: str
) -> None:
    assert gateway_figures[flow] == reference_figures[flow]


@pytest.mark.parametrize("dimension", STRATIFICATION_DIMENSIONS)
def test_every_stratification_cell_has_the_same_count_and_balance(
    gateway_figures: dict[str, int], reference_figures: dict[str, int], dimension: str
) -> None:
    cells = _family(reference_figures, f"strat.{dimension}.")
    assert cells
    assert _family(gateway_figures, f"strat.{dimension}.") == cells
    counts = sum(v for k, v in cells.items() if k.endswith(".count"))
    balances = sum(v for k, v in cells.items() if k.endswith(".balance"))
    assert (counts, balances) == (
        reference_figures["active_loan_count"],
        reference_figures["outstanding_balance"],
    )


def test_concentration_figures_agree(
    gateway_figures: dict[str, int], reference_figures: dict[str, int]
) -> None:
    for name in ("largest_balance", "top_region_balance", "top_region_share_ppm", "largest_obligor_balance"):
        assert gateway_figures[name] == reference_figures[name], name


def test_every_figure_agrees(gateway_figures: dict[str, int], reference_figures: dict[str, int]) -> None:
    assert gateway_figures == reference_figures


def test_terminated_loans_are_never_current_and_the_default_line_is_90_days(
    reference_figures: dict[str, int],
) -> None:
    # The CSV's Fully Paid (447) and the one Current row with nothing left are prepaid; Charged Off
    # (7) is written off; Late (31-120 days) (66) is past the 90-day default line.
    got = {s: reference_figures[f"count_{s}"] for s in ("M0", "M1", "DEFAULTED", "WRITTEN_OFF", "PREPAID")}
    assert got == {"M0": 9374, "M1": 105, "DEFAULTED": 66, "WRITTEN_OFF": 7, "PREPAID": 448}
    assert reference_figures["active_loan_count"] == 10_000 - 7 - 448


def test_beginning_balance_since_origination_is_the_principal_lent(reference_figures: dict[str, int]) -> None:
    lent = pd.read_csv(lendingclub_csv_path(), dtype=str)["loan_amount"].map(ref.cents).sum()
    assert reference_figures["beginning_balance"] == lent


def test_the_reference_imports_no_gateway_code() -> None:
    text = Path(ref.__file__).read_text(encoding="utf-8")
    imports = [line for line in text.splitlines() if line.startswith(("import ", "from "))]
    assert all(not any(p in line for p in ("gateway", "proofs", "policies")) for line in imports), imports


SYNTH_FIRST = LENDINGCLUB_AS_OF.replace(year=2024)
SYNTH_MONTH = 7


def test_the_synthetic_tapes_figures_agree_with_the_reference(tmp_path: Path) -> None:
    cutoff = monthly_cutoff(SYNTH_FIRST, SYNTH_MONTH)
    path = tmp_path / "synth.jsonl"
    write_jsonl(generate_tape(3000, seed=5, cutoff=SYNTH_FIRST, pool_id="S", month=SYNTH_MONTH), str(path))
    (tmp_path / "db").mkdir()
    records = store(tmp_path / "db", CN_CONSUMER, cutoff.isoformat(), path.read_bytes())
    gateway_figures = ref.abs_metrics(facts_frame(records, CN_CONSUMER))
    reference_figures = ref.abs_metrics(ref.tape_loans(path, cutoff))
    assert gateway_figures == reference_figures
    # A mature month has every kind of figure: defaults, write-offs, recoveries, prepayments, fees.
    for name in (
        "count_DEFAULTED",
        "count_WRITTEN_OFF",
        "count_PREPAID",
        "count_MATURED",
        "recoveries",
        "fees",
    ):
        assert reference_figures[name] > 0, name
