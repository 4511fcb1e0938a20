"""Concentration limits at purchase (proofs/concentration.py), inside the eligibility statement.

Small snapshots of real Lending Club loans stratified by region and original term: each limit's
status is recomputed by plain pandas from the raw records (the share of outstanding principal in the
largest cell against the limit); the trustee's statement proves it on the stratification rows; a
limit on the obligor dimension, which the snapshot does not stratify, is listed as unchecked. A
malicious prover hiding a breaching cell, or claiming a headroom it does not have, is rejected with
the check named, and every part of the proof altered is rejected.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from proofs import bundle, concentration, eligibility
from proofs.canonical import document_hash
from proofs.claim_bundle import metric_opening
from proofs.deal import Deal, parse_deal_text
from proofs.eligibility import (
    LOANS_DOMAIN,
    StrataOpenings,
    investor_view,
    prove_eligibility,
    verify_eligibility,
)
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.group import ORDER, get_group
from proofs.snapshot import loan_blindings
from tests.eligibility_util import Period, deal_text, linked_lane_set, registered, seal_period, tape_rows

GROUP = get_group()


@pytest.fixture(scope="module")
def period() -> Iterator[Period]:
    with registered(linked_lane_set("pool-v4:elig-conc")) as lanes:
        yield seal_period(lanes, tape_rows(n_previous=10, n_purchased=6))


def pandas_shares(tape: pd.DataFrame, column: str) -> dict[str, int]:
    """Each cell's share of the outstanding principal, in bps rounded up (prepaid loans owe 0)."""
    owed = tape["balance_fen"].where(tape["state"] != "PREPAID", 0)
    cells = owed.groupby(tape[column].astype(str)).sum()
    total = int(owed.sum())
    return {str(c): -(-int(b) * 10_000 // total) for c, b in cells.items()}


def deal_with(region_bps: int | None, term_bps: int = 10_000) -> Deal:
    """The eligibility tests' deal with a region limit (none for ``None``), an original-term limit
    and an obligor limit."""
    region = (
        ""
        if region_bps is None
        else (
            f'[[concentration_limits]]\nid = "region"\ndimension = "region"\nmax_share_bps = {region_bps}\n'
        )
    )
    extra = (
        f'{region}[[concentration_limits]]\nid = "term"\ndimension = "original_term"\n'
        f"max_share_bps = {term_bps}\n"
        '[[concentration_limits]]\nid = "obligor"\ndimension = "obligor"\nmax_share_bps = 50\n'
    )
    text = deal_text().replace(
        '[[concentration_limits]]\nid = "region"\ndimension = "region"\nmax_share_bps = 2500\n', extra
    )
    assert extra in text
    return parse_deal_text(text)


def strata_openings(p: Period) -> StrataOpenings:
    """Every cell's openings from the loans' facts and the snapshot seed (what the gateway keeps)."""
    lanes = p.lanes
    cells: dict[str, dict[str, tuple[list[int], list[int]]]] = {}
    for d in p.header.params.strata_dimensions:
        by_cell: dict[str, tuple[list[int], list[int]]] = {}
        for f in p.facts:
            totals, blinds = by_cell.setdefault(
                f.labels[d], ([0] * len(lanes.lanes), [0] * len(lanes.inputs))
            )
            for j, v in enumerate(lanes.facts_values(f)):
                totals[j] += v
            for j, r in enumerate(loan_blindings(p.sealed.seed, f.exposure_id, lanes)):
                blinds[j] = (blinds[j] + r) % ORDER
        cells[d] = by_cell
    o = p.sealed.outcome
    assert o.strata is not None
    pool = metric_opening(lanes, concentration.METRIC, o.lane_value_sums, o.lane_blinding_sums)
    return StrataOpenings(o.strata, cells, pool)


def _prove(p: Period, deal: Deal, **kw: Any) -> dict[str, Any]:
    return prove_eligibility(
        p.header, deal, p.purchased(GROUP), p.collections(), p.sealed.key, ipa_rounds=0,
        strata=strata_openings(p), **kw,
    )  # fmt: skip


def _verify(p: Period, doc: Any, deal: Deal) -> eligibility.Verified:
    return verify_eligibility(doc, p.sealed.key.public_key(), p.header, deal)


def _resigned(p: Period, doc: dict[str, Any]) -> dict[str, Any]:
    """A malicious gateway's re-signed statement over an edited trustee part."""
    body = {k: v for k, v in bundle.unsigned_body(investor_view(doc)).items()}
    body["loans_digest"] = document_hash(LOANS_DOMAIN, doc["loans"]).hex()
    return {**bundle.sign_document(p.sealed.key, "eligibility", body), "loans": doc["loans"]}


def test_limits_above_the_largest_share_hold_and_are_proven_for_the_trustee(period: Period) -> None:
    region, term = pandas_shares(period.tape, "region"), pandas_shares(period.tape, "original_term_months")
    deal = deal_with(max(region.values()), max(term.values()))
    doc = _prove(period, deal)
    assert doc["holds"], doc["failed"]
    assert doc["unchecked"] == ["concentration:obligor"]  # loans are not grouped by obligor
    assert [x["id"] for x in doc["loans"]["concentration"]] == ["region", "term"]
    assert sorted(c["row"]["cell"] for c in doc["loans"]["concentration"][0]["cells"]) == sorted(region)
    trustee = _verify(period, doc, deal)
    assert "eligibility.concentration" in trustee.checked
    investor = _verify(period, investor_view(doc), deal)
    assert investor.holds
    assert "eligibility.concentration" not in investor.checked


def test_a_limit_below_the_largest_share_does_not_hold_naming_the_loans_in_that_cell(period: Period) -> None:
    region = pandas_shares(period.tape, "region")
    top = max(region, key=lambda c: region[c])
    deal = deal_with(region[top] - 1)
    doc = _prove(period, deal)
    assert doc["failed"] == ["concentration"]
    bought = period.tape[period.tape["purchased"]]
    over = {c for c, s in region.items() if s > region[top] - 1}
    named = list(bought.loc[bought["region"].isin(over), "exposure_id"]) or list(bought["exposure_id"])
    assert _verify(period, doc, deal).failing == {"concentration": tuple(named)}


def test_without_the_cell_openings_every_limit_is_unchecked(period: Period) -> None:
    deal = deal_with(10_000)
    doc = prove_eligibility(
        period.header, deal, period.purchased(GROUP), period.collections(), period.sealed.key, ipa_rounds=0
    )
    assert doc["unchecked"] == ["concentration:region", "concentration:term", "concentration:obligor"]
    assert "eligibility.concentration" not in _verify(period, doc, deal).checked


def _hide_breaches(monkeypatch: pytest.MonkeyPatch, *, drop_over: bool) -> None:
    """A prover that calls every limit met: it skips its own checks and either leaves the cells
    over the limit out of the proof, or claims an in-range headroom for them."""
    monkeypatch.setattr(eligibility, "failures", lambda *a, **k: {})
    monkeypatch.setattr(concentration, "_check_headroom", lambda *a: None)
    if not drop_over:
        monkeypatch.setattr(concentration, "_claimed", lambda vs: [v if 0 <= v < 1 << 64 else 0 for v in vs])
        return
    original = concentration.prove_limit

    def without_over(group: Any, header: Any, table: Any, limit: Any, openings: Any, pool: Any, *a: Any,
                     **k: Any) -> Any:  # fmt: skip
        index = {lane: i for i, lane in enumerate(header.lanes.lanes)}
        terms = header.lanes.metric(concentration.METRIC)
        over = {
            c
            for c, (totals, _) in openings.items()
            if concentration.BPS * sum(k_ * totals[index[lane]] for lane, k_ in terms)
            > limit.max_share_bps * pool.value
        }
        kept = {c: v for c, v in openings.items() if c not in over}
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(concentration, "cells_of", lambda t, d: [r.cell for r in t.rows if r.dimension == d
                                                                  and r.cell not in over])  # fmt: skip
            return original(group, header, table, limit, kept, pool, *a, **k)

    monkeypatch.setattr(concentration, "prove_limit", without_over)


@pytest.mark.parametrize(
    ("drop_over", "check"), [(True, "concentration.cells"), (False, "concentration.range")]
)
def test_a_breach_hidden_by_the_prover_is_rejected(
    period: Period, monkeypatch: pytest.MonkeyPatch, drop_over: bool, check: str
) -> None:
    term = pandas_shares(period.tape, "original_term_months")
    deal = deal_with(None, max(term.values()) - 1)
    _hide_breaches(monkeypatch, drop_over=drop_over)
    doc = _prove(period, deal)
    monkeypatch.undo()
    assert doc["holds"]
    with pytest.raises(VerificationError) as err:
        _verify(period, doc, deal)
    assert err.value.check == check


def test_the_prover_refuses_a_cell_over_its_limit(period: Period) -> None:
    term = pandas_shares(period.tape, "original_term_months")
    deal = deal_with(None, max(term.values()) - 1)
    openings = strata_openings(period)
    (limit,) = [x for x in deal.concentration_limits if x.id == "term"]
    from proofs.transcript import Transcript

    with pytest.raises(ProvingError, match="over its limit"):
        concentration.prove_limit(
            GROUP, period.header, openings.table, limit, openings.cells["original_term"], openings.pool,
            Transcript(b"test"), lambda: 5,
        )  # fmt: skip


def _mutations(proof: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []

    def edit(name: str, f: Any) -> None:
        t = copy.deepcopy(proof)
        f(t)
        out.append((name, t))

    edit("id", lambda t: t.update(id="other"))
    edit("a cell dropped", lambda t: t["cells"].pop())
    edit("a cell twice", lambda t: t["cells"].append(copy.deepcopy(t["cells"][0])))
    edit("row count", lambda t: t["cells"][0]["row"].update(count=t["cells"][0]["row"]["count"] + 1))
    edit("row index", lambda t: t["cells"][0].update(index=(t["cells"][0]["index"] + 1) % 50))
    edit("audit path", lambda t: t["cells"][0]["path"].__setitem__(0, "00" * 32))
    for pos in (0, 48, 96):
        edit(f"aggregates[{pos}]", lambda t, pos=pos: _flip_in(t["cells"][0], "aggregates", pos))
    edit("a cell of another limit's proof", lambda t: t["cells"].__setitem__(0, t["cells"][1]))
    for pos in range(0, len(bytes.fromhex(proof["proof"])), 401):
        edit(f"proof[{pos}]", lambda t, pos=pos: _flip_in(t, "proof", pos))
    for pos in (0, 100, 200):
        edit(f"cell proof[{pos}]", lambda t, pos=pos: _flip_in(t["cells"][0], "proof", pos))
    return out


def _flip_in(doc: dict[str, Any], key: str, pos: int) -> None:
    data = bytearray(bytes.fromhex(doc[key]))
    data[pos] ^= 1
    doc[key] = data.hex()


def test_every_part_of_the_concentration_proof_altered_is_rejected(period: Period) -> None:
    term = pandas_shares(period.tape, "original_term_months")
    deal = deal_with(None, max(term.values()))
    doc = _prove(period, deal)
    _verify(period, _resigned(period, doc), deal)  # re-signing alone changes nothing
    (limit,) = [x for x in deal.concentration_limits if x.id == "term"]
    context = eligibility._context(doc)

    def check(proof: dict[str, Any]) -> None:
        transcript = eligibility._transcript(context, f"concentration:{limit.id}")
        concentration.verify_limit(
            GROUP, period.header, limit, proof, transcript, ipa_rounds=doc["ipa_rounds"]
        )

    honest = doc["loans"]["concentration"][0]
    check(honest)
    cases = _mutations(honest)
    assert len(cases) > 12
    for name, proof in cases:
        with pytest.raises((VerificationError, EncodingError)):  # noqa: PT012 - names the case
            check(proof)
            pytest.fail(f"{name} altered was accepted")
    # and one through the whole statement, re-signed by a dishonest gateway
    forged = copy.deepcopy(doc)
    forged["loans"]["concentration"][0] = cases[-1][1]
    with pytest.raises((VerificationError, EncodingError), match=r"unpacking\.|concentration"):
        _verify(period, _resigned(period, forged), deal)


def test_proven_limits_without_their_proofs_are_rejected(period: Period) -> None:
    deal = deal_with(None)
    doc = _prove(period, deal)
    forged = copy.deepcopy(doc)
    del forged["loans"]["concentration"]
    with pytest.raises(VerificationError) as err:
        _verify(period, _resigned(period, forged), deal)
    assert err.value.check == "eligibility.concentration"
