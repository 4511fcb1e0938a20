"""Witness cosignatures, the investor's witness policy, a witness's fork memory, and claim answers
bound to the question (``proofs.witness``, ``proofs.claim_bundle``)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import bundle
from proofs.claim_bundle import ExpectedClaim, metric_opening, prove_claim_bundle, verify_claim_answer
from proofs.claims import BoundClaim, RatioClaim
from proofs.errors import EncodingError, VerificationError
from proofs.group import get_group
from proofs.snapshot import Header, header_hash, verify_header
from proofs.witness import (
    WitnessPolicy,
    admit_header,
    check_witnesses,
    cosign_header,
    new_witness_state,
    verify_cosignature,
)
from tests.snapshot_util import Sealed, make_loans, seal_in_memory

T = "2026-11-02T00:00:00Z"


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return seal_in_memory(make_loans(12, seed=4), chunk_log2=2)


@pytest.fixture(scope="module")
def header(sealed: Sealed) -> Header:
    return verify_header(sealed.header, sealed.key.public_key())


@pytest.fixture(scope="module")
def witness() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _totals(sealed: Sealed, header: Header) -> dict[str, int]:
    return dict(zip(header.lanes.lanes, sealed.outcome.lane_value_sums, strict=True))


def _claim(
    sealed: Sealed, header: Header, statement: Any, nonce: bytes, cosignatures: Any = ()
) -> dict[str, Any]:
    openings = {
        m: metric_opening(header.lanes, m, sealed.outcome.lane_value_sums, sealed.outcome.lane_blinding_sums)
        for m in statement.metrics
    }
    return prove_claim_bundle(get_group(), header, statement, openings, nonce, cosignatures=cosignatures)


def _true_ratio(sealed: Sealed, header: Header, slack: int = 1) -> RatioClaim:
    totals = _totals(sealed, header)
    bad = header.lanes.metric_value("balance_dpd_90plus", totals)
    pool = header.lanes.metric_value("pool_balance", totals)
    return RatioClaim("balance_dpd_90plus", "pool_balance", "<=", bad * 1000 // pool + slack, 1000)


# --- cosignatures -----------------------------------------------------------------------------------------


def test_a_cosignature_verifies_over_exactly_its_header(header: Header, witness: Ed25519PrivateKey) -> None:
    doc = cosign_header(witness, header, T)
    verify_cosignature(doc, header, witness.public_key())
    assert doc["header_hash"] == header.hash.hex() == header_hash(header.doc).hex()


@pytest.mark.parametrize(
    ("field", "value", "check"),
    [
        ("header_hash", "00" * 32, "witness.header"),
        ("pool_id", "OTHER", "witness.header"),
        ("cutoff_date", "2026-09-30", "witness.header"),
        ("snapshot_id", "S-other", "witness.header"),
        ("sequence", 2, "witness.header"),
        ("cosigned_at", "2026-11-03T00:00:00Z", "witness.signature"),
        ("sig", "00" * 64, "witness.signature"),
        ("key_id", "ab" * 16, "witness.signature"),
    ],
)
def test_every_part_of_a_cosignature_is_checked(
    header: Header, witness: Ed25519PrivateKey, field: str, value: object, check: str
) -> None:
    doc = cosign_header(witness, header, T)
    doc[field] = value
    with pytest.raises(VerificationError) as info:
        verify_cosignature(doc, header, witness.public_key())
    assert info.value.check == check


@pytest.mark.parametrize("bad", [{"format": "poolproof/cosignature/v1"}, [], "x", {"extra": 1}])
def test_a_malformed_cosignature_is_an_encoding_error(
    header: Header, witness: Ed25519PrivateKey, bad: Any
) -> None:
    doc = {**cosign_header(witness, header, T), **bad} if isinstance(bad, dict) and "extra" in bad else bad
    with pytest.raises(EncodingError):
        verify_cosignature(doc, header, witness.public_key())


# --- the policy ---------------------------------------------------------------------------------------------


def test_no_policy_refuses_and_says_how_to_accept_an_uncosigned_header(header: Header) -> None:
    with pytest.raises(VerificationError, match="--no-witness") as info:
        check_witnesses(header, [], None)
    assert info.value.check == "witness.policy"
    assert check_witnesses(header, [], WitnessPolicy.unwitnessed()) == ()


def test_an_empty_policy_is_not_silently_unwitnessed() -> None:
    with pytest.raises(ValueError, match="unwitnessed"):
        WitnessPolicy(())
    with pytest.raises(ValueError, match="needed"):
        WitnessPolicy((Ed25519PrivateKey.generate().public_key(),), 2)


def test_k_of_n_witnesses(header: Header) -> None:
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    docs = [cosign_header(k, header, T) for k in keys[:2]]
    stranger = cosign_header(Ed25519PrivateKey.generate(), header, T)  # ignored: not named
    policy = WitnessPolicy(tuple(k.public_key() for k in keys), 2)
    assert len(check_witnesses(header, [stranger, *docs], policy)) == 2
    with pytest.raises(
        VerificationError, match="1 of the witnesses you require cosigned this header, 2 needed"
    ):
        check_witnesses(header, docs[:1], policy)
    with pytest.raises(VerificationError) as info:
        check_witnesses(header, docs, WitnessPolicy(tuple(k.public_key() for k in keys)))
    assert info.value.check == "witness.missing"


# --- a witness's memory -------------------------------------------------------------------------------------


def _next_header(sealed: Sealed, previous: dict[str, Any], cutoff: str, sequence: int) -> Header:
    body = {
        **bundle.unsigned_body(sealed.header),
        "cutoff_date": cutoff,
        "sequence": sequence,
        "previous_header_hash": header_hash(previous).hex(),
    }
    doc = bundle.sign_document(sealed.key, "snapshot-header", body)
    return verify_header(doc, sealed.key.public_key())


def test_a_witness_refuses_a_second_header_for_one_pool_and_cutoff(sealed: Sealed, header: Header) -> None:
    state = admit_header(new_witness_state(), header)
    assert admit_header(state, header) == state  # the same header again: idempotent
    restated = verify_header(
        bundle.sign_document(
            sealed.key,
            "snapshot-header",
            {**bundle.unsigned_body(sealed.header), "policy_version": "restated"},
        ),
        sealed.key.public_key(),
    )
    with pytest.raises(VerificationError, match="already cosigned another header") as info:
        admit_header(state, restated)
    assert info.value.check == "witness.fork"


def test_a_witness_refuses_a_header_that_does_not_extend_its_chain(sealed: Sealed, header: Header) -> None:
    state = admit_header(new_witness_state(), header)
    good = _next_header(sealed, sealed.header, "2026-11-30", 2)
    after = admit_header(state, good)
    assert after["pools"]["POOL-1"]["head"]["sequence"] == 2
    forks = {
        "skips a sequence": _next_header(sealed, sealed.header, "2026-11-30", 3),
        "names another predecessor": _next_header(
            sealed, {**sealed.header, "policy_version": "x"}, "2026-11-30", 2
        ),
        "goes back in time": _next_header(sealed, sealed.header, "2026-09-30", 2),
    }
    for name, fork in forks.items():
        with pytest.raises(VerificationError) as info:
            admit_header(state, fork)
        assert info.value.check == "witness.chain", name
    # After cosigning month 2, a competing month 2 is a fork.
    with pytest.raises(VerificationError):
        admit_header(after, forks["names another predecessor"])


def test_a_malformed_witness_state_is_an_encoding_error(header: Header) -> None:
    for bad in ({}, {"format": "poolproof/witness-state/v1", "pools": []}, {"format": "poolproof/x/v1"}):
        with pytest.raises(EncodingError):
            admit_header(bad, header)


# --- answers bound to the question --------------------------------------------------------------------------


def test_a_claim_answer_checks_what_was_asked(sealed: Sealed, header: Header) -> None:
    statement = _true_ratio(sealed, header)
    nonce = b"n" * 32
    doc = _claim(sealed, header, statement, nonce)
    asked = ExpectedClaim(
        nonce=nonce,
        pool_id="POOL-1",
        cutoff_date="2026-10-31",
        snapshot_id="S-test-1",
        header_hash=header.hash,
        statement=statement,
    )
    verified = verify_claim_answer(
        doc, sealed.key.public_key(), expected=asked, witnesses=WitnessPolicy.unwitnessed()
    )
    assert verified.statement == statement
    assert verified.unpacking_checked  # dpd5-v3: the aggregates unpack the packed sums


def test_a_stale_snapshot_answer_is_rejected(sealed: Sealed, header: Header) -> None:
    """Asked about August, the gateway answers with a fresh nonce-bound proof on July's snapshot."""
    statement = _true_ratio(sealed, header)
    nonce = b"a" * 32
    july = _claim(sealed, header, statement, nonce)  # a valid proof, bound to this nonce
    key = sealed.key.public_key()
    for asked, check in (
        (ExpectedClaim(nonce=nonce, cutoff_date="2026-11-30"), "claim.expected.cutoff"),
        (ExpectedClaim(nonce=nonce, snapshot_id="S-test-2"), "claim.expected.snapshot"),
        (ExpectedClaim(nonce=nonce, pool_id="POOL-2"), "claim.expected.pool"),
        (ExpectedClaim(nonce=nonce, header_hash=b"\x01" * 32), "claim.expected.header_hash"),
        (ExpectedClaim(nonce=b"b" * 32), "claim.expected.nonce"),
    ):
        with pytest.raises(VerificationError) as info:
            verify_claim_answer(july, key, expected=asked, witnesses=WitnessPolicy.unwitnessed())
        assert info.value.check == check


