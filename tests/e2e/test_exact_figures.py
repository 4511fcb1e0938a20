"""Exact where the policy allows: an investor gets the servicer-report figures of a v2 tape exactly.

Through the real HTTP server: a tape schema v2 tape is sealed under the pool statement v2 by default;
the investor asks ``POST .../figures`` for every servicer-report figure of the default policy; each
released figure carries its definition's name, its unit and a claim bundle that
``poolproof-audit verify-claim`` accepts, and its value equals what the pandas reference
(``tests/reference/abs_metrics.py``) computes from the raw tape. A state held by fewer than
``min_cohort`` loans is suppressed (through the disclosure-control point), so are exact figures of a
cut-off that differs from an earlier one by one loan, and an exact figure no servicer report
publishes is refused naming the policy's rule.
"""

from __future__ import annotations

import json
import secrets
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.importers.tape_v1 import write_jsonl
from gateway.snapshots.demo import Client, expect
from gateway.synth import generate_tape, monthly_cutoff
from policies import load_policy
from policies.aggregates import REFUSED, SUPPRESSED
from policies.figures import figure_definition
from proofs.claim_bundle import ExpectedClaim, verify_claim_answer
from proofs.claims import Disclosure
from proofs.loan_facts import STATES
from proofs.witness import WitnessPolicy
from tests.reference import abs_metrics as ref

from .conftest import Gateway, audit

POLICY = load_policy()
K = POLICY.aggregates.min_cohort
SUPPRESSED_FIGURE = {"suppressed": True, "reason": SUPPRESSED.format(k=K)}
SERVICER_REPORT = sorted(POLICY.metric_sets["servicer_report"])
FIRST = date(2024, 1, 31)
POOL = "EX-V2"
#: Pool-level figures that a pool of hundreds of loans must release (the acceptance's "pool level").
POOL_LEVEL = (
    "pool_balance",
    "performing_loan_count",
    "loan_count",
    "beginning_balance",
    "rate_base_balance",
    "scheduled_principal",
    "unscheduled_principal",
    "interest",
    "fees",
    "principal_collections",
    "collections",
    "interest_and_fees",
    "count_M0",
    "balance_M0",
    "delinquent_1plus_balance",
    "delinquent_1plus_count",
)


def party(gw: Gateway, name: str, role: str, pools: list[str]) -> Client:
    prefix = {"investor": "/investor", "trustee": "/trustee"}[role]
    if name in gw.clients:
        return gw.clients[name]
    return gw.add(name, name, role, prefix, pools=pools)


def ask_figures(client: Client, pool: str, cutoff: str, ids: list[str]) -> tuple[requests.Response, str]:
    nonce = secrets.token_hex(32)
    r = client.post(f"/pools/{pool}/snapshots/{cutoff}/figures", json={"figures": ids, "nonce": nonce})
    return r, nonce


def claim(client: Client, pool: str, cutoff: str, statement: dict[str, Any]) -> requests.Response:
    body = {"statement": statement, "nonce": secrets.token_hex(32)}
    return client.post(f"/pools/{pool}/snapshots/{cutoff}/claims", json=body)


def reference_figures(path: Path, cutoff: str) -> dict[str, int]:
    """Every figure of docs/metrics.md from the raw JSONL tape: the pandas reference, plus the few
    linear figures it does not list, by their written definitions (plain pandas on its loan frame)."""
    loans = ref.tape_loans(path, date.fromisoformat(cutoff))
    out = ref.abs_metrics(loans)
    for label, states in (
        ("1plus", ("M1", "M2", "M3", "M3+")),
        ("31plus", ("M2", "M3", "M3+")),
        ("61plus", ("M3", "M3+")),
        ("90plus", ("M3+",)),
    ):
        out[f"delinquent_{label}_count"] = int(loans["state"].isin(states).sum())
    out["interest_and_fees"] = int(loans["interest"].sum() + loans["fees"].sum())
    outstanding = int(loans.loc[loans["state"].isin(ref.OUTSTANDING), "balance"].sum())
    out["rate_base_balance"] = outstanding + int(
        loans["unscheduled_principal"].sum() + loans["written_off"].sum()
    )
    return out


def v2_tape(tmp: Path, pool: str, loans: int, month: int) -> tuple[list[dict[str, Any]], Path, str]:
    path = tmp / f"{pool}-{month}.jsonl"
    write_jsonl(generate_tape(loans, seed=5, cutoff=FIRST, pool_id=pool, month=month), str(path))
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows, path, monthly_cutoff(FIRST, month).isoformat()


