"""Claim bundles: a self-contained answer to an investor's question about a sealed snapshot.

A claim bundle (``"format": "poolproof/claim/v1"``) holds the signed snapshot header, the claim
statement (for example ``balance_dpd_31plus / pool_balance <= 1/40``), the requester's nonce and the
proof. The verifier:

1. verifies the header with the gateway key *it* trusts (never a key from the bundle);
2. computes each metric's commitment itself from the header's lane aggregates (the lane set says
   which lanes a metric sums), and checks the statement's ``value_bits`` bound the metric given the
   per-leaf range proofs (:func:`proofs.claims.metric_value_bits`), which is what makes a range proof
   on ``p·B − q·A`` imply the real inequality;
3. checks the claim proof under the context ``header hash || nonce``, so a proof answers exactly
   this request on exactly this snapshot.

Whether the header's aggregates are the sums of honest, range-proven leaves is what
``verify-snapshot`` establishes; an investor relies on the auditor for that, or runs it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bundle, claims
from proofs.errors import EncodingError, VerificationError
from proofs.group import Group, Point, get_group
from proofs.lanes import LaneSet
from proofs.pedersen import Opening, combine_openings
from proofs.snapshot import Header, verify_header

KIND: Final = "claim"
VERSION: Final = 1
CONTEXT_DOMAIN: Final = b"poolproof/claim-context/v1\x00"
MIN_NONCE: Final = 16
MAX_NONCE: Final = 64

_SCHEMA: Final = bundle.Object(
    {
        "format": bundle.Const(bundle.format_string(KIND, VERSION)),
        "header": bundle.AnyJson(),
        "statement": bundle.AnyJson(),
        "nonce": bundle.Bytes(max_length=MAX_NONCE),
        "proof": bundle.AnyJson(),
    }
)


def claim_context(header: Header, nonce: bytes) -> bytes:
    """The bytes a claim proof is bound to: the header hash and the requester's nonce."""
    if not MIN_NONCE <= len(nonce) <= MAX_NONCE:
        raise EncodingError(f"nonce: expected {MIN_NONCE} to {MAX_NONCE} bytes, got {len(nonce)}")
    return CONTEXT_DOMAIN + header.hash + len(nonce).to_bytes(1, "big") + nonce


def metric_commitments(header: Header, statement: claims.ClaimStatement) -> dict[str, Point]:
    """The verifier's own commitment to every metric the statement names.

    Raises:
        VerificationError: ``claim.metric`` (unknown metric) or ``claim.value_bits`` (the statement
            assumes a tighter bound than the snapshot's range proofs give).
    """
    out: dict[str, Point] = {}
    for metric in statement.metrics:
        try:
            out[metric] = header.metric_commitment(metric)
        except KeyError as exc:
            raise VerificationError("claim.metric", str(exc.args[0])) from None
        bits = getattr(statement, "value_bits", None)
        if bits is not None and header.metric_bound_bits(metric) > bits:
            raise VerificationError(
                "claim.value_bits",
                f"{metric} can be as large as 2^{header.metric_bound_bits(metric)}; "
                f"the statement assumes < 2^{bits}",
            )
    return out


def metric_opening(
    lanes: LaneSet, metric: str, lane_value_sums: Sequence[int], lane_blinding_sums: Sequence[int]
) -> Opening:
    """The opening of ``metric``'s commitment from the per-lane totals kept when sealing.

    Raises:
        KeyError: unknown metric.
    """
    index = {lane: i for i, lane in enumerate(lanes.lanes)}
    terms = [
        (coeff, Opening(lane_value_sums[index[lane]], lane_blinding_sums[index[lane]]))
        for lane, coeff in lanes.metric(metric)
    ]
    return combine_openings(terms)


def prove_claim_bundle(
    group: Group,
    header: Header,
    statement: claims.ClaimStatement,
    openings_by_metric: dict[str, Opening],
    nonce: bytes,
) -> dict[str, Any]:
    """Prove a claim on a verified header (the gateway side).

    Raises:
        ProvingError: the claim does not hold (nothing is produced).
        VerificationError: the statement's metrics or bounds do not fit the snapshot.
    """
    metric_commitments(header, statement)
    proof = claims.prove_claim(group, statement, openings_by_metric, context=claim_context(header, nonce))
    return {
        "format": bundle.format_string(KIND, VERSION),
        "header": header.doc,
        "statement": statement.to_dict(),
        "nonce": nonce.hex(),
        "proof": proof.to_dict(),
    }


def verify_claim_bundle(doc: object, gateway_key: Ed25519PublicKey) -> claims.ClaimStatement:
    """Verify a claim bundle with the caller's trusted gateway key; return the proven statement.

    Raises:
        EncodingError: malformed bundle (names the JSON path).
        VerificationError: ``header.signature``, ``claim.metric``, ``claim.value_bits`` or the claim
            proof's own checks (``claim.*``, ``rangeproof.*``).
    """
    bundle.check_document(doc, KIND, {VERSION}, _SCHEMA)
    assert isinstance(doc, dict)  # checked by the schema
    group = get_group()
    header = verify_header(doc["header"], gateway_key, group=group)
    statement = claims.statement_from_dict(doc["statement"])
    nonce = bundle.decode_bytes(doc["nonce"], "nonce")
    proof = claims.ClaimProof.from_dict(group, doc["proof"])
    commitments = metric_commitments(header, statement)
    claims.verify_claim(group, statement, commitments, proof, context=claim_context(header, nonce))
    return statement