def test_a_weaker_statement_is_rejected(sealed: Sealed, header: Header) -> None:
    """Asked to prove "<= 0.1% above the truth", the gateway proves "<= 50%"."""
    asked = _true_ratio(sealed, header)
    weaker = RatioClaim(asked.metric_num, asked.metric_den, "<=", 1, 2)
    nonce = b"w" * 32
    doc = _claim(sealed, header, weaker, nonce)
    with pytest.raises(VerificationError, match="asked to prove") as info:
        verify_claim_answer(
            doc,
            sealed.key.public_key(),
            expected=ExpectedClaim(nonce=nonce, statement=asked),
            witnesses=WitnessPolicy.unwitnessed(),
        )
    assert info.value.check == "claim.expected.statement"


# --- the re-signed header -----------------------------------------------------------------------------------


def _moved_to_m0(sealed: Sealed) -> dict[str, Any]:
    """A header re-signed by the gateway with the 90+ balance aggregate moved to M0."""
    body = copy.deepcopy(bundle.unsigned_body(sealed.header))
    agg = body["aggregates"]
    agg["balance_M0"], agg["balance_M3+"] = agg["balance_M3+"], agg["balance_M0"]
    return bundle.sign_document(sealed.key, "snapshot-header", body)


def test_a_resigned_header_fails_the_unpacking_check_without_a_witness(sealed: Sealed) -> None:
    forged = _moved_to_m0(sealed)
    header = verify_header(forged, sealed.key.public_key())  # signature fine: the gateway signed it
    doc = {
        "format": "poolproof/claim/v1",
        "header": forged,
        "statement": BoundClaim("pool_balance", 0, None).to_dict(),
        "nonce": ("n" * 32).encode().hex(),
        "proof": {},
    }
    with pytest.raises(VerificationError) as info:
        verify_claim_answer(
            doc, sealed.key.public_key(), expected=ExpectedClaim(), witnesses=WitnessPolicy.unwitnessed()
        )
    assert info.value.check.startswith("unpacking")
    assert header.hash != verify_header(sealed.header, sealed.key.public_key()).hash