@pytest.fixture(scope="module")
def v2_pool(gw: Gateway, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """300 synthetic loans, month 7 (every state the platform produces, flows included), sealed."""
    rows, path, cutoff = v2_tape(tmp_path_factory.mktemp("exact"), POOL, 300, 7)
    gw.create_pool(POOL, "CN_CONSUMER")
    gw.submit(POOL, cutoff, rows)
    gw.seal(POOL, cutoff)
    return {"rows": rows, "cutoff": cutoff, "reference": reference_figures(path, cutoff)}


@pytest.fixture(scope="module")
def investor_answer(gw: Gateway, v2_pool: dict[str, Any]) -> dict[str, Any]:
    investor = party(gw, "ex-investor", "investor", [POOL])
    r, nonce = ask_figures(investor, POOL, v2_pool["cutoff"], SERVICER_REPORT)
    doc = expect(r, 200, "exact figures")
    doc["nonce"] = nonce
    return doc


def test_a_v2_tape_is_sealed_under_the_pool_statement_v2_by_default(
    gw: Gateway, v2_pool: dict[str, Any]
) -> None:
    header = expect(
        gw.clients["platform"].get(f"/pools/{POOL}/snapshots/{v2_pool['cutoff']}/header"), 200, "header"
    )
    assert header["proof_params"]["lane_set"].startswith("pool-v4:")
    assert header["leaf_count"] == len(v2_pool["rows"])


def test_the_investor_gets_pool_level_figures_exactly_with_unit_and_definition(
    investor_answer: dict[str, Any], v2_pool: dict[str, Any]
) -> None:
    by_id = {f["figure_id"]: f for f in investor_answer["figures"]}
    assert sorted(by_id) == SERVICER_REPORT
    assert (investor_answer["currency"], investor_answer["minor_unit"]) == ("CNY", "fen")
    for fid in POOL_LEVEL:
        assert "value" in by_id[fid], (fid, by_id[fid])
    for fid, f in by_id.items():
        definition = figure_definition(fid)
        assert definition is not None, fid
        assert f["definition"] == definition.name
        if fid.startswith("count_") or fid.endswith("_count"):
            assert f["unit"] == "loans", fid
            assert "currency" not in f
        else:
            assert (f["unit"], f["currency"]) == ("fen", "CNY"), fid


def test_every_released_exact_figure_equals_the_pandas_reference(
    investor_answer: dict[str, Any], v2_pool: dict[str, Any]
) -> None:
    reference = v2_pool["reference"]
    released = {f["figure_id"]: f["value"] for f in investor_answer["figures"] if "value" in f}
    assert len(released) >= len(POOL_LEVEL)
    assert released == {fid: reference[fid] for fid in released}


def test_the_servicer_report_ratios_from_the_released_figures_equal_the_reference(
    investor_answer: dict[str, Any], v2_pool: dict[str, Any]
) -> None:
    released = {f["figure_id"]: f["value"] for f in investor_answer["figures"] if "value" in f}
    reference = v2_pool["reference"]
    base = released["rate_base_balance"]
    assert ref.ppm(released["unscheduled_principal"], base) == reference["smm_ppm"]
    assert ref.annualised_ppm(released["unscheduled_principal"], base) == reference["cpr_ppm"]
    assert (
        ref.ppm(12 * released["interest_and_fees"], released["beginning_balance"])
        == (reference["portfolio_yield_ppm"])
    )
    assert (
        ref.ppm(released["delinquent_1plus_balance"], released["pool_balance"])
        == (reference["delinquency_1plus_ratio_ppm"])
    )


def test_every_released_figure_carries_a_proof_bound_to_the_question(
    gw: Gateway, investor_answer: dict[str, Any]
) -> None:
    for f in investor_answer["figures"]:
        if "value" not in f:
            assert "bundle" not in f
            continue
        verified = verify_claim_answer(
            f["bundle"],
            gw.key,
            expected=ExpectedClaim(
                nonce=bytes.fromhex(investor_answer["nonce"]),
                pool_id=POOL,
                snapshot_id=investor_answer["snapshot_id"],
                statement=Disclosure(f["figure_id"]),
            ),
            witnesses=WitnessPolicy.unwitnessed(),
        )
        assert int(f["bundle"]["proof"]["value"]) == f["value"]
        assert verified.header.lanes.name.startswith("pool-v4:")


@pytest.mark.parametrize("fid", ["pool_balance", "delinquent_1plus_balance", "unscheduled_principal"])
def test_poolproof_audit_verify_claim_accepts_an_exact_figure(
    gw: Gateway, investor_answer: dict[str, Any], tmp_path: Path, fid: str
) -> None:
    [f] = [f for f in investor_answer["figures"] if f["figure_id"] == fid]
    if "value" not in f:
        pytest.fail(f"{fid} was suppressed on a 300-loan pool: {f}")
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(f["bundle"]), encoding="utf-8")
    code, out = audit(
        "verify-claim",
        path,
        "--key",
        gw.key_file,
        "--no-witness",
        "--expect-nonce",
        investor_answer["nonce"],
        "--expect-pool",
        POOL,
        "--expect-statement",
        json.dumps({"type": "disclosure", "metric": fid}),
    )
    assert code == 0, out
    assert out["disclosed"] == {"metric": fid, "value": f["value"], "unit": "CNY minor units"}
    # A tampered value is refused.
    bad = json.loads(json.dumps(f["bundle"]))
    bad["proof"]["value"] = str(int(bad["proof"]["value"]) + 1)  # a decimal string
    path.write_text(json.dumps(bad), encoding="utf-8")
    code, out = audit("verify-claim", path, "--key", gw.key_file, "--no-witness")
    assert code != 0


