"""The demo's revolving deal: three months, a trigger near its level, tables that say what was proven."""

from __future__ import annotations

import io

import pytest

from gateway.alerts.demo import DealDemo, print_deal_tables, run_revolving_deal
from proofs.payment_report import verify_payment_report


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
