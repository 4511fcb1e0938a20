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
   this request on exactly this snapshot;
4. checks the answer against the question (:class:`ExpectedClaim`: nonce, pool, cut-off, snapshot
   or header hash, and the exact statement), so a valid proof of something else is refused;
5. checks what ties the header's aggregates together and fits in the bundle: the unpacking proof
   of a packed lane set (the per-lane aggregates are the unpacking of the leaves' packed sums);
6. applies the verifier's witness policy to the bundle's ``cosignatures``
   (:mod:`proofs.witness`).

Whether the header's packed sums are the sums of honest, range-proven leaves is what
``verify-snapshot`` establishes; a witness's cosignature says that an independent party ran it on
this exact header, and without one the investor relies on the gateway for that.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bundle, cell_claims, claims, unpacking
from proofs.canonical import canonical_json
from proofs.errors import EncodingError, VerificationError
from proofs.group import Group, Point, get_group
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS, LaneSet
from proofs.pedersen import Opening, combine_openings
from proofs.snapshot import Header, verify_header
from proofs.witness import COSIGNATURES_SPEC, WitnessPolicy, check_witnesses

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
        "cells": bundle.AnyJson(),
        "cosignatures": COSIGNATURES_SPEC,
    },
    optional=frozenset({"cosignatures", "cells"}),
)


def claim_context(header: Header, nonce: bytes) -> bytes:
    """The bytes a claim proof is bound to: the header hash and the requester's nonce."""
    if not MIN_NONCE <= len(nonce) <= MAX_NONCE:
        raise EncodingError(f"nonce: expected {MIN_NONCE} to {MAX_NONCE} bytes, got {len(nonce)}")
    return CONTEXT_DOMAIN + header.hash + len(nonce).to_bytes(1, "big") + nonce