def test_a_state_below_the_minimum_cohort_is_suppressed(
    gw: Gateway, investor_answer: dict[str, Any], v2_pool: dict[str, Any]
) -> None:
    reference = v2_pool["reference"]
    small = [s for s in STATES if 0 < reference[f"count_{s}"] < K]
    assert small, {s: reference[f"count_{s}"] for s in STATES}  # the month has a small state
    by_id = {f["figure_id"]: f for f in investor_answer["figures"]}
    for s in small:
        for fid in (f"count_{s}", f"balance_{s}"):
            if fid not in by_id:
                continue  # balance_<terminal state> is not a figure
            f = by_id[fid]
            assert {k: f[k] for k in ("suppressed", "reason")} == SUPPRESSED_FIGURE, fid
            assert "value" not in f
            assert "bundle" not in f
    # Asking the same figure through the claims route is refused with the uniform text.
    investor = party(gw, "ex-investor", "investor", [POOL])
    r = claim(investor, POOL, v2_pool["cutoff"], {"type": "disclosure", "metric": f"count_{small[0]}"})
    assert r.status_code == 403
    assert r.json()["message"] == REFUSED


def test_no_released_figure_pins_a_small_state_by_difference(
    investor_answer: dict[str, Any], v2_pool: dict[str, Any]
) -> None:
    reference = v2_pool["reference"]
    released = {f["figure_id"]: f["value"] for f in investor_answer["figures"] if "value" in f}
    hidden = {
        reference[f"balance_{s}"]
        for s in ("M1", "M2", "M3", "M3+", "DEFAULTED")
        if 0 < reference[f"count_{s}"] < K and reference[f"balance_{s}"]
    }
    values = list(released.values())
    diffs = {abs(a - b) for a in values for b in values}
    assert not hidden & (set(values) | diffs)


def test_the_claims_route_opens_a_pool_level_figure_for_the_investor(
    gw: Gateway, v2_pool: dict[str, Any]
) -> None:
    investor = party(gw, "ex-investor", "investor", [POOL])
    r = claim(investor, POOL, v2_pool["cutoff"], {"type": "disclosure", "metric": "pool_balance"})
    doc = expect(r, 200, "exact claim")
    assert int(doc["proof"]["value"]) == v2_pool["reference"]["pool_balance"]


def test_of_two_figures_that_pin_a_small_state_the_policy_releases_the_one_listed_first(
    investor_answer: dict[str, Any], v2_pool: dict[str, Any]
) -> None:
    reference = v2_pool["reference"]
    assert 0 < reference["count_DEFAULTED"] < K  # outstanding_balance - pool_balance = the defaulted loans
    by_id = {f["figure_id"]: f for f in investor_answer["figures"]}
    order = POLICY.metric_sets["servicer_report"]
    assert order.index("pool_balance") < order.index("outstanding_balance")
    assert by_id["pool_balance"]["value"] == reference["pool_balance"]
    assert by_id["outstanding_balance"]["suppressed"] is True
    assert by_id["active_loan_count"]["suppressed"] is True


def test_an_exact_figure_no_servicer_report_publishes_is_refused_naming_the_rule(
    gw: Gateway, v2_pool: dict[str, Any]
) -> None:
    investor = party(gw, "ex-investor", "investor", [POOL])
    r, _ = ask_figures(investor, POOL, v2_pool["cutoff"], ["pool_balance", "count_REPURCHASED"])
    assert r.status_code == 403
    assert "modes.threshold_for_the_rest" in r.json()["message"]
    assert "count_REPURCHASED" in r.json()["message"]
    r = claim(investor, POOL, v2_pool["cutoff"], {"type": "disclosure", "metric": "count_MATURED"})
    assert r.status_code == 403
    assert "mode threshold refuses an exact claim" in r.json()["message"]
    # A threshold claim on the same figure is allowed.
    bound = {"type": "bound", "metric": "count_REPURCHASED", "lo": 0, "hi": None, "value_bits": 16}
    assert claim(investor, POOL, v2_pool["cutoff"], bound).status_code == 200


