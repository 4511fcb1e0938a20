"""Eligibility of purchases (proofs/eligibility.py) on small snapshots of real Lending Club loans:
the honest round trip, every criterion recomputed by plain pandas from the raw records, a malicious
prover for every criterion (each rejected with its check named), tampering, a property test."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import bundle, eligibility
from proofs.bulletproofs import RangeProof, decode_ranges, pad_widths
from proofs.deal import Deal
from proofs.eligibility import (
    ATTRIBUTES,
    EligibilityError,
    check_records,
    investor_view,
    prove_eligibility,
    purchase_layout,
    verify_eligibility,
)
from proofs.errors import EncodingError, VerificationError
from proofs.group import get_group
from proofs.lanes import pool_v3
from tests.eligibility_util import (
    FLOW_CAPS,
    Period,
    linked_lane_set,
    make_deal,
    registered,
    seal_period,
    tape_rows,
)
from tests.json_paths import json_paths
from tests.tampering import tampered_proofs

GROUP = get_group()


@pytest.fixture(scope="module")
def period() -> Iterator[Period]:
    with registered(linked_lane_set()) as lanes:
        yield seal_period(lanes, tape_rows())


@pytest.fixture(scope="module")
def late_period() -> Iterator[Period]:
    """A period whose purchases include a loan in its grace period and whose collections do not
    cover the price (no prepayments); ``balance_M0`` sits at bit 7, not 0."""
    with registered(linked_lane_set("pool-v4:elig-test-shifted", balance_m0_shift=7)) as lanes:
        tape = tape_rows()
        tape = tape[tape["state"] != "PREPAID"].reset_index(drop=True)
        late = _late_purchase(tape)
        yield seal_period(lanes, late)


def _late_purchase(tape: pd.DataFrame) -> pd.DataFrame:
    """``tape`` with one more purchased loan: the first raw loan in its grace period."""
    from tests.eligibility_util import TAPE

    raw = pd.read_csv(TAPE, dtype=str, keep_default_na=False, nrows=2000)
    row = raw[raw["loan_status"] == "In Grace Period"].head(1)
    assert len(row) == 1
    extra = tape.iloc[[-1]].copy()
    from decimal import Decimal

    from tests.reference.abs_metrics import cents

    extra["exposure_id"] = f"E{len(tape):06d}"
    extra["loan_status"] = row["loan_status"].iloc[0]
    extra["state"] = "M1"  # docs/metrics.md: In Grace Period is 1-15 days past due
    extra["balance_fen"] = cents(row["balance"].iloc[0])
    extra["nominal_rate_bps"] = int(Decimal(row["interest_rate"].iloc[0]) * 100)
    extra["apr_bps"] = extra["nominal_rate_bps"]
    extra["region"] = row["state"].iloc[0]
    extra["paid_principal_fen"] = cents(row["paid_principal"].iloc[0])
    return pd.concat([tape, extra]).reset_index(drop=True)


def _prove(p: Period, deal: Deal, **kw: Any) -> dict[str, Any]:
    return prove_eligibility(
        p.header, deal, p.purchased(GROUP), p.collections(), p.sealed.key, ipa_rounds=0, **kw
    )


def _verify(p: Period, doc: Any, deal: Deal, *, complete: bool = True) -> eligibility.Verified:
    extra: dict[str, Any] = {}
    if complete:
        extra = {"previous_exposures": p.previous_exposures, "snapshot_exposures": p.exposures}
    return verify_eligibility(doc, p.sealed.key.public_key(), p.header, deal, **extra)


# -- the criteria by plain pandas from the raw records ----------------------------------------------------


def expected_failures(tape: pd.DataFrame, deal: Deal) -> dict[str, list[str]]:
    """Every criterion of docs/deal.md, evaluated on the tape's rows (nothing from proofs/)."""
    c = deal.purchase_criteria
    bought = tape[tape["purchased"]]
    checks = {
        "state": bought["state"] == "M0",  # 0 days past due at the cut-off
        "balance": bought["balance_fen"] <= c.max_balance_fen,
        "nominal_rate_bps": bought["nominal_rate_bps"].between(c.nominal_rate_bps.lo, c.nominal_rate_bps.hi),
        "apr_bps": bought["apr_bps"].between(c.apr_bps.lo, c.apr_bps.hi),
        "original_term_months": bought["original_term_months"].between(*_b(c.original_term_months)),
        "remaining_term_months": bought["remaining_term_months"].between(*_b(c.remaining_term_months)),
        "region": ~bought["region"].isin(list(c.excluded_regions)),
    }
    out = {k: list(bought.loc[~ok, "exposure_id"]) for k, ok in checks.items() if (~ok).any()}
    # Principal collections: scheduled + unscheduled principal of every loan of the snapshot; the
    # price: the purchased loans' balances.
    collections = int(tape["paid_principal_fen"].clip(upper=FLOW_CAPS[0]).sum())
    if int(bought["balance_fen"].sum()) > collections:
        out["purchase_price"] = list(bought["exposure_id"])
    return out


