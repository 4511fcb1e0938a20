"""The deal in ``poolproof-audit report``: trigger table, cumulative default rate and waterfall per period.

The demo's three-month revolving deal (:func:`gateway.alerts.demo.run_revolving_deal`) writes its whole
payment reports (trustee) and their trigger-status views (investor) beside the deal file. Every deal
figure on the page is read back and checked three ways: against the reports verified here again with
:func:`proofs.payment_report.verify_payment_report`; against a plain-pandas reading of the raw tapes
(:mod:`tests.reference.abs_metrics`) and the deal file read with :mod:`tomllib`; and, for the waterfall,
against the deal's priority of payments applied by hand in this file (not via :mod:`proofs.waterfall`).
A tampered report in the folder is UNVERIFIED, nothing of it is drawn, and the command exits 1.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from gateway.alerts.demo import DealDemo, run_revolving_deal
from gateway.snapshots.demo import deal_toml, write_deal_outputs
from gateway.synth import generate_tape, monthly_cutoff
from proofs import bundle
from proofs.audit_cli import main as audit_main
from proofs.deal import deal_hash, parse_deal_text
from proofs.payment_report import verify_payment_report
from proofs.report import CurveFamily, Figure, TransitionMatrix, render_report
from proofs.report.sections import Series
from proofs.witness import WitnessPolicy
from tests.reference import abs_metrics as ref

MONTHS, LOANS, SEED, CLOSING, POOL = 3, 32, 10, date(2024, 6, 30), "SYNTH"


class DealPage(HTMLParser):
    """The deal rows, cumulative default rows, tranche rows, lines, charts and JSON of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.triggers: list[dict[str, str]] = []
        self.cdr: list[dict[str, str]] = []
        self.tranches: dict[str, list[dict[str, str]]] = {}
        self.lines: dict[str, list[tuple[str, int]]] = {}
        self.modes: dict[str, dict[str, str]] = {}
        self.unverified: list[dict[str, str]] = []
        self.charts: dict[str, str] = {}
        self.figures: list[dict[str, str]] = []
        self.data_json = ""
        self._table: tuple[str, str] | None = None
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        cls = a.get("class", "")
        if tag == "table" and cls in ("deal-tranches", "deal-lines"):
            self._table = (cls, a["data-deal-period"])
        if tag == "tr" and "deal-trigger" in cls.split():
            self.triggers.append(a)
        if tag == "tr" and cls == "deal-cdr-row":
            self.cdr.append(a)
        if tag == "tr" and "data-unverified-bundle" in a:
            self.unverified.append(a)
        if tag == "tr" and self._table and self._table[0] == "deal-tranches" and "data-tranche" in a:
            self.tranches.setdefault(self._table[1], []).append(a)
        if tag == "tr" and self._table and self._table[0] == "deal-lines" and "data-line" in a:
            self.lines.setdefault(self._table[1], []).append((a["data-line"], int(a["data-amount"])))
        if "data-principal-mode" in a:
            self.modes[a["data-deal-period"]] = a
        if "data-chart" in a:
            self.charts[a["data-chart"]] = a.get("data-figures", "")
        if "data-figure-id" in a:
            self.figures.append(a)
        self._in_data = tag == "script" and a.get("id") == "report-data"

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data_json += data

    def data(self) -> dict[str, Any]:
        return dict(json.loads(self.data_json))


def read(path: Path) -> DealPage:
    page = DealPage()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@dataclass
class Rendered:
    demo: DealDemo
    root: Path
    trustee: Path
    investor: Path
    trustee_code: int
    investor_code: int


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    root = tmp_path_factory.mktemp("deal-report")
    demo = run_revolving_deal(months=MONTHS, loans=LOANS, seed=SEED, closing=CLOSING, pool_id=POOL)
    write_deal_outputs(root, demo)
    codes = []
    for folder in ("deal", "deal-investor"):
        codes.append(
            audit_main(
                [
                    "report",
                    str(root / folder),
                    "--key",
                    str(root / folder / "gateway.pub"),
                    "--no-witness",
                    "--out",
                    str(root / f"{folder}.html"),
                    "--pdf",
                    str(root / f"{folder}.pdf"),
                ]
            )
        )
    return Rendered(demo, root, root / "deal.html", root / "deal-investor.html", codes[0], codes[1])


