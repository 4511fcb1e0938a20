"""The waterfall as public code: its rules on hand-made periods, every published line equal to an
independent plain-pandas recomputation from the raw tapes and the deal file, and a payment report
that is altered anywhere rejected with the check (and the line) named."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs import audit_cli
from proofs.deal import Deal, load_deal, parse_deal
from proofs.errors import EncodingError, VerificationError
from proofs.payment_report import sign_payment_report, verify_payment_report
from proofs.signing import public_key_to_pem
from proofs.waterfall import DealState, PeriodInputs, expenses_due, initial_state, run_waterfall
from tests.test_deal_chain import (
    EXAMPLE,
    SealedChain,
    deal_doc,
    declared_purchases,
    make_deal,
    report_series,
    synthetic_chain,
    with_level,
)
from tests.test_triggers import levels_around, pandas_cdr, pandas_dq31_3m

FLOW_NAMES = (
    "interest",
    "fees",
    "recoveries",
    "scheduled_principal",
    "unscheduled_principal",
    "defaulted_principal",
)
NO_BREACH = {"cdr": False, "dq31_3m": False, "excess_spread": False}


def example() -> Deal:
    return load_deal(EXAMPLE)


def inputs(**kw: int) -> PeriodInputs:
    base = dict(interest=2_000_000, fees=10_000, recoveries=0, scheduled_principal=4_000_000,
                unscheduled_principal=1_000_000, defaulted_principal=200_000)  # fmt: skip
    base.update(kw)
    return PeriodInputs(**base)


def paid(lines: tuple[tuple[str, int], ...]) -> int:
    spent = (
        "senior_fees.paid",
        "reserve.balance",
        "principal.purchases",
        "principal.carried",
        "residual.paid",
    )
    return sum(
        v
        for k, v in lines
        if k in spent or (k.startswith(("interest:", "principal:")) and k.endswith(".paid"))
    )


# -- the rules ---------------------------------------------------------------------------------------


def test_every_unit_of_available_funds_is_paid_somewhere() -> None:
    deal = example()
    state = initial_state(deal)
    for period in range(1, 10):
        dist = run_waterfall(deal, state, inputs(purchase_price=3_000_000), NO_BREACH)
        lines = dist.lines_dict()
        assert paid(dist.lines) == lines["available.total"]
        state = dist.state
        assert state.period == period


def test_during_the_revolving_period_principal_buys_loans_and_the_rest_is_carried() -> None:
    deal = example()
    dist = run_waterfall(deal, initial_state(deal), inputs(purchase_price=3_000_000), NO_BREACH)
    lines = dist.lines_dict()
    assert dist.revolving
    assert lines["principal.purchases"] == 3_000_000
    assert lines["principal.carried"] == 5_000_000 + 200_000 - 3_000_000
    assert dist.state.tranche_balances == initial_state(deal).tranche_balances
    nxt = run_waterfall(deal, dist.state, inputs(purchase_price=0), NO_BREACH)
    assert nxt.lines_dict()["available.principal_carried"] == 2_200_000


def test_after_the_revolving_period_principal_pays_the_notes_pro_rata_to_the_unit() -> None:
    deal = example()
    state = DealState(**{**initial_state(deal).__dict__, "period": deal.revolving_periods})
    dist = run_waterfall(deal, state, inputs(), NO_BREACH)
    lines = dist.lines_dict()
    assert not dist.revolving
    assert dist.principal_mode == "pro_rata"
    shares = [lines[f"principal:{t.id}.paid"] for t in deal.tranches]
    assert sum(shares) == 5_200_000
    total = sum(t.balance_fen for t in deal.tranches)
    for t, s in zip(deal.tranches, shares, strict=True):
        assert abs(s - 5_200_000 * t.balance_fen / total) < 1


def test_a_trigger_in_effect_switches_principal_to_sequential() -> None:
    deal = example()
    state = DealState(**{**initial_state(deal).__dict__, "period": deal.revolving_periods})
    dist = run_waterfall(deal, state, inputs(), {**NO_BREACH, "dq31_3m": True})
    lines = dist.lines_dict()
    assert dist.principal_mode == "sequential"
    assert lines["principal:A.paid"] == 5_200_000
    assert lines["principal:B.paid"] == lines["principal:SUB.paid"] == 0


def test_a_cumulative_default_breach_ends_the_revolving_period_for_good() -> None:
    deal = example()
    first = run_waterfall(deal, initial_state(deal), inputs(), {**NO_BREACH, "cdr": True})
    assert not first.revolving
    assert first.state.revolving_ended
    later = run_waterfall(deal, first.state, inputs(), NO_BREACH)
    assert not later.revolving  # no cure rule: still amortising, still sequential
    assert later.principal_mode == "sequential"


def test_a_shortfall_draws_the_reserve_and_carries_unpaid_interest() -> None:
    deal = example()
    poor = inputs(interest=0, fees=0, scheduled_principal=0, unscheduled_principal=0, defaulted_principal=0)
    start = DealState(**{**initial_state(deal).__dict__, "reserve": 400_000})
    dist = run_waterfall(deal, start, poor, NO_BREACH)
    lines = dist.lines_dict()
    assert lines["available.total"] == 400_000
    assert lines["senior_fees.paid"] == lines["senior_fees.due"]
    assert lines["reserve.balance"] < deal.reserve.target_fen
    owed_b = lines["interest:B.due"] - lines["interest:B.paid"]
    assert owed_b > 0
    assert dist.state.interest_unpaid[1] == owed_b
    nxt = run_waterfall(deal, dist.state, poor, NO_BREACH)
    assert nxt.lines_dict()["interest:B.due"] == owed_b + lines["interest:B.due"]


def test_interest_is_one_month_of_coupon_rounded_half_up() -> None:
    deal = example()
    dist = run_waterfall(deal, initial_state(deal), inputs(), NO_BREACH)
    a = deal.tranches[0]
    assert dist.lines_dict()["interest:A.due"] == (a.balance_fen * a.coupon_bps + 60_000) // 120_000


def test_an_event_of_default_releases_the_reserve() -> None:
    deal = example()
    dist = run_waterfall(deal, initial_state(deal), inputs(), {**NO_BREACH, "excess_spread": True})
    assert dist.lines_dict()["reserve.balance"] == 0
    assert dist.principal_mode == "sequential"


def test_the_waterfall_refuses_statuses_of_other_triggers() -> None:
    with pytest.raises(ValueError, match="exactly the deal's triggers"):
        run_waterfall(example(), initial_state(example()), inputs(), {"cdr": False})


# -- the published reports against an independent recomputation ----------------------------------


def reference_waterfall(deal_toml: dict[str, Any], sealed: SealedChain) -> list[list[list[Any]]]:
    """Every period's lines, from the raw tapes (pandas) and the deal document, by the rules of
    docs/deal.md, written without proofs/ code."""
    tranches = [dict(t) for t in deal_toml["tranches"]]
    trig = {t["id"]: dict(t) for t in deal_toml["triggers"]}
    state = {"bal": {t["id"]: t["balance_fen"] for t in tranches}, "unpaid": {t["id"]: 0 for t in tranches},
             "fees_unpaid": 0, "reserve": deal_toml["reserve"]["initial_fen"], "carried": 0, "ended": False,
             "eff": {k: False for k in trig}, "clear": {k: 0 for k in trig}}  # fmt: skip
    purchases = declared_purchases(sealed)
    out = []
    for k in range(1, len(sealed.tapes)):
        t = pd.read_json(sealed.tapes[k], lines=True)
        s = {c: int(t[f"period_{c}_fen"].sum()) for c in FLOW_NAMES}
        notes = sum(state["bal"].values())
        fee_due = (
            deal_toml["fees"]["fixed_fen"] + (notes * deal_toml["fees"]["servicing_bps"] + 60_000) // 120_000
        )
        coupon = {x["id"]: (state["bal"][x["id"]] * x["coupon_bps"] + 60_000) // 120_000 for x in tranches}
        revenue = s["interest"] + s["fees"] + s["recoveries"]
        cdr_num, cdr_den = pandas_cdr(sealed, k)
        dq_num, dq_den = pandas_dq31_3m(sealed, k)
        breach = {}
        for tid, tr in trig.items():
            if tr["kind"] == "cumulative_default_rate":
                breach[tid] = cdr_num * 10_000 > tr["level_bps"] * cdr_den
            elif tr["kind"] == "delinquency_31plus_3m":
                breach[tid] = dq_num * 10_000 > tr["level_bps"] * dq_den
            else:
                breach[tid] = revenue < fee_due + sum(coupon.values())
        for tid, tr in trig.items():
            if breach[tid]:
                state["eff"][tid], state["clear"][tid] = True, 0
            elif state["eff"][tid] and "cure_periods" in tr:
                state["clear"][tid] += 1
                if state["clear"][tid] >= tr["cure_periods"]:
                    state["eff"][tid], state["clear"][tid] = False, 0
        effects = {trig[tid]["effect"] for tid, on in state["eff"].items() if on}
        state["ended"] = state["ended"] or bool(effects & {"accelerated_amortisation", "event_of_default"})
        revolving = not state["ended"] and k <= deal_toml["revolving_periods"]
        sequential = deal_toml["priority_of_payments"]["principal_mode"] == "sequential" or bool(effects)
        avail = (
            revenue
            + s["scheduled_principal"]
            + s["unscheduled_principal"]
            + state["carried"]
            + state["reserve"]
        )
        lines: list[list[Any]] = [
            ["available.interest_collections", revenue],
            ["available.principal_collections", s["scheduled_principal"] + s["unscheduled_principal"]],
            ["available.principal_carried", state["carried"]],
            ["available.reserve", state["reserve"]],
            ["available.total", avail],
        ]
        carried = 0
        for step in deal_toml["priority_of_payments"]["steps"]:
            if step == "senior_fees":
                owed = fee_due + state["fees_unpaid"]
                pay = min(avail, owed)
                avail -= pay
                state["fees_unpaid"] = owed - pay
                lines += [["senior_fees.due", owed], ["senior_fees.paid", pay]]
            elif step.startswith("interest:"):
                tid = step.split(":")[1]
                owed = coupon[tid] + state["unpaid"][tid]
                pay = min(avail, owed)
                avail -= pay
                state["unpaid"][tid] = owed - pay
                lines += [[f"{step}.due", owed], [f"{step}.paid", pay]]
            elif step == "reserve":
                target = 0 if "event_of_default" in effects else deal_toml["reserve"]["target_fen"]
                state["reserve"] = min(avail, target)
                avail -= state["reserve"]
                lines.append(["reserve.balance", state["reserve"]])
            elif step == "principal":
                amount = min(avail, s["scheduled_principal"] + s["unscheduled_principal"]
                             + s["defaulted_principal"] + state["carried"])  # fmt: skip
                if revolving:
                    buy = min(amount, purchases[k - 1])
                    carried = amount - buy
                    lines += [["principal.purchases", buy], ["principal.carried", carried]]
                else:
                    amount = min(amount, sum(state["bal"].values()))
                    if sequential:
                        left = amount
                        for x in tranches:
                            p = min(left, state["bal"][x["id"]])
                            left -= p
                            lines.append([f"principal:{x['id']}.paid", p])
                            state["bal"][x["id"]] -= p
                    else:
                        total = sum(state["bal"].values())
                        share = {x["id"]: amount * state["bal"][x["id"]] // total for x in tranches}
                        left = amount - sum(share.values())
                        for x in tranches:
                            extra = min(left, state["bal"][x["id"]] - share[x["id"]])
                            share[x["id"]] += extra
                            left -= extra
                        for x in tranches:
                            lines.append([f"principal:{x['id']}.paid", share[x["id"]]])
                            state["bal"][x["id"]] -= share[x["id"]]
                avail -= amount
            elif step == "residual":
                lines.append(["residual.paid", avail])
                avail = 0
        state["carried"] = carried
        out.append(lines)
    return out


@pytest.fixture(scope="module")
def sealed() -> SealedChain:
    return synthetic_chain()


def stressed(sealed: SealedChain) -> dict[str, Any]:
    """Levels near the pool's figures, so triggers breach in some periods and not in others."""
    cdr_level = levels_around(*pandas_cdr(sealed, 2))[0]
    dq_level = levels_around(*pandas_dq31_3m(sealed, 1))[1]
    return deal_doc(sealed, cdr=with_level("cdr", cdr_level), dq=with_level("dq31_3m", dq_level))