def test_an_unknown_figure_id_is_a_clear_422(gw: Gateway, v2_pool: dict[str, Any]) -> None:
    investor = party(gw, "ex-investor", "investor", [POOL])
    r, _ = ask_figures(investor, POOL, v2_pool["cutoff"], ["pool_balance", "largest_balanse"])
    assert r.status_code == 422
    assert "figure 'largest_balanse'" in r.json()["message"]
    r = investor.post(f"/pools/{POOL}/snapshots/{v2_pool['cutoff']}/figures", json={"figures": []})
    assert r.status_code == 422


def test_a_party_with_loan_level_access_gets_small_states_exactly(
    gw: Gateway, v2_pool: dict[str, Any]
) -> None:
    reference = v2_pool["reference"]
    small = [s for s in STATES if 0 < reference[f"count_{s}"] < K]
    trustee = party(gw, "ex-trustee", "trustee", [POOL])
    r, _ = ask_figures(trustee, POOL, v2_pool["cutoff"], [f"count_{small[0]}"])
    [f] = expect(r, 200, "trustee figures")["figures"]
    assert f["value"] == reference[f"count_{small[0]}"]


# --- differencing across cut-offs -----------------------------------------------------------------------
DIFF = "EX-DIFF"


def test_exact_figures_of_a_cutoff_a_few_loans_from_the_last_are_suppressed(
    gw: Gateway, tmp_path: Path
) -> None:
    month1, path1, c1 = v2_tape(tmp_path, DIFF, 30, 1)
    month2, _, c2 = v2_tape(tmp_path, DIFF, 30, 2)
    # The loans of month 1 that are still on the month-2 tape (the others ended), less one more: the
    # two pools differ by a handful of loans, fewer than the minimum cohort.
    first_ids = {r["platform_loan_id"] for r in month1}
    month2 = [r for r in month2 if r["platform_loan_id"] in first_ids][1:]
    assert 0 < len(month1) - len(month2) < K
    gw.create_pool(DIFF, "CN_CONSUMER")
    investor = party(gw, "ex-diff-investor", "investor", [DIFF])
    ids = ["loan_count", "scheduled_principal", "interest", "collections"]  # over every loan of the tape
    answers = []
    for cutoff, rows in ((c1, month1), (c2, month2)):
        gw.submit(DIFF, cutoff, rows)
        gw.seal(DIFF, cutoff)
        r, _ = ask_figures(investor, DIFF, cutoff, ids)
        answers.append({f["figure_id"]: f for f in expect(r, 200, f"figures {cutoff}")["figures"]})
    reference = reference_figures(path1, c1)
    assert {fid: answers[0][fid]["value"] for fid in ids} == {fid: reference[fid] for fid in ids}
    for fid in ids:
        assert answers[1][fid]["suppressed"] is True, fid
        assert "value" not in answers[1][fid]
    # The claims route answers the same: refused, with the uniform text.
    r = claim(investor, DIFF, c2, {"type": "disclosure", "metric": "loan_count"})
    assert r.status_code == 403
    assert r.json()["message"] == REFUSED


def test_every_exact_figure_decision_is_in_the_decision_log_without_values(
    gw: Gateway, investor_answer: dict[str, Any], v2_pool: dict[str, Any]
) -> None:
    from gateway.storage.decisions import connect_log, log_path_for, verify_stored_log

    db = connect_log(log_path_for(gw.inst.db_path))
    try:
        assert verify_stored_log(db) > 0
        entries = [r[0] for r in db.conn.execute("SELECT entry FROM decision_log")]
    finally:
        db.conn.close()
    mine = [e for e in entries if f"pool:{POOL}/snapshot:" in e and "/figures" in e and "ex-investor" in e]
    assert mine
    text = " ".join(mine)
    assert "modes.servicer_report_exact" in text  # the policy's rule
    assert "aggregates.min_cohort" in text  # a suppressed small state
    assert "aggregates.cohort_ok" in text  # a released figure
    reference = v2_pool["reference"]
    for fid in ("balance_M2", "balance_M3", "balance_DEFAULTED"):
        if reference[fid]:
            assert f'"{reference[fid]}"' not in text
            assert f" {reference[fid]}," not in text