def test_a_resigned_header_is_rejected_when_a_witness_is_required(
    sealed: Sealed, header: Header, witness: Ed25519PrivateKey
) -> None:
    """The witness cosigned the honest header; the re-signed one carries that cosignature in vain."""
    cosignature = cosign_header(witness, header, T)
    forged = verify_header(_moved_to_m0(sealed), sealed.key.public_key())
    with pytest.raises(VerificationError) as info:
        check_witnesses(forged, [cosignature], WitnessPolicy((witness.public_key(),)))
    assert info.value.check == "witness.header"
    nonce = b"c" * 32
    honest = _claim(sealed, header, _true_ratio(sealed, header), nonce, [cosignature])
    verified = verify_claim_answer(
        honest,
        sealed.key.public_key(),
        expected=ExpectedClaim(nonce=nonce),
        witnesses=WitnessPolicy((witness.public_key(),)),
    )
    assert verified.witnesses == (bundle_key_id(witness),)


def admit_header_or_refuse(state: dict[str, Any], header: Header) -> dict[str, Any] | None:
    """The new state, or ``None`` if the witness refused (a fork or a broken chain, nothing else)."""
    try:
        return admit_header(state, header)
    except VerificationError as exc:
        if exc.check not in ("witness.fork", "witness.chain"):
            raise
        return None


def bundle_key_id(key: Ed25519PrivateKey) -> str:
    from proofs.signing import key_id

    return key_id(key.public_key())


@settings(
    max_examples=30, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(
    picks=st.lists(st.tuples(st.integers(min_value=0, max_value=3), st.booleans()), min_size=1, max_size=10)
)
def test_whatever_a_gateway_shows_a_witness_it_cosigns_one_chain(
    sealed: Sealed, picks: list[tuple[int, bool]]
) -> None:
    """Property: shown honest headers and forks in any order, the headers a witness admits form one
    hash chain with one header per cut-off."""
    honest = [sealed.header]
    for month, cutoff in enumerate(("2026-11-30", "2026-12-31", "2027-01-31"), start=2):
        honest.append(_next_header(sealed, honest[-1], cutoff, month).doc)
    state = new_witness_state()
    admitted: list[Header] = []
    for index, fork in picks:
        doc = honest[index]
        if fork:
            body = {**bundle.unsigned_body(doc), "policy_version": "restated"}
            doc = bundle.sign_document(sealed.key, "snapshot-header", body)
        header = verify_header(doc, sealed.key.public_key())
        before = state
        state = admit_header_or_refuse(state, header)
        if state is None:
            state = before
            continue
        if header.hash not in [h.hash for h in admitted]:  # cosigning a header again is idempotent
            admitted.append(header)
    for earlier, later in itertools.pairwise(admitted):
        assert later.doc["previous_header_hash"] == earlier.hash.hex()
    cutoffs = [h.context.cutoff_date for h in admitted]
    assert len(cutoffs) == len(set(cutoffs))