@pytest.mark.parametrize("kind", ["plain", "stressed", "sequential"])
def test_every_published_line_equals_the_independent_recomputation(sealed: SealedChain, kind: str) -> None:
    if kind == "plain":
        doc = deal_doc(sealed)
    elif kind == "stressed":
        doc = stressed(sealed)
    else:
        doc = deal_doc(sealed, revolving_periods=1)
        doc["priority_of_payments"]["principal_mode"] = "sequential"
    deal = parse_deal(doc)
    reports = report_series(sealed, deal)
    expected = reference_waterfall(tomllib.loads(_toml_roundtrip(doc)), sealed)
    for k, report in enumerate(reports):
        verify_payment_report(report, deal, sealed.key.public_key(), previous=reports[k - 1] if k else None)
        assert report["lines"] == expected[k], f"period {k + 1}"


def _toml_roundtrip(doc: dict[str, Any]) -> str:
    """The deal document as TOML text again (the reference reads the deal file, not our parser)."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, dict[str, Any]]] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            arrays.extend((key, v) for v in value)
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    for key, table in tables:
        lines.append(f"[{key}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items())
    for key, table in arrays:
        lines.append(f"[[{key}]]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def test_the_stressed_deal_breaches_and_switches(sealed: SealedChain) -> None:
    deal = parse_deal(stressed(sealed))
    reports = report_series(sealed, deal)
    statuses = [{e["id"]: e["breached"] for e in r["triggers"]} for r in reports]
    assert any(s["cdr"] for s in statuses)
    assert not statuses[0]["cdr"]
    assert reports[0]["switches"]["revolving"]
    assert not reports[-1]["switches"]["revolving"]
    assert reports[-1]["switches"]["principal_mode"] == "sequential"


# -- a tampered report ---------------------------------------------------------------------------------


def resigned(sealed: SealedChain, doc: dict[str, Any]) -> dict[str, Any]:
    return sign_payment_report(sealed.key, {k: v for k, v in doc.items() if k != "signatures"})


def test_an_altered_payment_is_rejected_naming_the_line(sealed: SealedChain) -> None:
    deal = parse_deal(stressed(sealed))
    reports = report_series(sealed, deal)
    forged = copy.deepcopy(reports[3])
    idx = next(i for i, (n, _) in enumerate(forged["lines"]) if n == "principal:A.paid")
    forged["lines"][idx][1] += 100
    residual = next(i for i, (n, _) in enumerate(forged["lines"]) if n == "residual.paid")
    forged["lines"][residual][1] -= 100  # still adds up: only the waterfall's rules catch it
    with pytest.raises(VerificationError, match=r"distribution\.line: principal:A\.paid: the report says"):
        verify_payment_report(resigned(sealed, forged), deal, sealed.key.public_key(), previous=reports[2])


def test_an_altered_closing_state_is_rejected(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    reports = report_series(sealed, deal)
    forged = copy.deepcopy(reports[1])
    forged["state_after"]["tranche_balances"]["A"] -= 1
    with pytest.raises(VerificationError, match=r"distribution\.state_after"):
        verify_payment_report(resigned(sealed, forged), deal, sealed.key.public_key(), previous=reports[0])


def test_an_altered_input_is_rejected(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    reports = report_series(sealed, deal)
    forged = copy.deepcopy(reports[0])
    forged["inputs"]["interest"]["value"] += 1
    with pytest.raises(VerificationError, match=r"distribution\.inputs\.interest"):
        verify_payment_report(resigned(sealed, forged), deal, sealed.key.public_key())


def test_a_start_state_that_is_not_the_previous_end_is_rejected(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    reports = report_series(sealed, deal)
    with pytest.raises(VerificationError, match=r"distribution\.previous"):
        verify_payment_report(reports[2], deal, sealed.key.public_key(), previous=reports[0])
    with pytest.raises(VerificationError, match=r"distribution\.previous"):
        verify_payment_report(reports[2], deal, sealed.key.public_key())


def test_a_report_under_another_deal_is_rejected(sealed: SealedChain) -> None:
    reports = report_series(sealed, make_deal(sealed))
    with pytest.raises(VerificationError, match=r"deal\.binding"):
        verify_payment_report(reports[0], make_deal(sealed, version=2), sealed.key.public_key())


def test_a_report_signed_by_another_key_is_rejected(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    body = {k: v for k, v in report_series(sealed, deal)[0].items() if k != "signatures"}
    forged = sign_payment_report(Ed25519PrivateKey.generate(), body)
    with pytest.raises(VerificationError, match=r"distribution\.signature"):
        verify_payment_report(forged, deal, sealed.key.public_key())


def test_expenses_due_are_fees_and_coupons_on_the_opening_balances() -> None:
    deal = example()
    state = initial_state(deal)
    notes = sum(t.balance_fen for t in deal.tranches)
    coupons = sum((t.balance_fen * t.coupon_bps + 60_000) // 120_000 for t in deal.tranches)
    fee = deal.fees.fixed_fen + (notes * deal.fees.servicing_bps + 60_000) // 120_000
    assert expenses_due(deal, state) == fee + coupons


# -- poolproof-audit verify-distribution -------------------------------------------------------------


def _write(tmp: Path, name: str, doc: dict[str, Any]) -> str:
    path = tmp / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_the_audit_command_verifies_a_period_and_names_a_changed_line(
    sealed: SealedChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = stressed(sealed)
    deal = parse_deal(doc)
    reports = report_series(sealed, deal)
    deal_file = tmp_path / "deal.toml"
    deal_file.write_text(_toml_roundtrip(doc))
    key = tmp_path / "gateway.pub"
    key.write_bytes(public_key_to_pem(sealed.key.public_key()))
    prev, cur = _write(tmp_path, "p2.json", reports[1]), _write(tmp_path, "p3.json", reports[2])
    args = [
        "verify-distribution",
        cur,
        "--deal",
        str(deal_file),
        "--previous",
        prev,
        "--key",
        str(key),
        "--json",
    ]
    assert audit_cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"]
    assert "period 3" in out["verified"]
    forged = copy.deepcopy(reports[2])
    idx = next(i for i, (n, _) in enumerate(forged["lines"]) if n == "senior_fees.paid")
    forged["lines"][idx][1] -= 1
    bad = _write(tmp_path, "bad.json", resigned(sealed, forged))
    assert audit_cli.main([*args[:1], bad, *args[2:]]) == 1
    failure = json.loads(capsys.readouterr().out)
    assert failure["check"] == "distribution.line"
    assert "senior_fees.paid" in failure["error"]


def test_the_audit_command_reports_a_broken_deal_file_as_unusable(
    sealed: SealedChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deal_file = tmp_path / "deal.toml"
    deal_file.write_text(EXAMPLE.read_text().replace("level_bps = 600", "level_bps = 0"))
    key = tmp_path / "gateway.pub"
    key.write_bytes(public_key_to_pem(sealed.key.public_key()))
    report = _write(tmp_path, "r.json", report_series(sealed, make_deal(sealed))[0])
    assert (
        audit_cli.main(["verify-distribution", report, "--deal", str(deal_file), "--key", str(key), "--json"])
        == 2
    )
    assert "triggers[0].level_bps" in json.loads(capsys.readouterr().out)["error"]


# -- properties and hostile reports -----------------------------------------------------------------

amounts = st.integers(min_value=0, max_value=10**10)


@settings(max_examples=200, deadline=None)
@given(
    interest=amounts, fees=amounts, recoveries=amounts, scheduled=amounts, unscheduled=amounts,
    defaulted=amounts, price=amounts, reserve=amounts, carried=amounts, period=st.integers(0, 12),
    breaches=st.lists(st.booleans(), min_size=3, max_size=3), ended=st.booleans(),
)  # fmt: skip
def test_any_period_pays_out_exactly_its_available_funds_and_round_trips(
    interest: int, fees: int, recoveries: int, scheduled: int, unscheduled: int, defaulted: int,
    price: int, reserve: int, carried: int, period: int, breaches: list[bool], ended: bool,
) -> None:  # fmt: skip
    deal = example()
    start = DealState(**{**initial_state(deal).__dict__, "period": period, "reserve": reserve,
                         "principal_carried": carried, "revolving_ended": ended})  # fmt: skip
    flows = PeriodInputs(interest, fees, recoveries, scheduled, unscheduled, defaulted, price)
    dist = run_waterfall(
        deal, start, flows, dict(zip(("cdr", "dq31_3m", "excess_spread"), breaches, strict=True))
    )
    lines = dist.lines_dict()
    assert paid(dist.lines) == lines["available.total"]
    assert all(v >= 0 for v in lines.values())
    assert all(b >= 0 for b in dist.state.tranche_balances)
    assert sum(start.tranche_balances) - sum(dist.state.tranche_balances) == sum(
        v for k, v in lines.items() if k.startswith("principal:")
    )
    assert DealState.from_dict(deal, dist.state.to_dict(deal)) == dist.state
    assert lines["principal.purchases"] <= price if dist.revolving else "principal.purchases" not in lines


def _mutations() -> list[tuple[str, Any]]:
    def setter(path: list[Any], value: Any) -> Any:
        def edit(doc: dict[str, Any]) -> None:
            target = doc
            for p in path[:-1]:
                target = target[p]
            target[path[-1]] = value

        return edit

    return [
        ("a header that is not an object", setter(["headers", 1], 1)),
        ("lines that are not a list", setter(["lines"], "x")),
        ("a line amount as true", setter(["lines", 0, 1], True)),
        ("a trigger entry that is a string", setter(["triggers", 0], "cdr")),
        ("a trigger status that is a number", setter(["triggers", 0, "breached"], 1)),
        ("an input without its proof", setter(["inputs", "interest"], {"value": 1})),
        ("a state with a negative balance", setter(["state_before", "reserve"], -1)),
        ("a state missing a member", lambda d: d["state_before"].pop("reserve")),
        ("an unknown member", setter(["colour"], "blue")),
        ("a period of zero", setter(["period"], 0)),
        (
            "a cumulative figure that is a string",
            setter(["cumulative", "cumulative_recoveries", "value"], "0"),
        ),
    ]


@pytest.mark.parametrize(("what", "edit"), _mutations(), ids=[m[0] for m in _mutations()])
def test_a_malformed_report_is_refused_with_a_named_error(sealed: SealedChain, what: str, edit: Any) -> None:
    deal = make_deal(sealed)
    reports = report_series(sealed, deal)
    forged = copy.deepcopy(reports[1])
    edit(forged)
    with pytest.raises((EncodingError, VerificationError)):
        verify_payment_report(resigned(sealed, forged), deal, sealed.key.public_key(), previous=reports[0])