def test_the_deal_file_written_for_the_report_is_the_deal(rendered: Rendered) -> None:
    text = (rendered.root / "deal" / "deal.toml").read_text(encoding="utf-8")
    assert deal_hash(parse_deal_text(text)) == deal_hash(rendered.demo.deal)
    assert deal_toml(parse_deal_text(text)) == text


# --- every deal figure on the page against the reports, verified here again ---------------------------


def _verified(demo: DealDemo) -> list[Any]:
    out, previous = [], None
    for report in demo.reports:
        out.append(verify_payment_report(report, demo.deal, demo.key.public_key(), previous=previous))
        previous = report
    return out


def test_the_trustee_page_shows_every_trigger_line_and_tranche_of_every_verified_report(
    rendered: Rendered,
) -> None:
    assert rendered.trustee_code == 0
    page = read(rendered.trustee)
    assert not page.unverified
    deal = rendered.demo.deal
    results = _verified(rendered.demo)
    assert len(page.triggers) == len(deal.triggers) * MONTHS
    for k, (result, report) in enumerate(zip(results, rendered.demo.reports, strict=True), 1):
        rows = {r["data-trigger"]: r for r in page.triggers if r["data-deal-period"] == str(k)}
        assert set(rows) == {t.id for t in deal.triggers}
        for t, state in zip(deal.triggers, result.distribution.state.triggers, strict=True):
            row = rows[t.id]
            assert row["data-breached"] == str(result.breached[t.id]).lower()
            assert row["data-basis"] == "proven_full"
            assert row["data-in-effect"] == str(state.in_effect).lower()
            assert row["data-bundle"] == f"payment-report-{k}.json"
            if t.kind != "excess_spread":
                assert row["data-level-bps"] == str(t.level_bps)
        assert page.lines[str(k)] == list(result.distribution.lines)
        assert page.modes[str(k)]["data-principal-mode"] == result.distribution.principal_mode
        assert page.modes[str(k)]["data-revolving"] == str(result.distribution.revolving).lower()
        lines = dict(result.distribution.lines)
        for t, row, balance in zip(
            deal.tranches, page.tranches[str(k)], result.distribution.state.tranche_balances, strict=True
        ):
            assert row["data-tranche"] == t.id
            assert int(row["data-interest-paid"]) == lines[f"interest:{t.id}.paid"]
            assert int(row["data-principal-paid"]) == lines.get(f"principal:{t.id}.paid", 0)
            assert int(row["data-balance-after"]) == balance
        cdr = next(r for r in page.cdr if r["data-deal-period"] == str(k))
        assert int(cdr["data-numerator"]) == report["cumulative_default_rate"]["numerator"]
        assert int(cdr["data-denominator"]) == report["cumulative_default_rate"]["denominator"]
    # the cumulative default chart draws each period's rate, against the deal's level
    assert page.charts["deal-cdr"].split() == [f"{r['cutoff_date']}/cumulative_default_rate"
                                               for r in rendered.demo.reports]  # fmt: skip
    level = deal.trigger("cdr").level_bps
    svg = rendered.trustee.read_text(encoding="utf-8").split('id="chart-deal-cdr"')[1].split("</figure>")[0]
    assert f"trigger {level // 100}.{level % 100:02d}%" in svg
    data = page.data()["deal"]
    assert [p["period"] for p in data["periods"]] == [1, 2, 3]


# --- the same numbers from the raw tapes, by plain pandas and by hand -----------------------------------


def _tapes(tmp: Path) -> list[tuple[list[dict[str, Any]], dict[str, int]]]:
    out = []
    for k in range(MONTHS + 1):
        cutoff = monthly_cutoff(CLOSING, k)
        rows = list(generate_tape(LOANS, seed=SEED, cutoff=CLOSING, pool_id=POOL, month=k))
        path = tmp / f"tape-{k}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        out.append((rows, ref.abs_metrics(ref.tape_loans(path, cutoff))))
    return out


