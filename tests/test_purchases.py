"""A period's purchases, proven: the loans new in the snapshot, their price committed and checked.

Each payment report of a chain sealed under a packed lane set with flows carries, per period, the
purchase evidence of :mod:`proofs.purchases`. The price it discloses is recomputed here with pandas
from the raw tapes (the loans of tape ``t`` absent from tape ``t − 1``: balance plus the period's
scheduled and unscheduled principal and write-off); the cumulative default rate and its trigger
use it; the investor's trigger-status view proves the cumulative default trigger on the commitment
without the figure. Every element of the evidence altered is rejected; a gateway that commits a
false row (a purchase hidden, a held loan counted as bought) passes the signature and the proofs
but not the auditor's row check against the two snapshots' leaves, which is the check named.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.alerts.deal_records import trigger_view
from proofs import bundle
from proofs.deal import Deal
from proofs.errors import EncodingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import ORDER, POINT_BYTES, get_group, random_scalar
from proofs.link import prove_link, read_leaves, verify_link
from proofs.loan_facts import FLOWS
from proofs.payment_report import (
    build_payment_report,
    chain_with_purchases,
    proven_purchase_entry,
    report_hash,
    sign_payment_report,
    verify_payment_report,
)
from proofs.pedersen import Opening, commit, commit_opening
from proofs.purchases import (
    PRICE_METRIC,
    bound_bits,
    check_entries_row,
    entries_row,
    new_loan_totals,
    price_opening,
    prove_purchases,
    verify_purchases,
)
from proofs.report.deal import verify_trigger_view
from proofs.snapshot import Header, loan_blindings, verify_header
from proofs.triggers import BPS
from proofs.waterfall import DealState, initial_state
from tests.link_chain import LANES, first_facts, next_facts, seal_month
from tests.test_deal_chain import (
    PERIODS,
    SealedChain,
    declared_purchases,
    make_deal,
    synthetic_chain,
    verified,
    with_level,
)

GROUP = get_group()


@pytest.fixture(scope="module")
def sealed() -> SealedChain:
    return synthetic_chain()


def pandas_prices(sealed: SealedChain) -> list[int]:
    """Per period, the start-of-period principal of the loans in tape t that tape t − 1 lacks."""
    out = []
    for k in range(1, len(sealed.tapes)):
        before = pd.read_json(sealed.tapes[k - 1], lines=True, dtype={"platform_loan_id": str})
        now = pd.read_json(sealed.tapes[k], lines=True, dtype={"platform_loan_id": str})
        new = now[~now["platform_loan_id"].isin(before["platform_loan_id"])]
        cols = ["current_principal_fen", "period_scheduled_principal_fen",
                "period_unscheduled_principal_fen", "period_written_off_fen"]  # fmt: skip
        out.append(int(new[cols].to_numpy().sum()))
    return out


def _parts(sealed: SealedChain, k: int, *, skip: int = 0, extra: int = 0) -> tuple[int, list[int], list[int]]:
    """The prover's entries of snapshot ``k`` (optionally hiding ``skip`` purchases or counting
    ``extra`` held loans as bought, as a dishonest gateway would)."""
    held = {f.exposure_id for f in sealed.facts[k - 1]}
    new = [f for f in sealed.facts[k] if f.exposure_id not in held]
    new = new[skip:] + [f for f in sealed.facts[k] if f.exposure_id in held][:extra]
    lanes = sealed.lanes
    return new_loan_totals(
        lanes, ((lanes.facts_values(f), loan_blindings(sealed.seeds[k], f.exposure_id, lanes)) for f in new)
    )


def _header(sealed: SealedChain, k: int) -> Header:
    return verify_header(sealed.headers[k], sealed.key.public_key())


def evidence(sealed: SealedChain, k: int, **dishonest: int) -> tuple[dict[str, Any], Opening]:
    header = _header(sealed, k)
    count, totals, blindings = _parts(sealed, k, **dishonest)
    aggregate = [random_scalar() for _ in sealed.lanes.lanes]
    doc = prove_purchases(GROUP, header, count, totals, blindings, aggregate, random_scalar)
    return doc, price_opening(header, totals, aggregate)


def leaf_row(sealed: SealedChain, k: int) -> tuple[int, list[Any]]:
    """The auditor's entries row, from the leaves' commitments (recomputed from the openings here;
    from the snapshot bundles in ``verify-series``, see the link test below)."""
    lanes = sealed.lanes
    held = {f.exposure_id for f in sealed.facts[k - 1]}
    leaves = [
        [
            commit(GROUP, v % ORDER, r)
            for v, r in zip(
                lanes.input_values(lanes.facts_values(f)),
                loan_blindings(sealed.seeds[k], f.exposure_id, lanes),
                strict=True,
            )
        ]
        for f in sealed.facts[k]
        if f.exposure_id not in held
    ]
    return entries_row(GROUP, len(lanes.inputs), leaves)


def proven_series(sealed: SealedChain, deal: Deal) -> list[dict[str, Any]]:
    state = initial_state(deal)
    previous: dict[str, Any] | None = None
    prices: list[Opening] = []
    reports = []
    for period in range(1, PERIODS + 1):
        doc, opening = evidence(sealed, period)
        prices.append(opening)
        unsigned = build_payment_report(
            deal=deal,
            chain=verified(sealed, deal, period),
            openings=sealed.openings,
            state_before=state,
            purchase_evidence=doc,
            previous_purchases=[] if previous is None else previous["purchases_proven"],
            purchase_openings=prices,
            previous_report_hash=None if previous is None else report_hash(previous),
        )
        previous = sign_payment_report(sealed.key, unsigned)
        reports.append(previous)
        state = DealState.from_dict(deal, previous["state_after"])
    return reports


_SERIES: dict[str, list[dict[str, Any]]] = {}


def series(sealed: SealedChain, deal: Deal, name: str) -> list[dict[str, Any]]:
    if name not in _SERIES:
        _SERIES[name] = proven_series(sealed, deal)
    return _SERIES[name]


# --- the price is the pandas figure, and the deal's figures use it ---------------------------------------


def test_every_period_proves_the_price_pandas_computes_from_the_raw_tapes(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    reports = series(sealed, deal, "plain")
    expected = pandas_prices(sealed)
    assert sum(expected) > 0  # the synthetic pool does buy loans
    previous = None
    for period, report in enumerate(reports, start=1):
        assert "purchases_declared" not in report
        result = verify_payment_report(report, deal, sealed.key.public_key(), previous=previous)
        assert [e["value"] for e in report["purchases_proven"]] == expected[:period]
        assert result.inputs.purchase_price == expected[period - 1]
        initial = deal.initial_pool_balance_fen
        assert report["cumulative_default_rate"]["denominator"] == initial + sum(expected[:period])
        previous = report
    # the tapes' pool_addition_date agrees with "absent from the previous snapshot" on this pool
    assert expected == declared_purchases(sealed)


def test_the_price_is_bounded_by_the_unpacking_slots(sealed: SealedChain) -> None:
    header = _header(sealed, 2)
    doc, opening = evidence(sealed, 2)
    checked = verify_purchases(GROUP, header, doc)
    assert checked.commitment(header) == commit_opening(GROUP, opening)
    assert 0 <= opening.value < 1 << bound_bits(sealed.lanes)
    assert set(sealed.lanes.metric(PRICE_METRIC)) >= {("flow_scheduled_principal", 1)}


@pytest.mark.parametrize("period", [1, 3])
def test_the_investor_view_proves_the_cumulative_default_trigger(sealed: SealedChain, period: int) -> None:
    # levels just around the pandas rate, so the proof decides a close call both ways
    defaulted = sum(int(sealed.frame(k)["defaulted_principal"].sum()) for k in range(1, period + 1))
    den = sealed.figures(0)["outstanding_balance"] + sum(pandas_prices(sealed)[:period])
    above = (defaulted * BPS - 1) // den
    for level, breached in ((above, True), (above + 1, False)):
        deal = make_deal(sealed, triggers=with_level("cdr", level))
        report = series(sealed, deal, f"cdr-{level}")[period - 1]
        view = trigger_view(report)
        assert all(set(e) == {"evidence"} for e in view["purchases_proven"])  # no price in the view
        _, statuses = verify_trigger_view(view, deal, sealed.key.public_key(), {sealed.lanes.name})
        cdr = next(s for s in statuses if s[0].id == "cdr")
        assert cdr[1:3] == (breached, "proven_view"), (level, defaulted, den)


# --- tampering: every element of the evidence, the disclosed price, the carried entries -------------------


def _tampered(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    g = pedersen_bases(GROUP)[0].to_bytes().hex()
    out = []
    bumped = copy.deepcopy(doc)
    bumped["count"] += 1
    out.append(("count", bumped))
    for i in range(len(doc["sums"])):
        t = copy.deepcopy(doc)
        t["sums"][i] = g
        out.append((f"sums[{i}]", t))
    blob = bytes.fromhex(doc["aggregates"])
    for j in range(len(blob) // POINT_BYTES):
        t = copy.deepcopy(doc)
        t["aggregates"] = (blob[: j * POINT_BYTES] + bytes.fromhex(g) + blob[(j + 1) * POINT_BYTES :]).hex()
        out.append((f"aggregates[{j}]", t))
    proof = bytes.fromhex(doc["proof"])
    for pos in range(0, len(proof), 16):
        t = copy.deepcopy(doc)
        t["proof"] = (proof[:pos] + bytes([proof[pos] ^ 1]) + proof[pos + 1 :]).hex()
        out.append((f"proof[{pos}]", t))
    return out


def test_every_element_of_the_evidence_altered_is_rejected(sealed: SealedChain) -> None:
    header = _header(sealed, 2)
    doc, _ = evidence(sealed, 2)
    verify_purchases(GROUP, header, doc)
    cases = _tampered(doc)
    assert len(cases) > 20
    for name, t in cases:
        with pytest.raises((VerificationError, EncodingError)):  # noqa: PT012 - names the case
            verify_purchases(GROUP, header, t)
            pytest.fail(f"{name} altered was accepted")


def test_evidence_of_one_snapshot_does_not_verify_for_another(sealed: SealedChain) -> None:
    doc, _ = evidence(sealed, 2)
    with pytest.raises(VerificationError, match=r"unpacking\."):
        verify_purchases(GROUP, _header(sealed, 3), doc)


def _resigned(sealed: SealedChain, report: dict[str, Any], edit: Any) -> dict[str, Any]:
    body = copy.deepcopy(bundle.unsigned_body(report))
    edit(body)
    return sign_payment_report(sealed.key, body)


def test_a_price_other_than_the_committed_one_is_rejected(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    report = series(sealed, deal, "plain")[0]

    def inflate(body: dict[str, Any]) -> None:
        body["purchases_proven"][0]["value"] += 1

    with pytest.raises(VerificationError, match=r"distribution\.purchases\.1"):
        verify_payment_report(_resigned(sealed, report, inflate), deal, sealed.key.public_key())


def test_an_evidence_altered_in_a_signed_report_is_rejected(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    report = series(sealed, deal, "plain")[0]
    for name, t in _tampered(report["purchases_proven"][0]["evidence"])[:6]:

        def swap(body: dict[str, Any], t: dict[str, Any] = t) -> None:
            body["purchases_proven"][0]["evidence"] = t

        with pytest.raises((VerificationError, EncodingError)):  # noqa: PT012 - names the case
            verify_payment_report(_resigned(sealed, report, swap), deal, sealed.key.public_key())
            pytest.fail(f"{name} altered was accepted")


def test_an_earlier_period_changed_in_a_later_report_is_rejected(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    reports = series(sealed, deal, "plain")
    # a fresh, valid entry for period 1 (its own evidence and disclosure): not the one published
    fresh, opening = evidence(sealed, 1)
    later = reports[1]["purchases_proven"][1]["evidence"]
    chain = chain_with_purchases(GROUP, verified(sealed, deal, 2), [fresh, later])
    replacement = proven_purchase_entry(GROUP, deal, chain, 1, fresh, opening)

    def change(body: dict[str, Any]) -> None:
        body["purchases_proven"][0] = replacement

    changed = _resigned(sealed, reports[1], change)
    with pytest.raises(VerificationError, match=r"distribution\.previous"):
        verify_payment_report(changed, deal, sealed.key.public_key(), previous=reports[0])


def test_a_report_with_both_or_neither_purchase_member_is_refused(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    report = series(sealed, deal, "plain")[0]
    both = _resigned(sealed, report, lambda b: b.update(purchases_declared=[1]))
    neither = _resigned(sealed, report, lambda b: b.pop("purchases_proven"))
    for doc in (both, neither):
        with pytest.raises(EncodingError, match="purchases_proven"):
            verify_payment_report(doc, deal, sealed.key.public_key())


# --- a malicious gateway: a false row verifies as arithmetic, and fails the row check --------------------


@pytest.mark.parametrize(
    "dishonest", [{"skip": 1}, {"extra": 1}], ids=["purchase-hidden", "held-loan-bought"]
)
def test_a_false_entries_row_fails_the_auditors_row_check(
    sealed: SealedChain, dishonest: dict[str, int]
) -> None:
    k = 2
    header = _header(sealed, k)
    honest, _ = evidence(sealed, k)
    count, sums = leaf_row(sealed, k)
    check_entries_row(verify_purchases(GROUP, header, honest), count, sums)
    forged, _ = evidence(sealed, k, **dishonest)
    checked = verify_purchases(GROUP, header, forged)  # the unpacking proof holds for the false row
    with pytest.raises(VerificationError, match=r"purchases\.row"):
        check_entries_row(checked, count, sums)


def test_the_link_recomputes_the_entries_row_from_the_snapshot_bundles() -> None:
    rng = random.Random(7)
    key = Ed25519PrivateKey.generate()
    m1 = seal_month(first_facts(12, rng), key, sequence=1, previous=None)
    m2 = seal_month(next_facts(m1.facts, rng, new=4, first_id=100), key, sequence=2, previous=m1.header)
    held = {f.exposure_id for f in m1.facts}
    bought = [loan for loan in m2.loans if loan.exposure_id not in held]
    link = prove_link(key, m1.header, m2.header, m1.loans, m2.loans, entries=[b.exposure_id for b in bought])
    public = key.public_key()
    result = verify_link(read_leaves(m1.text, public), read_leaves(m2.text, public), link, public)
    header = verify_header(m2.header, public)
    count, totals, blindings = new_loan_totals(LANES, ((b.values, b.blindings) for b in bought))
    aggregate = [random_scalar() for _ in LANES.lanes]
    doc = prove_purchases(GROUP, header, count, totals, blindings, aggregate, random_scalar)
    checked = verify_purchases(GROUP, header, doc)
    check_entries_row(checked, len(result.entries), result.entries_sums)
    # the price the commitment opens to: plain Python over the new loans' facts
    new_facts = [f for f in m2.facts if f.exposure_id not in held]
    moved = [FLOWS.index(n) for n in ("scheduled_principal", "unscheduled_principal", "written_off")]
    price = sum(f.balance for f in new_facts) + sum(f.flows[i] for f in new_facts for i in moved)
    opening = price_opening(header, totals, aggregate)
    assert opening.value == price
    assert checked.commitment(header) == commit_opening(GROUP, opening)
    # one more loan counted: the link's row says otherwise
    extra = next(loan for loan in m2.loans if loan.exposure_id in held)
    count2, totals2, blindings2 = new_loan_totals(LANES, ((b.values, b.blindings) for b in [*bought, extra]))
    forged = prove_purchases(GROUP, header, count2, totals2, blindings2, aggregate, random_scalar)
    with pytest.raises(VerificationError, match=r"purchases\.row"):
        check_entries_row(verify_purchases(GROUP, header, forged), len(result.entries), result.entries_sums)
