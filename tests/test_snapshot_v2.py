"""Snapshots under the pool statement v2 (``pool-v2`` lane sets): the auditor's full check, the borrower's
inclusion bundle, and a malicious prover for every per-loan property, caught by ``verify_snapshot``."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from proofs import merkle
from proofs import poolcircuit as pc
from proofs.audit_cli import main as audit_main
from proofs.errors import EncodingError, VerificationError
from proofs.inclusion import make_inclusion_bundle, verify_inclusion_bundle
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS, LaneSet, get_lane_set, pool_v2
from proofs.loan_facts import FLOWS, OUTSTANDING_STATES, STATES, TERMINAL_STATES, LoanFacts
from proofs.signing import public_key_to_pem
from proofs.snapshot import loan_blindings, verify_snapshot
from tests.snapshot_util import Sealed, flip_hex, rewrite_chunk, seal_in_memory

#: Narrow widths keep the proofs cheap; the cap makes the concentration bound part of every proof.
LANES = pool_v2(20, (20, 20, 16, 12, 20, 20, 20), balance_cap=900_000)


def make_facts(n: int, *, seed: int = 11) -> list[LoanFacts]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        state = (
            i % len(STATES) if i < len(STATES) else rng.choices(range(len(STATES)), weights=[80] + [2] * 9)[0]
        )
        balance = 0 if STATES[state] in TERMINAL_STATES else rng.randrange(0, 900_001)
        flows = tuple(rng.randrange(0, 1 << w) for w in LANES.circuit.flow_bits)  # type: ignore[union-attr]
        labels = {
            "rate_band": rng.choice(["0-599", "600-1199", "1200+"]),
            "region": rng.choice(["CA", "NY", "TX", "UNKNOWN"]),
        }
        out.append(LoanFacts(f"E{i:06d}", state, balance, flows, labels))
    return out


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    # 23 loans in chunks of 8: two full chunks and a partial one.
    return seal_in_memory(make_facts(23), chunk_log2=3, lane_set=LANES.name, ipa_rounds=2)  # type: ignore[arg-type]


def _verify(text: str, sealed: Sealed) -> Any:
    return verify_snapshot(io.StringIO(text), sealed.key.public_key())


def test_honest_snapshot_verifies_under_the_default_lane_sets(sealed: Sealed) -> None:
    assert "pool-v2" in DEFAULT_ACCEPTED_LANE_SETS
    header = _verify(sealed.bundle_text, sealed)
    assert header.leaf_count == 23
    assert header.lanes == LANES
    assert get_lane_set(LANES.name) == LANES


def test_aggregates_are_the_plain_sums_of_the_facts(sealed: Sealed) -> None:
    facts: list[LoanFacts] = sealed.loans  # type: ignore[assignment]
    totals = dict(zip(LANES.lanes, sealed.outcome.lane_value_sums, strict=True))
    for i, state in enumerate(STATES):
        assert totals[f"count_{state}"] == sum(1 for f in facts if f.state == i)
    for i, state in enumerate(OUTSTANDING_STATES):
        assert totals[f"balance_{state}"] == sum(f.balance for f in facts if f.state == i)
    for k, flow in enumerate(FLOWS):
        assert totals[f"flow_{flow}"] == sum(f.flows[k] for f in facts)
    # Terminated loans are in the loan count but never in the outstanding balance or the current count.
    terminated = [f for f in facts if f.state_name in TERMINAL_STATES]
    assert terminated
    assert LANES.metric_value("loan_count", totals) == len(facts)
    assert LANES.metric_value("active_loan_count", totals) == len(facts) - len(terminated)
    assert LANES.metric_value("outstanding_balance", totals) == sum(f.balance for f in facts)
    assert totals["count_M0"] == sum(1 for f in facts if f.state_name == "M0")


def test_lane_set_names_carry_the_parameters_and_refuse_other_spellings() -> None:
    assert LANES.name == "pool-v2:b20:f20,20,16,12,20,20,20:c900000"
    assert LANES.family == "pool-v2"
    for bad in (
        "pool-v2:b020:f20,20,16,12,20,20,20:c900000",
        "pool-v2:b20:f20:cnone",
        "pool-v2:b99:f1,1,1,1,1,1,1:cnone",
    ):
        with pytest.raises(KeyError, match="unknown lane set"):
            get_lane_set(bad)


def test_a_verifier_that_names_only_dpd5_refuses_the_snapshot(sealed: Sealed) -> None:
    with pytest.raises(VerificationError, match=r"header\.lane_set"):
        verify_snapshot(io.StringIO(sealed.bundle_text), sealed.key.public_key(), lane_sets={"dpd5-v3"})


@pytest.mark.parametrize("pos", [0, 100, 500, -1])
def test_a_tampered_chunk_proof_is_rejected(sealed: Sealed, pos: int) -> None:
    def edit(doc: dict[str, Any]) -> None:
        proof = doc["proofs"][0]
        doc["proofs"][0] = flip_hex(proof, pos % len(proof))

    with pytest.raises((VerificationError, EncodingError)):
        _verify(rewrite_chunk(sealed, 1, edit), sealed)


def test_a_leaf_commitment_swapped_with_another_loans_is_rejected(sealed: Sealed) -> None:
    def edit(doc: dict[str, Any]) -> None:
        a, b = doc["leaves"][0], doc["leaves"][1]
        a[1], b[1] = b[1], a[1]

    with pytest.raises(VerificationError):
        _verify(rewrite_chunk(sealed, 0, edit), sealed)


# ---------------------------------------------------------------------------------------------
# A malicious prover: the gateway skips its own check and seals a loan that breaks a property.
# verify_snapshot must refuse the snapshot and name the failed check.
# ---------------------------------------------------------------------------------------------


def _lanes_of(balances: dict[str, int], flows: dict[str, int], counts: dict[str, int]) -> tuple[int, ...]:
    return (
        *(balances.get(s, 0) for s in OUTSTANDING_STATES),
        *(flows.get(f, 0) for f in FLOWS),
        *(counts.get(s, 0) for s in STATES),
    )


MALICIOUS = {
    "a loan in two states": _lanes_of({"M0": 500}, {}, {"M0": 1, "M1": 1}),
    "a balance split across two states": _lanes_of({"M0": 200, "M2": 300}, {}, {"M0": 1}),
    "a terminated loan counted as current": _lanes_of({"M0": 500}, {}, {"PREPAID": 1}),
    "a negative flow": _lanes_of({"M0": 500}, {"interest": -7, "scheduled_principal": 7}, {"M0": 1}),
    "a balance above the pool's cap": _lanes_of({"M0": 900_001}, {}, {"M0": 1}),
}


@pytest.mark.parametrize("name", MALICIOUS)
def test_malicious_prover_is_caught_by_the_full_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    bad_values = MALICIOUS[name]
    honest = pc.PoolCircuit.lane_values

    def lane_values(self: pc.PoolCircuit, facts: LoanFacts) -> tuple[int, ...]:
        return bad_values if facts.exposure_id == "E000003" else honest(self, facts)

    monkeypatch.setattr(pc, "_check_loan", lambda *args: None)
    monkeypatch.setattr(pc.PoolCircuit, "lane_values", lane_values)
    forged = seal_in_memory(make_facts(9), chunk_log2=3, lane_set=LANES.name, ipa_rounds=2)  # type: ignore[arg-type]
    monkeypatch.undo()
    with pytest.raises(VerificationError, match=r"poolcircuit\.batch"):
        _verify(forged.bundle_text, forged)
    # The auditor's tool says the same: exit 1 (failed) naming the check.
    bundle_path, key_path = tmp_path / "snapshot.json", tmp_path / "gateway.pub"
    bundle_path.write_text(forged.bundle_text)
    key_path.write_bytes(public_key_to_pem(forged.key.public_key()))
    assert audit_main(["verify-snapshot", str(bundle_path), "--key", str(key_path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "poolcircuit.batch" in json.dumps(report)


# ---------------------------------------------------------------------------------------------
# A borrower's inclusion bundle opens their leaf: state, balance and flows
# ---------------------------------------------------------------------------------------------


def _inclusion(sealed: Sealed, index: int, lanes: LaneSet = LANES, values: Any = None) -> dict[str, Any]:
    facts: LoanFacts = sealed.loans[index]  # type: ignore[assignment]
    leaves = [h for r in sealed.results for h in r.leaf_hashes]
    return make_inclusion_bundle(
        sealed.header,
        index,
        facts.exposure_id,
        values if values is not None else lanes.facts_values(facts),
        loan_blindings(sealed.seed, facts.exposure_id, lanes),
        merkle.MerkleTree(leaves).inclusion_proof(index),
        cells=facts.labels,
    )


@pytest.mark.parametrize("index", [0, 6, 9, 22])
def test_inclusion_bundle_opens_the_loans_facts(sealed: Sealed, index: int) -> None:
    verified = verify_inclusion_bundle(_inclusion(sealed, index), sealed.key.public_key())
    # The leaf carries the loan's cells, so the borrower sees which cells the loan is counted in.
    assert verified.facts == sealed.loans[index]


def test_inclusion_bundle_with_other_facts_is_rejected(sealed: Sealed) -> None:
    facts: LoanFacts = sealed.loans[0]  # type: ignore[assignment]
    other = list(LANES.facts_values(facts))
    other[len(OUTSTANDING_STATES)] += 1  # one fen more scheduled principal
    with pytest.raises(VerificationError, match=r"merkle\.inclusion"):
        verify_inclusion_bundle(_inclusion(sealed, 0, values=other), sealed.key.public_key())
    two_states = list(LANES.facts_values(facts))
    two_states[-1] = 1
    with pytest.raises(VerificationError, match=r"inclusion\.lanes"):
        verify_inclusion_bundle(_inclusion(sealed, 0, values=two_states), sealed.key.public_key())


# ---------------------------------------------------------------------------------------------
# Claims name any v2 metric; an exact disclosure carries its value; an unknown metric lists the valid ones
# ---------------------------------------------------------------------------------------------


def _claim(sealed: Sealed, statement: Any, nonce: bytes = b"n" * 16) -> dict[str, Any]:
    from proofs.claim_bundle import metric_opening, prove_claim_bundle
    from proofs.group import get_group
    from proofs.snapshot import verify_header

    header = verify_header(sealed.header, sealed.key.public_key())
    openings = {
        m: metric_opening(LANES, m, sealed.outcome.lane_value_sums, sealed.outcome.lane_blinding_sums)
        for m in statement.metrics
    }
    return prove_claim_bundle(get_group(), header, statement, openings, nonce)


def test_exact_and_ratio_claims_on_v2_metrics_verify(sealed: Sealed) -> None:
    from proofs.claim_bundle import ExpectedClaim, verify_claim_answer
    from proofs.claims import Disclosure, RatioClaim
    from proofs.witness import WitnessPolicy

    facts: list[LoanFacts] = sealed.loans  # type: ignore[assignment]
    exact = Disclosure("outstanding_balance")
    verified = verify_claim_answer(
        _claim(sealed, exact),
        sealed.key.public_key(),
        witnesses=WitnessPolicy.unwitnessed(),
        expected=ExpectedClaim(nonce=b"n" * 16, statement=exact),
    )
    assert verified.statement == exact
    doc = _claim(sealed, exact)
    assert int(doc["proof"]["value"]) == sum(f.balance for f in facts)
    delinquent = sum(f.balance for f in facts if f.state_name in ("M1", "M2", "M3", "M3+"))
    performing = sum(f.balance for f in facts if f.state_name in ("M0", "M1", "M2", "M3", "M3+"))
    ratio = RatioClaim("delinquent_1plus_balance", "pool_balance", "<=", delinquent + 1, performing)
    verify_claim_answer(
        _claim(sealed, ratio),
        sealed.key.public_key(),
        witnesses=WitnessPolicy.unwitnessed(),
        expected=ExpectedClaim(nonce=b"n" * 16, statement=ratio),
    )


def test_an_unknown_metric_lists_the_valid_ones(sealed: Sealed) -> None:
    from proofs.claim_bundle import metric_commitments
    from proofs.claims import Disclosure
    from proofs.snapshot import verify_header

    header = verify_header(sealed.header, sealed.key.public_key())
    with pytest.raises(VerificationError, match=r"claim\.metric: .*its metrics are .*outstanding_balance"):
        metric_commitments(header, Disclosure("count_dpd_90plus"))


def test_every_v2_metric_is_defined_in_docs_metrics() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text()
    for name in LANES.metrics:
        generic = (
            name.replace(name.split("_", 1)[-1], "<STATE>")
            if name.startswith(("count_", "balance_"))
            else name
        )
        assert (
            f"`{name}`" in text
            or f"`{generic}`" in text
            or (
                name.startswith("delinquent_")
                and name.endswith("_count")
                and "`delinquent_1plus_count`" in text
            )
        ), name


def test_the_auditors_tool_prints_a_disclosed_v2_figure_with_its_unit(
    sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from proofs.claims import Disclosure, RatioClaim

    facts: list[LoanFacts] = sealed.loans  # type: ignore[assignment]
    key_path = tmp_path / "gateway.pub"
    key_path.write_bytes(public_key_to_pem(sealed.key.public_key()))
    for statement, unit in (
        (Disclosure("outstanding_balance"), "CNY minor units"),
        (Disclosure("active_loan_count"), "loans"),
    ):
        path = tmp_path / "claim.json"
        path.write_text(json.dumps(_claim(sealed, statement)))
        assert audit_main(["verify-claim", str(path), "--key", str(key_path), "--json", "--no-witness"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["disclosed"]["unit"] == unit
    assert out["disclosed"] == {
        "metric": "active_loan_count",
        "value": sum(1 for f in facts if f.state_name not in TERMINAL_STATES),
        "unit": "loans",
    }
    ratio = RatioClaim("delinquent_1plus_balance", "pool_balance", "<=", 1, 1)
    path.write_text(json.dumps(_claim(sealed, ratio)))
    assert audit_main(["verify-claim", str(path), "--key", str(key_path), "--json", "--no-witness"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["units"] == {"delinquent_1plus_balance": "CNY minor units", "pool_balance": "CNY minor units"}
    assert "disclosed" not in out


def test_a_snapshot_without_inner_product_rounds_verifies_and_refuses_a_tampered_proof() -> None:
    sealed0 = seal_in_memory(make_facts(12), chunk_log2=3, lane_set=LANES.name, ipa_rounds=0)  # type: ignore[arg-type]
    assert _verify(sealed0.bundle_text, sealed0).leaf_count == 12

    def edit(doc: dict[str, Any]) -> None:
        doc["proofs"][0] = flip_hex(doc["proofs"][0], len(doc["proofs"][0]) - 5)

    with pytest.raises(VerificationError, match=r"poolcircuit\.batch"):
        _verify(rewrite_chunk(sealed0, 0, edit), sealed0)