def _b(b: Any) -> tuple[int, int]:
    return b.lo, b.hi


# -- the honest round trip ---------------------------------------------------------------------------


def test_honest_purchases_hold_for_trustee_and_investor(period: Period) -> None:
    deal = make_deal()
    assert expected_failures(period.tape, deal) == {}
    doc = _prove(period, deal)
    assert doc["holds"] is True
    assert doc["failed"] == []
    full = _verify(period, doc, deal)
    assert full.holds
    assert full.purchased == int(period.tape["purchased"].sum())
    assert set(full.exposure_ids) == set(period.tape.loc[period.tape["purchased"], "exposure_id"])
    for check in ("state", "balance", *ATTRIBUTES, "region", "purchase_price", "inclusion", "completeness"):
        assert f"eligibility.{check}" in full.checked
    assert full.unchecked == ("concentration:region",)
    check_records(doc, {r.exposure_id: _attrs(r) for r in period.tape.itertuples()})
    view = investor_view(doc)
    text = json.dumps(view)
    for eid in period.tape["exposure_id"]:
        assert eid not in text
    for value in period.tape.loc[period.tape["purchased"], "balance_fen"]:
        assert f'"{value}"' not in text
        assert f" {value}," not in text
    seen = _verify(period, json.loads(text), deal, complete=False)
    assert seen.holds
    assert "eligibility.purchase_price" in seen.checked
    assert "eligibility.inclusion" not in seen.checked
    assert seen.exposure_ids == ()


def _attrs(r: Any) -> dict[str, int]:
    return {a: int(getattr(r, a)) for a in ATTRIBUTES}


@pytest.mark.parametrize(
    "criteria",
    [
        {"max_balance_fen": 1_500_000},
        {"nominal_rate_bps": [500, 1200], "apr_bps": [500, 1200], "legal_rate_cap_bps": 1200},
        {"nominal_rate_bps": [1300, 3600]},
        {"original_term_months": [36, 48]},
        {"remaining_term_months": [1, 40]},
        {"excluded_regions": ["PR", "CA", "TX", "NY", "FL"]},
    ],
    ids=lambda c: ",".join(c),
)
def test_an_ineligible_purchase_gives_a_signed_does_not_hold_naming_it(
    period: Period, criteria: dict[str, Any]
) -> None:
    deal = make_deal(**criteria)
    expected = expected_failures(period.tape, deal)
    assert expected, "the variant must make some purchase ineligible"
    doc = _prove(period, deal)
    assert doc["holds"] is False
    assert doc["failed"] == list(expected)
    assert "proofs" not in doc
    got = _verify(period, doc, deal)
    assert not got.holds
    assert {k: list(v) for k, v in got.failing.items()} == expected
    seen = _verify(period, investor_view(doc), deal, complete=False)
    assert seen.failed == tuple(expected)
    assert seen.failing == {}