def metric_commitments(
    header: Header,
    statement: claims.ClaimStatement,
    cells: Mapping[tuple[str, str], cell_claims.CellEvidence] | None = None,
) -> dict[str, Point]:
    """The verifier's own commitment to every metric the statement names.

    A cell metric (``strata/<dimension>/<cell>/<metric>``) is formed from the checked evidence of
    its cell (:func:`proofs.cell_claims.verify_cells`) and bounded by the cell's loan count.

    Raises:
        VerificationError: ``claim.metric`` (unknown metric), ``claim.cells`` (no evidence for a
            cell the statement names) or ``claim.value_bits`` (the statement assumes a tighter
            bound than the snapshot's range proofs give).
    """
    out: dict[str, Point] = {}
    for metric in statement.metrics:
        found = cell_claims.evidence_by_metric(cells or {}, metric)
        inner, count = metric, None
        try:
            if found is None:
                out[metric] = header.metric_commitment(metric)
            else:
                evidence, inner = found
                count = evidence.row.count
                out[metric] = evidence.metric_commitment(header, inner)
        except KeyError as exc:
            raise VerificationError("claim.metric", str(exc.args[0])) from None
        bits = getattr(statement, "value_bits", None)
        bound = header.metric_bound_bits(inner, count)
        if bits is not None and bound > bits:
            raise VerificationError(
                "claim.value_bits",
                f"{metric} can be as large as 2^{bound}; the statement assumes < 2^{bits}",
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
    *,
    cosignatures: Sequence[dict[str, Any]] = (),
    cells: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Prove a claim on a verified header (the gateway side), carrying the witnesses' cosignatures
    and, for a statement about stratification cells, each cell's evidence
    (:func:`proofs.cell_claims.prove_cell`).

    Raises:
        ProvingError: the claim does not hold (nothing is produced).
        VerificationError: the statement's metrics or bounds do not fit the snapshot.
    """
    checked = cell_claims.verify_cells(group, header, list(cells)) if cells else {}
    metric_commitments(header, statement, checked)
    proof = claims.prove_claim(group, statement, openings_by_metric, context=claim_context(header, nonce))
    doc: dict[str, Any] = {
        "format": bundle.format_string(KIND, VERSION),
        "header": header.doc,
        "statement": statement.to_dict(),
        "nonce": nonce.hex(),
        "proof": proof.to_dict(),
    }
    if cells:
        doc["cells"] = [dict(c) for c in cells]
    if cosignatures:
        doc["cosignatures"] = [dict(c) for c in cosignatures]
    return doc


@dataclass(frozen=True)
class ExpectedClaim:
    """What the verifier asked: every field given must match the answer exactly.

    ``header_hash`` pins one snapshot header (e.g. one a witness or the verifier checked before);
    ``statement`` is compared exactly (a weaker bound is another statement).
    """

    nonce: bytes | None = None
    pool_id: str | None = None
    cutoff_date: str | None = None
    snapshot_id: str | None = None
    header_hash: bytes | None = None
    statement: claims.ClaimStatement | None = None


@dataclass(frozen=True)
class VerifiedClaim:
    """What a verified claim bundle establishes, and on whose word (``witnesses``: key ids)."""

    statement: claims.ClaimStatement
    header: Header
    witnesses: tuple[str, ...]
    unpacking_checked: bool


def _check_expected(
    header: Header, statement: claims.ClaimStatement, nonce: bytes, expected: ExpectedClaim
) -> None:
    ctx = header.context
    if expected.nonce is not None and nonce != expected.nonce:
        raise VerificationError("claim.expected.nonce", "the answer is not bound to this request's nonce")
    for check, want, got in (
        ("pool", expected.pool_id, ctx.pool_id),
        ("cutoff", expected.cutoff_date, ctx.cutoff_date),
        ("snapshot", expected.snapshot_id, ctx.snapshot_id),
    ):
        if want is not None and want != got:
            raise VerificationError(
                f"claim.expected.{check}", f"asked about {want!r}, the answer is about {got!r}"
            )
    if expected.header_hash is not None and expected.header_hash != header.hash:
        raise VerificationError(
            "claim.expected.header_hash",
            f"asked about header {expected.header_hash.hex()}, got {header.hash.hex()}",
        )
    if expected.statement is not None and canonical_json(expected.statement.to_dict()) != canonical_json(
        statement.to_dict()
    ):
        raise VerificationError(
            "claim.expected.statement",
            f"asked to prove {canonical_json(expected.statement.to_dict()).decode()}, "
            f"the answer proves {canonical_json(statement.to_dict()).decode()}",
        )


def verify_unpacked_aggregates(header: Header, group: Group) -> bool:
    """Check a packed header's unpacking proof; ``False`` if the lane set has none (nothing to check).

    Raises ``VerificationError("unpacking.*")`` if the per-lane aggregates are not the unpacking of
    the header's packed sums.
    """
    if header.packed_sums is None or header.aggregate_proof is None:
        return False
    unpacking.verify_unpacking(
        group,
        header.lanes,
        header.leaf_count,
        [header.aggregates[lane] for lane in header.lanes.lanes],
        header.packed_sums,
        header.aggregate_proof,
        header.context.unpacking_transcript(),
    )
    return True


def verify_claim_answer(
    doc: object,
    gateway_key: Ed25519PublicKey,
    *,
    expected: ExpectedClaim,
    witnesses: WitnessPolicy | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
) -> VerifiedClaim:
    """Verify a claim bundle as the answer to ``expected``, under the caller's witness policy.

    ``witnesses`` is required in effect: without it the check fails (``witness.policy``) unless the
    caller passes :meth:`WitnessPolicy.unwitnessed` to accept a header no witness cosigned.

    Raises:
        EncodingError: malformed bundle (names the JSON path).
        VerificationError: ``header.lane_set``, ``header.signature``, ``unpacking.*``,
            ``claim.metric``, ``claim.cells``, ``strata.row``, ``claim.value_bits``, the claim
            proof's own checks (``claim.*``, ``rangeproof.*``), ``claim.expected.*`` (the answer
            is not to the question asked), ``witness.*`` (the witness policy is not met).
    """
    bundle.check_document(doc, KIND, {VERSION}, _SCHEMA)
    assert isinstance(doc, dict)  # checked by the schema
    group = get_group()
    header = verify_header(doc["header"], gateway_key, group=group, lane_sets=lane_sets)
    statement = claims.statement_from_dict(doc["statement"])
    nonce = bundle.decode_bytes(doc["nonce"], "nonce")
    _check_expected(header, statement, nonce, expected)
    cosigners = check_witnesses(header, doc.get("cosignatures", []), witnesses)
    unpacked = verify_unpacked_aggregates(header, group)
    proof = claims.ClaimProof.from_dict(group, doc["proof"])
    cells = cell_claims.verify_cells(group, header, doc["cells"]) if "cells" in doc else {}
    commitments = metric_commitments(header, statement, cells)
    claims.verify_claim(group, statement, commitments, proof, context=claim_context(header, nonce))
    return VerifiedClaim(statement, header, cosigners, unpacked)


def verify_claim_bundle(
    doc: object,
    gateway_key: Ed25519PublicKey,
    *,
    expected: ExpectedClaim,
    witnesses: WitnessPolicy | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
) -> claims.ClaimStatement:
    """:func:`verify_claim_answer`, returning only the proven statement (raises the same)."""
    return verify_claim_answer(
        doc, gateway_key, expected=expected, witnesses=witnesses, lane_sets=lane_sets
    ).statement
