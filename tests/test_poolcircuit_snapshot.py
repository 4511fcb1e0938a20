"""Snapshots under the exact-bounds statement (``pool-v3``): sealed and fully audited end to end, an
amount past its cap caught by the auditor's full check, and a claim whose unpacking check uses the
per-slot widths."""

from __future__ import annotations

import io
import random

import pytest

from proofs import poolcircuit as pc
from proofs.errors import VerificationError
from proofs.lanes import pool_v3
from proofs.loan_facts import FLOWS, OUTSTANDING_STATES, STATES, TERMINAL_STATES, LoanFacts
from proofs.snapshot import verify_snapshot
from tests.snapshot_util import Sealed, seal_in_memory

#: Caps that are not 2^n − 1, so the exact bounds are narrower than the widths.
FLOW_CAPS = (900_000, 900_000, 40_000, 3_000, 900_000, 500_000, 900_000)
LANES = pool_v3(900_000, FLOW_CAPS)


def make_facts(n: int, *, seed: int = 13) -> list[LoanFacts]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        state = i % len(STATES)
        balance = 0 if STATES[state] in TERMINAL_STATES else rng.randrange(0, 900_001)
        flows = tuple(rng.randrange(0, cap + 1) for cap in FLOW_CAPS)
        out.append(LoanFacts(f"E{i:06d}", state, balance, flows))
    return out


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return seal_in_memory(make_facts(12), chunk_log2=3, lane_set=LANES.name, ipa_rounds=0)  # type: ignore[arg-type]


def test_honest_snapshot_verifies_and_sums_the_facts(sealed: Sealed) -> None:
    header = verify_snapshot(io.StringIO(sealed.bundle_text), sealed.key.public_key())
    assert header.leaf_count == 12
    assert header.lanes == LANES
    facts: list[LoanFacts] = sealed.loans  # type: ignore[assignment]
    totals = dict(zip(LANES.lanes, sealed.outcome.lane_value_sums, strict=True))
    for i, state in enumerate(OUTSTANDING_STATES):
        assert totals[f"balance_{state}"] == sum(f.balance for f in facts if f.state == i)
    for k, flow in enumerate(FLOWS):
        assert totals[f"flow_{flow}"] == sum(f.flows[k] for f in facts)


def test_a_claim_on_the_snapshot_verifies_with_the_narrow_unpacking_check(sealed: Sealed) -> None:
    from proofs.claim_bundle import ExpectedClaim, metric_opening, prove_claim_bundle, verify_claim_answer
    from proofs.claims import RatioClaim
    from proofs.group import get_group
    from proofs.snapshot import verify_header
    from proofs.witness import WitnessPolicy

    header = verify_header(sealed.header, sealed.key.public_key())
    statement = RatioClaim("delinquent_31plus_balance", "outstanding_balance", "<=", 1, 1, 48)
    openings = {
        m: metric_opening(LANES, m, sealed.outcome.lane_value_sums, sealed.outcome.lane_blinding_sums)
        for m in statement.metrics
    }
    doc = prove_claim_bundle(get_group(), header, statement, openings, b"n" * 16)
    verified = verify_claim_answer(
        doc,
        sealed.key.public_key(),
        expected=ExpectedClaim(nonce=b"n" * 16, statement=statement),
        witnesses=WitnessPolicy.unwitnessed(),
    )
    assert verified.unpacking_checked


@pytest.mark.parametrize("flow", ["interest", "fees", "recoveries"], ids=lambda f: f"{f} one past its cap")
def test_an_amount_past_its_cap_is_caught_by_the_full_check(
    monkeypatch: pytest.MonkeyPatch, flow: str
) -> None:
    k = FLOWS.index(flow)
    honest = pc.PoolCircuit.lane_values

    def lane_values(self: pc.PoolCircuit, facts: LoanFacts) -> tuple[int, ...]:
        values = list(honest(self, facts))
        if facts.exposure_id == "E000003":
            values[len(OUTSTANDING_STATES) + k] = FLOW_CAPS[k] + 1  # still below 2^bits(cap)
        return tuple(values)

    assert FLOW_CAPS[k] + 1 < 1 << FLOW_CAPS[k].bit_length()
    monkeypatch.setattr(pc, "_check_loan", lambda *args: None)
    monkeypatch.setattr(pc.PoolCircuit, "lane_values", lane_values)
    forged = seal_in_memory(make_facts(6), chunk_log2=3, lane_set=LANES.name, ipa_rounds=0)  # type: ignore[arg-type]
    monkeypatch.undo()
    with pytest.raises(VerificationError, match=r"poolcircuit\.batch"):
        verify_snapshot(io.StringIO(forged.bundle_text), forged.key.public_key())