def test_a_late_purchase_and_a_price_above_collections_do_not_hold(late_period: Period) -> None:
    deal = make_deal()
    expected = expected_failures(late_period.tape, deal)
    assert set(expected) == {"state", "purchase_price"}
    doc = _prove(late_period, deal)
    assert doc["failed"] == ["state", "purchase_price"]
    assert dict(_verify(late_period, doc, deal).failing) == {k: tuple(v) for k, v in expected.items()}


def test_the_prover_refuses_a_packing_the_proof_cannot_read() -> None:
    with pytest.raises(EligibilityError, match="count lanes must sit alone"):
        purchase_layout(pool_v3(900_000, (900_000,) * 7))


# -- a malicious prover ---------------------------------------------------------------------------------


def _forge(monkeypatch: pytest.MonkeyPatch, clamp: bool = True) -> None:
    """The prover skips its own check and claims an in-range value wherever the true one is not."""
    monkeypatch.setattr(eligibility, "failures", lambda *a: {})
    if clamp:
        monkeypatch.setattr(
            eligibility,
            "_claimed",
            lambda c, vs, ws: [
                min(v, (1 << w) - 1) if v < 1 << 64 else 0 for v, w in zip(vs, ws, strict=False)
            ],
        )


@pytest.mark.parametrize(
    ("criteria", "check"),
    [
        ({"max_balance_fen": 1_500_000}, "eligibility.balance"),
        (
            {"nominal_rate_bps": [500, 1200], "apr_bps": [500, 3600], "legal_rate_cap_bps": 3600},
            "eligibility.nominal_rate_bps",
        ),
        ({"apr_bps": [1300, 3600]}, "eligibility.apr_bps"),
        ({"original_term_months": [36, 48]}, "eligibility.original_term_months"),
        ({"remaining_term_months": [1, 40]}, "eligibility.remaining_term_months"),
    ],
    ids=lambda x: x if isinstance(x, str) else ",".join(x),
)
def test_a_hidden_ineligible_purchase_is_rejected(
    period: Period, monkeypatch: pytest.MonkeyPatch, criteria: dict[str, Any], check: str
) -> None:
    deal = make_deal(**criteria)
    assert expected_failures(period.tape, deal)
    _forge(monkeypatch)
    doc = _prove(period, deal)
    assert doc["holds"] is True
    monkeypatch.undo()
    with pytest.raises(VerificationError) as err:
        _verify(period, investor_view(doc), deal, complete=False)
    assert err.value.check == check


