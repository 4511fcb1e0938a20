"""The eligibility route through the real HTTP API: who gets which view of a stored statement.

The trustee and the regulator get the whole statement (the purchased loans, their openings and, when
it does not hold, the failing loans); the investor and the auditor get the investor view, which
names no loan and carries no per-loan value and still verifies offline; a party outside the pool
gets what an unknown pool gets (404); a cut-off without a statement 404. Every view is in the decision log.

The statement is built here by :mod:`proofs.eligibility` over a small snapshot of real Lending Club
loans sealed under a linked lane set (the gateway's own pools are sealed under ``pool-v3``, whose
packing mixes counts and balances, so the gateway answers 409/none for them) and stored in the
gateway's database as :mod:`gateway.alerts.eligibility` stores what it builds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.storage import eligibility as rows
from gateway.storage.db import connect, now, transaction
from gateway.storage.decisions import connect_log, load_entries, log_path_for
from proofs.eligibility import investor_view, prove_eligibility, verify_eligibility
from proofs.group import get_group
from tests.e2e.conftest import Gateway
from tests.eligibility_util import Period, linked_lane_set, make_deal, registered, seal_period, tape_rows

POOL = "POOL-1"  # the pool the in-memory snapshot is sealed for
CUTOFF = "2026-10-31"


@pytest.fixture(scope="module")
def period() -> Iterator[Period]:
    with registered(linked_lane_set()) as lanes:
        # More purchases than the default policy's minimum cohort (10): investors get the view.
        yield seal_period(lanes, tape_rows(n_previous=4, n_purchased=12))


@pytest.fixture(scope="module")
def statements(gw: Gateway, period: Period) -> dict[str, dict[str, Any]]:
    gw.create_pool(POOL, "CN_CONSUMER")
    gw.add("elig-trustee", "elig-trustee", "trustee", "/trustee", pools=[POOL])
    gw.add("elig-regulator", "elig-regulator", "regulator", "/regulator", pools=[])
    gw.add("elig-investor", "elig-investor", "investor", "/investor", pools=[POOL])
    gw.add("elig-auditor", "elig-auditor", "auditor", "/auditor", pools=[POOL])
    gw.add("elig-outsider", "elig-outsider", "investor", "/investor", pools=[])
    group = get_group()
    ok = prove_eligibility(
        period.header,
        make_deal(),
        period.purchased(group),
        period.collections(),
        period.sealed.key,
        ipa_rounds=0,
    )
    bad = prove_eligibility(
        period.header, make_deal(max_balance_fen=1_500_000), period.purchased(group), period.collections(),
        period.sealed.key, ipa_rounds=0,
    )  # fmt: skip
    assert ok["holds"]
    assert not bad["holds"]
    db = connect(gw.inst.db_path)
    try:
        with transaction(db) as conn:
            rows.put_statement(conn, rows.NewStatement(POOL, CUTOFF, "00" * 32, True, ok, now()))
            rows.put_statement(conn, rows.NewStatement(POOL, "2026-11-30", "00" * 32, False, bad, now()))
    finally:
        db.conn.close()
    return {CUTOFF: ok, "2026-11-30": bad}


def _get(gw: Gateway, who: str, cutoff: str) -> Any:
    return gw.clients[who].get(f"/pools/{POOL}/eligibility/{cutoff}")


@pytest.mark.parametrize("who", ["elig-trustee", "elig-regulator"])
def test_trustee_and_regulator_get_the_whole_statement(
    gw: Gateway, statements: dict[str, dict[str, Any]], period: Period, who: str
) -> None:
    r = _get(gw, who, "2026-11-30")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["view"] == "full"
    assert body["statement"] == statements["2026-11-30"]
    failing = body["statement"]["loans"]["failing"]["balance"]
    expected = period.tape[period.tape["purchased"] & (period.tape["balance_fen"] > 1_500_000)]["exposure_id"]
    assert failing == list(expected)


@pytest.mark.parametrize("who", ["elig-investor", "elig-auditor"])
def test_other_parties_get_the_investor_view_without_loan_ids(
    gw: Gateway, statements: dict[str, dict[str, Any]], period: Period, who: str
) -> None:
    for cutoff, doc in statements.items():
        r = _get(gw, who, cutoff)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body == {"view": "investor", "statement": investor_view(doc)}
        text = json.dumps(body)
        for eid in period.tape["exposure_id"]:
            assert eid not in text
        bought = period.tape[period.tape["purchased"]]
        assert not set(_integers(body)) & set(bought["balance_fen"])
        with registered(period.lanes):
            seen = verify_eligibility(
                body["statement"], period.sealed.key.public_key(), period.header, make_deal(
                    **({} if doc["holds"] else {"max_balance_fen": 1_500_000})
                ),
            )  # fmt: skip
        assert seen.holds == doc["holds"]


def _integers(doc: Any) -> list[int]:
    if isinstance(doc, bool):
        return []
    if isinstance(doc, int):
        return [doc]
    if isinstance(doc, dict):
        return [i for v in doc.values() for i in _integers(v)]
    if isinstance(doc, list):
        return [i for v in doc for i in _integers(v)]
    return []


def test_outside_the_pool_is_as_no_such_pool_and_no_statement_is_404(
    gw: Gateway, statements: dict[str, Any]
) -> None:
    outsider = gw.clients["elig-outsider"]
    resp = outsider.get(f"/pools/{POOL}/eligibility/{CUTOFF}")
    unknown = outsider.get(f"/pools/NO-SUCH-POOL/eligibility/{CUTOFF}")
    assert resp.status_code == unknown.status_code == 404
    assert resp.json() == unknown.json()
    assert _get(gw, "elig-trustee", "2027-01-31").status_code == 404


def test_every_view_is_logged(gw: Gateway, statements: dict[str, Any]) -> None:
    _get(gw, "elig-investor", CUTOFF)
    log = connect_log(log_path_for(gw.inst.db_path))
    try:
        resource = f"pool:{POOL}/cutoff:{CUTOFF}/eligibility"
        entries = [e for e in load_entries(log) if e.get("resource") == resource]
    finally:
        log.conn.close()
    assert any(e.get("party_id") == "elig-investor" for e in entries)
