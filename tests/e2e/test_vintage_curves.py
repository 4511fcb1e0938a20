"""Vintage curves through the real HTTP server: three monthly tapes of a synthetic revolving pool sealed
under the pool statement, each cohort's curve asked by a party with exact values and by an investor.

Every point the gateway gives is checked against its ``poolproof/vintage-curve/v1`` bundle
(:func:`proofs.vintage.verify_vintage_curve`, bound to the requester's nonce) and against plain pandas
over the raw tapes (``tests/test_vintage.py`` ``reference_curve``, by the written definition). The
investor's points leave through the disclosure control: a cohort of fewer than ``min_cohort`` loans
(the revolving purchases of the third month) is suppressed whole, with no bundle.
"""

from __future__ import annotations

import json
import secrets
from datetime import date
from typing import Any

import pytest

from gateway.importers.tape_v1 import write_jsonl
from gateway.snapshots.demo import Client, expect
from gateway.synth import generate_tape, monthly_cutoff
from policies import load_policy
from policies.aggregates import SUPPRESSED
from proofs.vintage import RATES, verify_vintage_curve
from tests.test_vintage import raw_tape, reference_curve

from .conftest import Gateway

POLICY = load_policy()
K = POLICY.aggregates.min_cohort
SUPPRESSED_FIGURE = {"suppressed": True, "reason": SUPPRESSED.format(k=K)}
POOL = "VIN-E2E"
FIRST = date(2024, 3, 31)
N_LOANS, SEED, MONTHS = 90, 24, 3


@pytest.fixture(scope="module")
def vintage_pool(gw: Gateway, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("vintage")
    gw.create_pool(POOL, "CN_CONSUMER")
    paths, cutoffs = [], []
    for month in range(MONTHS):
        path = tmp / f"{POOL}-{month}.jsonl"
        write_jsonl(generate_tape(N_LOANS, seed=SEED, cutoff=FIRST, pool_id=POOL, month=month), str(path))
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        cutoff = monthly_cutoff(FIRST, month)
        gw.submit(POOL, cutoff.isoformat(), rows)
        gw.seal(POOL, cutoff.isoformat())
        paths.append(path)
        cutoffs.append(cutoff)
    return {"paths": paths, "cutoffs": cutoffs}


def _client(gw: Gateway, name: str, role: str) -> Client:
    if name not in gw.clients:
        gw.add(name, name, role, f"/{role}", pools=[POOL])
    return gw.clients[name]


def ask(client: Client, cohort: str) -> tuple[Any, str]:
    nonce = secrets.token_hex(32)
    return client.get(f"/pools/{POOL}/vintage/{cohort}", params={"nonce": nonce}), nonce


def _cohort_sizes(pool: dict[str, Any]) -> dict[str, int]:
    """Loans of each cohort on the last tape (pandas over the raw tape)."""
    counts = raw_tape(pool["paths"][-1])["cohort"].value_counts()
    return {str(c): int(n) for c, n in counts.items()}


def _check_against_reference(
    gw: Gateway, pool: dict[str, Any], cohort: str, doc: dict[str, Any], nonce: str
) -> int:
    """Every released point equals pandas and its bundle; returns the number released."""
    want = reference_curve(pool["paths"], pool["cutoffs"], cohort)
    assert [p["months_on_book"] for p in doc["points"]] == [w["months_on_book"] for w in want]
    released = [p for p in doc["points"] if "suppressed" not in p[next(iter(RATES))]]
    if doc["bundle"] is None:
        assert not released
    else:
        proven = verify_vintage_curve(
            doc["bundle"], gw.key, pool_id=POOL, cohort=cohort, nonce=bytes.fromhex(nonce)
        )
        assert len(proven) == len(released) * len(RATES)
        for v in proven:
            point = next(p for p in released if p["cutoff_date"] == v.cutoff_date)
            assert (v.numerator, v.denominator) == (
                point[v.rate]["numerator"],
                point[v.rate]["denominator"],
            )
    for point, w in zip(doc["points"], want, strict=True):
        for rate in RATES:
            if point in released:
                assert point[rate] == {"numerator": w[rate], "denominator": w["entered"]}, (cohort, point)
            else:
                assert point[rate] == SUPPRESSED_FIGURE
    # released points are a prefix of the curve
    assert doc["points"][: len(released)] == released
    return len(released)


def test_a_party_with_exact_values_gets_every_point_equal_to_pandas(
    gw: Gateway, vintage_pool: dict[str, Any]
) -> None:
    platform = gw.clients["platform"]
    listed = expect(platform.get(f"/pools/{POOL}/vintage"), 200, "cohorts")["cohorts"]
    assert set(_cohort_sizes(vintage_pool)) <= set(listed)
    assert len(listed) >= 3
    for cohort in listed:
        r, nonce = ask(platform, cohort)
        doc = expect(r, 200, f"vintage {cohort}")
        want = reference_curve(vintage_pool["paths"], vintage_pool["cutoffs"], cohort)
        assert _check_against_reference(gw, vintage_pool, cohort, doc, nonce) == len(want)


def test_the_investor_gets_large_cohorts_and_no_small_one(gw: Gateway, vintage_pool: dict[str, Any]) -> None:
    investor = _client(gw, "vin-investor", "investor")
    sizes = _cohort_sizes(vintage_pool)
    small = [c for c, n in sizes.items() if n < K]
    large = [c for c, n in sizes.items() if n >= 2 * K]
    assert small, sizes
    assert large, sizes
    released_any = 0
    released_at: dict[str, set[str]] = {}
    for cohort in sorted(sizes):
        r, nonce = ask(investor, cohort)
        doc = expect(r, 200, f"vintage {cohort}")
        released = _check_against_reference(gw, vintage_pool, cohort, doc, nonce)
        released_at[cohort] = {p["cutoff_date"] for p in doc["points"][:released]}
        if cohort in small:
            assert released == 0
            assert doc["bundle"] is None
        released_any += released
    assert released_any >= 1, "no point of any large cohort released"
    # The differencing audit: at every cut-off, the loans of the cohorts released there never leave a
    # remainder of the pool below min_cohort (the vintage cells partition the pool).
    for path, cutoff in zip(vintage_pool["paths"], vintage_pool["cutoffs"], strict=True):
        tape = raw_tape(path)
        shown = [c for c, at in released_at.items() if cutoff.isoformat() in at]
        rest = int((~tape["cohort"].isin(shown)).sum())
        assert rest == 0 or rest >= K, (cutoff, shown, rest)
    # asking again releases nothing new and gives the same decisions
    cohort = large[0]
    first, _ = ask(investor, cohort)
    again, _ = ask(investor, cohort)
    assert expect(first, 200, "again")["points"] == expect(again, 200, "again")["points"]


def test_bad_cohorts_are_clear_4xx(gw: Gateway, vintage_pool: dict[str, Any]) -> None:
    investor = _client(gw, "vin-investor", "investor")
    r, _ = ask(investor, "2024-Q9")
    assert r.status_code == 422, r.text
    assert "origination quarter" in r.json()["message"]
    r, _ = ask(investor, "1999-Q1")
    assert r.status_code == 404, r.text
    assert "no cohort" in r.json()["message"]
    r = investor.get(f"/pools/{POOL}/vintage/2024-Q1", params={"nonce": "zz"})
    assert r.status_code == 422, r.text