def _half_up(a: int, b: int) -> int:
    return (a + b // 2) // b


def _waterfall_by_hand(deal: dict[str, Any], inputs: list[dict[str, int]], purchases: list[int],
                       breached: list[dict[str, bool]]) -> list[dict[str, Any]]:  # fmt: skip
    """docs/deal.md "The waterfall", applied step by step to the deal file (a dict read by tomllib)."""
    tranches = deal["tranches"]
    triggers = deal["triggers"]
    balances = [t["balance_fen"] for t in tranches]
    unpaid = [0] * len(tranches)
    fees_unpaid, reserve, carried, ended = 0, deal["reserve"]["initial_fen"], 0, False
    in_effect = {t["id"]: False for t in triggers}
    clear = {t["id"]: 0 for t in triggers}
    out = []
    for k, (x, price, status) in enumerate(zip(inputs, purchases, breached, strict=True), 1):
        for t in triggers:  # the cure rule of docs/deal.md "Effects and cure"
            if status[t["id"]]:
                in_effect[t["id"]], clear[t["id"]] = True, 0
            elif in_effect[t["id"]] and "cure_periods" in t:
                clear[t["id"]] += 1
                if clear[t["id"]] >= t["cure_periods"]:
                    in_effect[t["id"]], clear[t["id"]] = False, 0
        effects = {t["effect"] for t in triggers if in_effect[t["id"]]}
        default = "event_of_default" in effects
        ended = ended or bool(effects & {"accelerated_amortisation", "event_of_default"})
        revolving = not ended and k <= deal["revolving_periods"]
        pop = deal["priority_of_payments"]
        mode = "sequential" if pop["principal_mode"] == "sequential" or effects else "pro_rata"
        interest_collections = x["interest"] + x["fees"] + x["recoveries"]
        principal_collections = x["scheduled_principal"] + x["unscheduled_principal"]
        left = interest_collections + principal_collections + carried + reserve
        lines: dict[str, int] = {"available.total": left}
        fees_due = deal["fees"]["fixed_fen"] + _half_up(
            sum(balances) * deal["fees"]["servicing_bps"], 120_000
        )
        fees_due += fees_unpaid
        coupons = [_half_up(b * t["coupon_bps"], 120_000) + u for b, t, u in zip(balances, tranches, unpaid,
                                                                                   strict=True)]  # fmt: skip
        paid_interest = [0] * len(tranches)
        paid_principal = [0] * len(tranches)
        for step in pop["steps"]:
            if step == "senior_fees":
                paid = min(left, fees_due)
                fees_unpaid, left = fees_due - paid, left - paid
                lines["senior_fees.paid"] = paid
            elif step.startswith("interest:"):
                i = [t["id"] for t in tranches].index(step.split(":")[1])
                paid_interest[i] = min(left, coupons[i])
                left -= paid_interest[i]
                lines[f"{step}.paid"] = paid_interest[i]
            elif step == "reserve":
                reserve = min(left, 0 if default else deal["reserve"]["target_fen"])
                left -= reserve
                lines["reserve.balance"] = reserve
            elif step == "principal":
                amount = min(left, principal_collections + x["defaulted_principal"] + carried)
                left -= amount
                if revolving:
                    bought = min(amount, price)
                    carried = amount - bought
                    lines["principal.purchases"], lines["principal.carried"] = bought, carried
                else:
                    carried = 0
                    pay = min(amount, sum(balances))
                    left += amount - pay
                    if mode == "sequential":
                        for i, b in enumerate(balances):
                            paid_principal[i] = min(pay, b)
                            pay -= paid_principal[i]
                    else:
                        total = sum(balances)
                        paid_principal = [pay * b // total for b in balances]
                        rest = pay - sum(paid_principal)
                        for i, b in enumerate(balances):
                            extra = min(rest, b - paid_principal[i])
                            paid_principal[i] += extra
                            rest -= extra
                    for i, t in enumerate(tranches):
                        lines[f"principal:{t['id']}.paid"] = paid_principal[i]
                        balances[i] -= paid_principal[i]
            elif step == "residual":
                lines["residual.paid"], left = left, 0
        unpaid = [c - p for c, p in zip(coupons, paid_interest, strict=True)]
        out.append({"lines": lines, "mode": mode, "revolving": revolving, "balances": list(balances),
                    "in_effect": dict(in_effect)})  # fmt: skip
    return out


def test_the_deal_tables_equal_a_plain_recomputation_from_the_raw_tapes(
    rendered: Rendered, tmp_path: Path
) -> None:
    page = read(rendered.trustee)
    deal = tomllib.loads((rendered.root / "deal" / "deal.toml").read_text(encoding="utf-8"))
    tapes = _tapes(tmp_path)
    metrics = [m for _, m in tapes]
    cutoffs = [monthly_cutoff(CLOSING, k).isoformat() for k in range(MONTHS + 1)]
    purchases = []
    for k in range(1, MONTHS + 1):  # loans added in the period, at their price (principal before flows)
        rows = [r for r in tapes[k][0] if cutoffs[k - 1] < r["pool_addition_date"] <= cutoffs[k]]
        purchases.append(sum(r["current_principal_fen"] + r["period_scheduled_principal_fen"]
                             + r["period_unscheduled_principal_fen"] + r["period_written_off_fen"]
                             for r in rows))  # fmt: skip
    # statuses by hand, from the definitions of docs/deal.md ("Triggers")
    levels = {t["id"]: t.get("level_bps", 0) for t in deal["triggers"]}
    breached: list[dict[str, bool]] = []
    balances = [t["balance_fen"] for t in deal["tranches"]]
    for k in range(1, MONTHS + 1):
        defaulted = sum(metrics[j]["defaulted_principal"] for j in range(1, k + 1))
        base = deal["initial_pool_balance_fen"] + sum(purchases[:k])
        cdr_row = next(r for r in page.cdr if r["data-deal-period"] == str(k))
        assert (int(cdr_row["data-numerator"]), int(cdr_row["data-denominator"])) == (defaulted, base)
        window = range(max(0, k - 2), k + 1)
        dq_num = 10_000 * sum(metrics[j]["delinquent_31plus_balance"] for j in window)
        dq_den = levels["dq31_3m"] * sum(metrics[j]["pool_balance"] for j in window)
        status = {"cdr": 10_000 * defaulted > levels["cdr"] * base, "dq31_3m": dq_num > dq_den}
        fees_due = deal["fees"]["fixed_fen"] + _half_up(
            sum(balances) * deal["fees"]["servicing_bps"], 120_000
        )
        interest = sum(_half_up(b * t["coupon_bps"], 120_000) for b, t in zip(balances, deal["tranches"],
                                                                              strict=True))  # fmt: skip
        m = metrics[k]
        status["excess_spread"] = fees_due + interest - (m["interest"] + m["fees"] + m["recoveries"]) >= 1
        breached.append(status)
        by_hand = _waterfall_by_hand(deal, [metrics[j] for j in range(1, k + 1)], purchases[:k], breached)
        balances = by_hand[-1]["balances"]  # the notes' balance the next period starts from
    expected = _waterfall_by_hand(deal, metrics[1:], purchases, breached)
    for k, (status, period) in enumerate(zip(breached, expected, strict=True), 1):
        rows = {r["data-trigger"]: r for r in page.triggers if r["data-deal-period"] == str(k)}
        for tid, b in status.items():
            assert rows[tid]["data-breached"] == str(b).lower(), (k, tid)
            assert rows[tid]["data-in-effect"] == str(period["in_effect"][tid]).lower(), (k, tid)
        shown = dict(page.lines[str(k)])
        for name, amount in period["lines"].items():
            assert shown[name] == amount, (k, name)
        assert page.modes[str(k)]["data-principal-mode"] == period["mode"]
        assert page.modes[str(k)]["data-revolving"] == str(period["revolving"]).lower()
        assert [int(r["data-balance-after"]) for r in page.tranches[str(k)]] == period["balances"]
    assert any(s["cdr"] for s in breached)  # the demo's trigger does breach: the table is not all-clear


# --- the investor's view ----------------------------------------------------------------------------------


def test_the_investor_page_shows_only_the_proven_trigger_status(rendered: Rendered) -> None:
    assert rendered.investor_code == 0
    page = read(rendered.investor)
    assert not page.lines
    assert not page.tranches
    assert not page.cdr
    assert not page.modes
    assert "deal-cdr" not in page.charts
    text = rendered.investor.read_text(encoding="utf-8")
    for report in rendered.demo.reports:  # no exact pool figure of the whole report reaches the page
        for name, amount in report["lines"]:
            if amount > 10_000:
                assert f'data-amount="{amount}"' not in text
                assert str(amount) not in page.data_json, name
        assert str(report["cumulative_default_rate"]["numerator"]) not in page.data_json
    results = _verified(rendered.demo)
    rows = {(r["data-deal-period"], r["data-trigger"]): r for r in page.triggers}
    assert len(rows) == MONTHS * len(rendered.demo.deal.triggers)
    for k, result in enumerate(results, 1):
        # the 31+ form needs the chain only; the cumulative default form the purchase commitments
        # the view carries as evidence (without the prices); the excess-spread form the period's
        # expenses, from the notes' outstanding principal the policy gives an investor
        for index, tid in ((0, "cdr"), (1, "dq31_3m"), (2, "excess_spread")):
            row = rows[(str(k), tid)]
            assert row["data-basis"] == "proven_view"
            assert row["data-breached"] == str(result.breached[tid]).lower()
            assert row["data-in-effect"] == str(result.distribution.state.triggers[index].in_effect).lower()


def test_without_the_note_balances_the_excess_spread_status_is_served_not_proven(rendered: Rendered) -> None:
    from gateway.alerts.deal_records import trigger_view
    from proofs.report.deal import NOTES_BASIS, verify_trigger_view

    key = rendered.demo.key.public_key()
    for report, result in zip(rendered.demo.reports, _verified(rendered.demo), strict=True):
        with_notes = trigger_view(report, note_balances=True)
        assert with_notes["note_balances"] == report["state_before"]["tranche_balances"]
        _, proven = verify_trigger_view(with_notes, rendered.demo.deal, key)
        es = next(s for s in proven if s[0].id == "excess_spread")
        assert es[1:] == (result.breached["excess_spread"], "proven_view", NOTES_BASIS)
        without = trigger_view(report)
        assert "note_balances" not in without
        _, served = verify_trigger_view(without, rendered.demo.deal, key)
        es = next(s for s in served if s[0].id == "excess_spread")
        assert es[2] == "served"
        assert "notes' outstanding principal" in es[3]


# --- tampering ----------------------------------------------------------------------------------------------


def _copy(rendered: Rendered, folder: str, dest: Path) -> Path:
    out = dest / folder
    shutil.copytree(rendered.root / folder, out)
    return out


def _report(folder: Path, out: Path, *extra: str) -> int:
    return audit_main(
        [
            "report",
            str(folder),
            "--key",
            str(folder / "gateway.pub"),
            "--no-witness",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_a_tampered_whole_report_is_unverified_and_its_periods_are_not_drawn(
    rendered: Rendered, tmp_path: Path
) -> None:
    folder = _copy(rendered, "deal", tmp_path)
    path = folder / "payment-report-2.json"
    doc = bundle.load_bundle(path)
    name, amount = doc["lines"][-1]
    doc["lines"][-1] = [name, amount + 1]
    path.write_bytes(bundle.dump_bundle(doc))
    assert _report(folder, tmp_path / "r.html") == 1
    page = read(tmp_path / "r.html")
    failed = {u["data-unverified-bundle"]: u["data-check"] for u in page.unverified}
    assert failed["payment-report-2.json"] == "distribution.signature"
    assert failed["payment-report-3.json"] == "distribution.previous"  # its predecessor did not verify
    assert set(page.lines) == {"1"}
    assert {r["data-deal-period"] for r in page.triggers} == {"1"}
    assert page.charts["deal-cdr"].split() == [
        f"{rendered.demo.reports[0]['cutoff_date']}/cumulative_default_rate"
    ]


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda d: d["triggers"][1].update(breached=not d["triggers"][1]["breached"]), "trigger.dq31_3m"),
        (lambda d: d["headers"][-1].update(leaf_count=d["headers"][-1]["leaf_count"] + 1), "header."),
        (lambda d: d["extensions"]["deal"].update(deal_hash="00" * 32), "deal.binding"),
        (lambda d: d["triggers"].pop(), "distribution.triggers"),
        (lambda d: d.update(period=2), "distribution.period"),
        (lambda d: d["triggers"][2].update(breached=not d["triggers"][2]["breached"]), "trigger.excess"),
        # other note balances give other expenses: the proof was made for the published ones
        (lambda d: d["note_balances"].update({k: 3 * v + 10**9 for k, v in d["note_balances"].items()}),
         "trigger.excess_spread"),
        (lambda d: d["note_balances"].popitem(), "bundle.encoding"),
        (lambda d: d["note_balances"].update({k: -1 for k in d["note_balances"]}), "bundle.encoding"),
    ],
)
def test_a_tampered_trigger_view_is_unverified(rendered: Rendered, tmp_path: Path, change: Any,
                                               check: str) -> None:  # fmt: skip
    folder = _copy(rendered, "deal-investor", tmp_path)
    path = folder / "payment-report-1.json"
    doc = bundle.load_bundle(path)
    change(doc)
    path.write_bytes(bundle.dump_bundle(doc))
    assert _report(folder, tmp_path / "r.html") == 1
    page = read(tmp_path / "r.html")
    failed = {u["data-unverified-bundle"]: u["data-check"] for u in page.unverified}
    assert failed["payment-report-1.json"].startswith(check), failed
    assert "1" not in {r["data-deal-period"] for r in page.triggers}


def test_reports_without_a_deal_file_are_unverified(rendered: Rendered, tmp_path: Path) -> None:
    folder = _copy(rendered, "deal", tmp_path)
    deal_file = tmp_path / "elsewhere.toml"
    (folder / "deal.toml").rename(deal_file)
    assert _report(folder, tmp_path / "r.html") == 1
    page = read(tmp_path / "r.html")
    assert {u["data-check"] for u in page.unverified} == {"deal.file"}
    assert not page.triggers
    # the deal named on the command line instead
    assert _report(folder, tmp_path / "ok.html", "--deal", str(deal_file)) == 0
    assert len(read(tmp_path / "ok.html").triggers) == MONTHS * len(rendered.demo.deal.triggers)


def test_another_deal_file_fails_the_binding(rendered: Rendered, tmp_path: Path) -> None:
    folder = _copy(rendered, "deal", tmp_path)
    text = (
        (folder / "deal.toml")
        .read_text(encoding="utf-8")
        .replace("revolving_periods = 2", "revolving_periods = 3")
    )
    (folder / "deal.toml").write_text(text, encoding="utf-8")
    assert _report(folder, tmp_path / "r.html") == 1
    page = read(tmp_path / "r.html")
    assert {u["data-check"] for u in page.unverified} == {"deal.binding"}


def test_the_command_line_levels_override_the_deal_levels(rendered: Rendered, tmp_path: Path) -> None:
    assert _report(rendered.root / "deal", tmp_path / "r.html", "--cumulative-default-trigger", "500") == 0
    svg = (
        (tmp_path / "r.html")
        .read_text(encoding="utf-8")
        .split('id="chart-deal-cdr"')[1]
        .split("</figure>")[0]
    )
    assert "trigger 5.00%" in svg
    level = rendered.demo.deal.trigger("cdr").level_bps
    assert f"trigger {level // 100}.{level % 100:02d}%" not in svg


# --- Chinese ------------------------------------------------------------------------------------------------


def test_the_chinese_pdf_and_page_carry_the_deal_labels(rendered: Rendered, tmp_path: Path) -> None:
    folder = rendered.root / "deal"
    html, pdf = tmp_path / "zh.html", tmp_path / "zh.pdf"
    assert _report(folder, html, "--pdf", str(pdf), "--lang", "zh") == 0
    page = html.read_text(encoding="utf-8")
    for label in ("各期触发事件", "已触发", "未触发", "现金流分配", "已付利息", "累计违约率"):
        assert label in page
    content = " ".join(p.extract_text() for p in PdfReader(pdf).pages)
    for label in ("投资者报告", "各期触发事件", "已触发", "应付利息", "期末余额"):
        assert label in content, label
    fonts = {
        str(font.get_object().get("/BaseFont"))
        for p in PdfReader(pdf).pages
        for font in (p["/Resources"].get("/Font") or {}).values()
    }
    assert any("STSong-Light" in f for f in fonts)


# --- the extension point: transition matrices and curve families -------------------------------------------


def test_transition_matrices_and_curve_families_render_as_given(rendered: Rendered, tmp_path: Path) -> None:
    def fig(metric: str, cutoff: str, value: Fraction) -> Figure:
        return Figure(metric, cutoff, POOL, "fraction", "derived", ("link-1.json",), "00" * 32, "CNY", value)

    states = ("M0", "M1", "M2")
    pairs = [(a, b) for a in states for b in states if (a, b) != ("M2", "M0")]
    cells = {
        (a, b): fig(f"roll.{a}.{b}", "2024-09-30", Fraction(i + 1, 10)) for i, (a, b) in enumerate(pairs)
    }
    matrix = TransitionMatrix("roll rates", "2024-09-30", states, states, cells)
    curves = CurveFamily(
        "vintage", "cumulative default by months on book", "fraction",
        tuple(Series(v, tuple(fig(f"vintage.{v}", f"m{m:02d}", Fraction(m, 100 + i)) for m in (1, 2, 3)))
              for i, v in enumerate(("2024Q1", "2024Q2"))),
    )  # fmt: skip
    out = tmp_path / "r.html"
    result = render_report(
        rendered.root / "deal", rendered.demo.key.public_key(), out=out, pdf=tmp_path / "r.pdf",
        witnesses=WitnessPolicy.unwitnessed(), transitions=[matrix], curves=[curves],
    )  # fmt: skip
    assert result.exit_code == 0
    page = read(out)
    shown = {f["data-metric"]: f["data-value"] for f in page.figures}
    for (a, b), f in cells.items():
        assert shown[f"roll.{a}.{b}"] == f.exact()
    assert "roll.M2.M0" not in shown
    assert page.charts["curves-vintage"].split() == [f.figure_id for s in curves.curves for f in s.figures]
    content = " ".join(p.extract_text() for p in PdfReader(tmp_path / "r.pdf").pages)
    assert "roll rates" in content
    assert "cumulative default by months on book" in content


# --- fetching the deal from a gateway ----------------------------------------------------------------------


def test_the_fetch_saves_the_deal_and_each_payment_report_and_the_report_verifies_them(
    rendered: Rendered, tmp_path: Path
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from gateway.alerts.deal_records import trigger_view

    reports = rendered.demo.reports
    headers = reports[-1]["headers"]
    root = f"/investor/pools/{POOL}"
    routes: dict[str, Any] = {
        "/investor/pools": [{"pool_id": POOL}],
        f"{root}/snapshots": [{"cutoff_date": h["cutoff_date"]} for h in headers],
        f"{root}/deal": {"pool_id": POOL, "deal_toml": deal_toml(rendered.demo.deal)},
        **{f"{root}/snapshots/{h['cutoff_date']}/header": h for h in headers},
        **{f"{root}/payment-reports/{r['cutoff_date']}": trigger_view(r) for r in reports},
    }

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path in routes:
                self._answer(200, routes[self.path])
            else:
                self._answer(404, {"message": "no such route"})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._answer(403, {"message": "refused by disclosure control"})

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        key = rendered.root / "deal" / "gateway.pub"
        saved, out = tmp_path / "fetched", tmp_path / "r.html"
        code = audit_main(
            ["report", "--url", f"http://127.0.0.1:{server.server_port}", "--api-key", "k", "--key", str(key),
             "--no-witness", "--save-to", str(saved), "--out", str(out)]
        )  # fmt: skip
    finally:
        server.shutdown()
    assert code == 0
    assert (saved / "deal.toml").is_file()
    assert sorted(p.name for p in saved.glob("*-payment-report.json")) == [
        f"{r['cutoff_date']}-payment-report.json" for r in reports
    ]
    page = read(out)
    assert len(page.triggers) == MONTHS * len(rendered.demo.deal.triggers)
    assert {r["data-basis"] for r in page.triggers if r["data-trigger"] == "dq31_3m"} == {"proven_view"}


def test_a_malformed_deal_file_is_unverified_naming_the_rule(rendered: Rendered, tmp_path: Path) -> None:
    folder = _copy(rendered, "deal", tmp_path)
    (folder / "deal.toml").write_text('format = "poolproof/deal/v1"\ndeal_id = \n', encoding="utf-8")
    assert _report(folder, tmp_path / "r.html") == 1
    page = read(tmp_path / "r.html")
    checks = {u["data-unverified-bundle"]: u["data-check"] for u in page.unverified}
    assert checks["deal.toml"] == "deal.file"
    assert all(checks[f"payment-report-{k}.json"] == "deal.file" for k in (1, 2, 3))
    assert "TOML syntax error" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert not page.triggers


def test_the_demo_renders_both_deal_reports(rendered: Rendered, tmp_path: Path) -> None:
    from gateway.snapshots.demo import render_deal_reports

    assert render_deal_reports(tmp_path, rendered.demo) == {"deal": 0, "deal-investor": 0}
    for folder in ("deal", "deal-investor"):
        assert (tmp_path / folder / "report.pdf").stat().st_size > 0
        page = read(tmp_path / folder / "report.html")
        assert len(page.triggers) == MONTHS * len(rendered.demo.deal.triggers)
