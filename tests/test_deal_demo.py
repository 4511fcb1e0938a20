"""The demo's revolving deal: three months, a trigger near its level, tables that say what was proven."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from gateway.alerts.demo import DealDemo, print_deal_tables, run_revolving_deal
from gateway.snapshots.demo import write_deal_outputs
from gateway.synth import generate_tape, monthly_cutoff
from proofs.audit_cli import main as audit_main
from proofs.payment_report import verify_payment_report
from tests.reference.abs_metrics import STATES, state_of


@pytest.fixture(scope="module")
def demo() -> DealDemo:
    return run_revolving_deal(months=3)


def test_three_periods_each_verify_from_the_one_before(demo: DealDemo) -> None:
    assert [r["period"] for r in demo.reports] == [1, 2, 3]
    for k, report in enumerate(demo.reports):
        previous = demo.reports[k - 1] if k else None
        verify_payment_report(report, demo.deal, demo.key.public_key(), previous=previous)


def test_the_cumulative_default_trigger_sits_just_under_the_rate_and_breaches(demo: DealDemo) -> None:
    last = demo.reports[-1]
    level = demo.deal.trigger("cdr").level_bps
    ppm = last["cumulative_default_rate"]["ppm"]
    assert level * 100 <= ppm < (level + 1) * 100 + 50  # within about one basis point
    assert next(t for t in last["triggers"] if t["id"] == "cdr")["breached"]


def test_the_tables_show_every_trigger_and_every_line(demo: DealDemo) -> None:
    out = io.StringIO()
    print_deal_tables(demo, out)
    text = out.getvalue()
    for t in demo.deal.triggers:
        assert t.id in text
    for report in demo.reports:
        for name, amount in report["lines"]:
            assert f"{name}" in text
            assert f"{amount:,}" in text
    assert "BREACHED" in text
    assert "cumulative default rate:" in text


# -------------------------------------------------------------------------------------------------
# Linked months: the roll matrix of each period against pandas, and the written series folder
# -------------------------------------------------------------------------------------------------

CLOSING = date(2024, 6, 30)  # run_revolving_deal's defaults: seed 10, 32 loans, pool SYNTH


def _raw_month(k: int) -> pd.DataFrame:
    """Month ``k``'s raw tape rows in the reference's terms (docs/metrics.md "Loan states")."""
    t = pd.DataFrame(list(generate_tape(32, seed=10, cutoff=CLOSING, pool_id="SYNTH", month=k)))
    dpd = t["days_past_due"].fillna(0).astype(int)
    return pd.DataFrame(
        {
            "exposure_id": t["platform_loan_id"].astype(str),
            "state": [state_of(s, d) for s, d in zip(t["loan_status"], dpd, strict=True)],
            "added": t["pool_addition_date"].astype(str),
        }
    )


def _crosstab(prev: pd.DataFrame, cur: pd.DataFrame) -> list[list[int]]:
    both = prev.merge(cur, on="exposure_id", suffixes=("_prev", "_cur"))
    table = pd.crosstab(both["state_prev"], both["state_cur"]).reindex(
        index=list(STATES), columns=list(STATES), fill_value=0
    )
    return [[int(v) for v in row] for row in table.to_numpy()]


def _printed_matrices(text: str) -> list[list[list[int]]]:
    lines = text.splitlines()
    found = []
    for at, line in enumerate(lines):
        if line.startswith("Roll matrix, loans from"):
            assert lines[at + 1].split()[:3] == ["from", "/", "to"]
            rows = [lines[at + 2 + i].split() for i in range(len(STATES))]
            assert [r[0] for r in rows] == list(STATES)
            found.append([[int(v) for v in r[1:]] for r in rows])
    return found


def test_each_period_prints_its_roll_matrix_as_pandas_cross_tabulates_the_raw_tapes(demo: DealDemo) -> None:
    out = io.StringIO()
    print_deal_tables(demo, out)
    printed = _printed_matrices(out.getvalue())
    assert len(printed) == 3
    months = [_raw_month(k) for k in range(4)]
    exits = 0
    for k in range(1, 4):
        prev, cur = months[k - 1], months[k]
        expected = _crosstab(prev, cur)
        assert printed[k - 1] == expected
        assert [list(r) for r in demo.links[k - 1].result.roll.counts] == expected
        # Only loans in a terminal state left, and the loans that arrived are the period's purchases.
        left = prev[~prev["exposure_id"].isin(cur["exposure_id"])]
        assert set(left["state"]) <= {"WRITTEN_OFF", "PREPAID", "MATURED", "REPURCHASED"}
        assert list(demo.links[k - 1].result.exits) == list(left["exposure_id"])
        exits += len(left)
        new = set(cur.loc[~cur["exposure_id"].isin(prev["exposure_id"]), "exposure_id"])
        start, end = (monthly_cutoff(CLOSING, m).isoformat() for m in (k - 1, k))
        bought = set(cur.loc[(cur["added"] > start) & (cur["added"] <= end), "exposure_id"])
        assert new == bought == set(demo.links[k - 1].result.entries)
    assert exits > 0  # the demo's months do see loans leave


def test_the_written_series_verifies_and_fails_without_one_link(
    demo: DealDemo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = write_deal_outputs(tmp_path, demo)
    series = tmp_path / "deal" / "series"
    names = sorted(p.name for p in series.iterdir())
    assert names == sorted(
        [
            *(f"snapshot-{k}.json" for k in range(4)),
            *("link-0-1.json", "link-1-2.json", "link-2-3.json"),
            "payment-report-3.json",
        ]
    )
    assert {f"deal/series/{n}" for n in names} <= set(written)
    key = str(tmp_path / "deal" / "gateway.pub")
    capsys.readouterr()
    assert audit_main(["verify-series", str(series), "--key", key, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"]
    assert len(result["links"]) == 3
    assert result["snapshots"] == [f"SYNTH-{k}" for k in range(4)]
    # every period's purchase evidence of the report is the entries row its link recomputed
    bought = [len(linked.result.entries) for linked in demo.links]
    assert result["purchases"] == [
        f"payment-report-3.json: period {k} ({monthly_cutoff(CLOSING, k).isoformat()}): "
        f"{bought[k - 1]} purchases, the row of the link"
        for k in range(1, 4)
    ]
    # The written link bundles open the same matrices as pandas cross-tabulates from the raw tapes.
    months = [_raw_month(k) for k in range(4)]
    for k in range(1, 4):
        doc = json.loads((series / f"link-{k - 1}-{k}.json").read_text(encoding="utf-8"))
        assert doc["roll"]["counts"] == _crosstab(months[k - 1], months[k])
    # a report whose evidence counts one purchase too many fails the row check (signature aside)
    forged = json.loads((series / "payment-report-3.json").read_text(encoding="utf-8"))
    forged["purchases_proven"][1]["evidence"]["count"] += 1
    (series / "payment-report-3.json").write_text(json.dumps(forged), encoding="utf-8")
    assert audit_main(["verify-series", str(series), "--key", key, "--json"]) != 0
    assert json.loads(capsys.readouterr().out)["check"] in {
        "purchases.row",
        "unpacking.linear",
        "unpacking.range",
    }
    (series / "payment-report-3.json").unlink()
    (series / "link-1-2.json").unlink()
    assert audit_main(["verify-series", str(series), "--key", key, "--json"]) != 0
    failed = json.loads(capsys.readouterr().out)
    assert not failed["ok"]
    assert failed["check"] == "series.link_missing"