def test_a_rate_committed_falsely_is_caught_against_the_tape(
    period: Period, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh commitment binds only through the signature: the prover commits a legal rate for a
    loan whose tape rate is above the cap; the trustee's re-check against the signed tape names it."""
    deal = make_deal(nominal_rate_bps=[500, 1200], apr_bps=[500, 3600], legal_rate_cap_bps=3600)
    loans = period.purchased(GROUP)
    lied = [
        eligibility.PurchasedLoan(
            x.exposure_id,
            x.leaf_index,
            x.cells,
            x.inputs,
            x.input_openings,
            {**x.attributes, "nominal_rate_bps": min(x.attributes["nominal_rate_bps"], 1200)},
            x.inclusion_path,
        )
        for x in loans
    ]
    doc = prove_eligibility(period.header, deal, lied, period.collections(), period.sealed.key, ipa_rounds=0)
    assert _verify(period, doc, deal).holds  # the proofs alone cannot see it
    with pytest.raises(VerificationError) as err:
        check_records(doc, {r.exposure_id: _attrs(r) for r in period.tape.itertuples()})
    assert err.value.check == "eligibility.records"


def test_a_purchase_in_an_excluded_region_is_rejected(
    period: Period, monkeypatch: pytest.MonkeyPatch
) -> None:
    region = period.tape.loc[period.tape["purchased"], "region"].iloc[0]
    deal = make_deal(excluded_regions=["PR", region])
    _forge(monkeypatch)
    doc = _prove(period, deal)
    monkeypatch.undo()
    with pytest.raises(VerificationError) as err:
        _verify(period, doc, deal)
    assert err.value.check == "eligibility.region"


def test_a_purchase_left_out_of_the_statement_is_rejected(period: Period) -> None:
    deal = make_deal()
    bought = list(period.tape.loc[period.tape["purchased"], "exposure_id"])
    doc = prove_eligibility(
        period.header,
        deal,
        period.purchased(GROUP, only=bought[1:]),
        period.collections(),
        period.sealed.key,
        ipa_rounds=0,
    )
    with pytest.raises(VerificationError) as err:
        _verify(period, doc, deal)
    assert err.value.check == "eligibility.completeness"
    assert bought[0] in str(err.value)


def test_a_late_purchase_hidden_is_rejected(late_period: Period, monkeypatch: pytest.MonkeyPatch) -> None:
    deal = make_deal()
    _forge(monkeypatch)
    late = list(late_period.tape.loc[late_period.tape["state"] == "M1", "exposure_id"])
    # Collections cover the price without the late loan's balance? Not needed: state is checked first.
    doc = _prove(late_period, deal)
    monkeypatch.undo()
    assert late
    assert doc["holds"] is True
    with pytest.raises(VerificationError) as err:
        _verify(late_period, investor_view(doc), deal, complete=False)
    assert err.value.check == "eligibility.state"


def test_a_price_above_collections_hidden_is_rejected(
    late_period: Period, monkeypatch: pytest.MonkeyPatch
) -> None:
    deal = make_deal()
    on_time = list(
        late_period.tape.loc[
            late_period.tape["purchased"] & (late_period.tape["state"] == "M0"), "exposure_id"
        ]
    )
    _forge(monkeypatch)
    doc = prove_eligibility(
        late_period.header, deal, late_period.purchased(GROUP, only=on_time), late_period.collections(),
        late_period.sealed.key, ipa_rounds=0,
    )  # fmt: skip
    monkeypatch.undo()
    with pytest.raises(VerificationError) as err:
        _verify(late_period, investor_view(doc), deal, complete=False)
    assert err.value.check == "eligibility.purchase_price"


def test_a_bundle_of_another_period_or_pool_is_rejected(period: Period, late_period: Period) -> None:
    deal = make_deal()
    doc = _prove(period, deal)
    with pytest.raises(VerificationError) as err:
        verify_eligibility(doc, period.sealed.key.public_key(), late_period.header, deal)
    assert err.value.check in ("eligibility.signature", "eligibility.period")
    # Same key, other period: the snapshot header hash names it.
    moved = {
        **bundle.unsigned_body(investor_view(doc)),
        "snapshot_header_hash": late_period.header.hash.hex(),
    }
    resigned = bundle.sign_document(period.sealed.key, "eligibility", moved)
    with pytest.raises(VerificationError) as err:
        verify_eligibility(resigned, period.sealed.key.public_key(), period.header, deal)
    assert err.value.check == "eligibility.period"
    other_pool = Deal(**{**deal.__dict__, "pool_id": "POOL-2"})
    with pytest.raises(VerificationError) as err:
        _verify(period, doc, other_pool)
    assert err.value.check == "eligibility.pool"
    other_deal = make_deal(max_balance_fen=3_999_999)
    with pytest.raises(VerificationError) as err:
        _verify(period, doc, other_deal)
    assert err.value.check == "deal.binding"


# -- tampering -------------------------------------------------------------------------------------------


def _mutate(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return (value[:-1] + ("0" if value[-1] != "0" else "1")) if value else "x"
    if value is None:
        return 1
    if isinstance(value, list):
        return value[:-1] if value else [0]
    return {**value, "extra": 1}


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for k in path[:-1]:
        doc = doc[k]
    doc[path[-1]] = value


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def test_every_field_tampered_is_rejected(period: Period) -> None:
    deal = make_deal()
    doc = _prove(period, deal)
    paths = [p for p in json_paths(doc, max_items=2) if p]
    assert len(paths) > 60
    for path in paths:
        forged = copy.deepcopy(doc)
        _set(forged, path, _mutate(_get(doc, path)))
        with pytest.raises((VerificationError, EncodingError)):
            _verify(period, forged, deal)
    # The investor's view carries no trustee part, and must not gain one.
    with pytest.raises((VerificationError, EncodingError)):
        _verify(period, {**investor_view(doc), "loans": {"loans": [], "failing": {}}}, deal, complete=False)


def test_every_part_of_every_proof_altered_is_rejected(period: Period) -> None:
    """Re-signed after the change, so what rejects it is the proof itself."""
    deal = make_deal()
    doc = prove_eligibility(
        period.header, deal, period.purchased(GROUP), period.collections(), period.sealed.key
    )
    layout = purchase_layout(period.header.lanes)
    for criterion, data in doc["proofs"].items():
        widths = _widths(period, deal, layout, criterion, doc)
        proof = decode_ranges(GROUP, bytes.fromhex(data), widths, None)
        for name, bad in tampered_proofs(GROUP, proof, ("A", "S", "T1", "T2")):
            forged = _resigned(period, doc, {**doc["proofs"], criterion: RangeProof.to_bytes(bad).hex()})
            with pytest.raises(VerificationError) as err:
                _verify(period, forged, deal, complete=False)
            assert err.value.check == f"eligibility.{criterion}", name


def _widths(period: Period, deal: Deal, layout: Any, criterion: str, doc: dict[str, Any]) -> tuple[int, ...]:
    rows = [{k: GROUP.decode_point(bytes.fromhex(v)) for k, v in row.items()} for row in doc["commitments"]]
    derived = eligibility._derive(GROUP, period.header, deal, layout, rows)
    return pad_widths(derived.widths[criterion])


def _resigned(period: Period, doc: dict[str, Any], proofs: dict[str, str]) -> dict[str, Any]:
    body = {**bundle.unsigned_body(investor_view(doc)), "proofs": proofs}
    return bundle.sign_document(period.sealed.key, "eligibility", body)


def test_a_count_blinding_for_other_states_does_not_open(period: Period) -> None:
    deal = make_deal()
    doc = _prove(period, deal)
    from proofs.group import ORDER, scalar_from_bytes, scalar_to_bytes

    rho = scalar_from_bytes(bytes.fromhex(doc["count_blinding"]))
    body = {
        **bundle.unsigned_body(investor_view(doc)),
        "count_blinding": scalar_to_bytes((rho + 1) % ORDER).hex(),
    }
    with pytest.raises(VerificationError) as err:
        _verify(period, bundle.sign_document(period.sealed.key, "eligibility", body), deal, complete=False)
    assert err.value.check == "eligibility.state"


# -- a property test ---------------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    max_balance=st.integers(500_000, 4_000_000),
    rate=st.tuples(st.integers(0, 2000), st.integers(1000, 3600)).filter(lambda t: t[0] <= t[1]),
    remaining=st.tuples(st.integers(0, 40), st.integers(30, 60)).filter(lambda t: t[0] <= t[1]),
)
def test_the_statement_holds_exactly_when_pandas_says_every_criterion_holds(
    period: Period, max_balance: int, rate: tuple[int, int], remaining: tuple[int, int]
) -> None:
    deal = make_deal(
        max_balance_fen=max_balance, nominal_rate_bps=list(rate), apr_bps=list(rate),
        legal_rate_cap_bps=max(rate[1], 1), remaining_term_months=list(remaining),
    )  # fmt: skip
    expected = expected_failures(period.tape, deal)
    doc = _prove(period, deal)
    got = _verify(period, doc, deal)
    assert got.holds == (not expected)
    assert {k: list(v) for k, v in got.failing.items()} == expected
