"""The snapshot header: its schema, how it is built, its hash, and its verification."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bundle, strata, unpacking
from proofs.canonical import document_hash
from proofs.claims import metric_value_bits
from proofs.deal import DEAL_EXTENSION, EXTENSIONS, Deal, check_deal_binding, deal_binding
from proofs.errors import EncodingError, VerificationError
from proofs.generators import GENERATOR_DST
from proofs.group import Group, Point, get_group
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS, LaneSet, accepts, get_lane_set
from proofs.snapshot._layout import labelled
from proofs.snapshot._params import SealParams, SnapshotContext

HEADER_KIND: Final = "snapshot-header"
HEADER_VERSION: Final = 1
_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"


def _header_schema(lanes: LaneSet) -> bundle.Object:
    hex48 = bundle.Bytes(48)
    return bundle.Object(
        {
            "format": bundle.Const(bundle.format_string(HEADER_KIND, HEADER_VERSION)),
            "pool_id": bundle.Str(128, _ID),
            "cutoff_date": bundle.Date(),
            "snapshot_id": bundle.Str(128, _ID),
            "sequence": bundle.Int(1, 2**31),
            "previous_header_hash": bundle.Nullable(bundle.Bytes(32)),
            "sealed_at": bundle.UtcTime(),
            "leaf_count": bundle.Int(0, 2**40),
            "merkle_root": bundle.Bytes(32),
            "currency": bundle.Str(3, r"[A-Z]{3}"),
            "dpd_bucket_edges": bundle.ListOf(bundle.Int(0, 10_000), 4, 4),
            "aggregates": bundle.Object({lane: hex48 for lane in lanes.lanes}),
            **_packed_fields(lanes),
            **({"strata": strata.header_field_spec()} if labelled(lanes) else {}),
            "policy_version": bundle.Str(128),
            "proof_params": bundle.Object(
                {
                    "group": bundle.Const("BLS12-381-G1"),
                    "generator_dst": bundle.Const(GENERATOR_DST.decode()),
                    "lane_set": bundle.Const(lanes.name),
                    "balance_bits": bundle.Const(lanes.balance_bits),
                    "count_bits": bundle.Const(lanes.count_bits),
                    "chunk_log2": bundle.Int(0, 16),
                    "ipa_rounds": bundle.Nullable(bundle.Int(0, 32)),
                }
            ),
            EXTENSIONS: _EXTENSIONS_SPEC,
            "signatures": bundle.SIGNATURES_SPEC,
        },
        optional=frozenset({"signatures", "strata", EXTENSIONS}),
    )


#: ``extensions.deal``: the deal file governing the pool (:func:`proofs.deal.deal_binding`). Optional:
#: a header without it is unchanged, byte for byte, from the format before the member existed.
_EXTENSIONS_SPEC: Final = bundle.Object(
    {
        DEAL_EXTENSION: bundle.Object(
            {
                "deal_id": bundle.Str(40, r"[A-Za-z][A-Za-z0-9_.-]{0,39}"),
                "version": bundle.Int(1, 10**6),
                "deal_hash": bundle.Bytes(32),
            }
        )
    }
)


def _packed_fields(lanes: LaneSet) -> dict[str, bundle.Spec]:
    """Header fields of a packed lane set: the sums of the leaves' input commitments, and the
    proof that the per-lane aggregates unpack them (:mod:`proofs.unpacking`)."""
    if lanes.packing is None:
        return {}
    return {
        "packed_sums": bundle.Object({name: bundle.Bytes(48) for name in lanes.inputs}),
        "aggregate_proof": bundle.Bytes(unpacking.proof_size(lanes)),
    }


def build_header(
    *,
    context: SnapshotContext,
    params: SealParams,
    sequence: int,
    previous_header_hash: bytes | None,
    sealed_at: str,
    leaf_count: int,
    merkle_root: bytes,
    currency: str,
    dpd_bucket_edges: Sequence[int],
    aggregates: Sequence[bytes],
    policy_version: str,
    packed_sums: Sequence[bytes] | None = None,
    aggregate_proof: bytes | None = None,
    strata_field: dict[str, Any] | None = None,
    deal: Deal | None = None,
) -> dict[str, Any]:
    """The unsigned snapshot header (sign it with :func:`proofs.bundle.sign_document`).

    ``deal`` (the pool's registered deal file, if any) sets ``extensions.deal`` to its binding, so
    the signature and :func:`header_hash` cover the deal the snapshot is governed by.

    ``packed_sums`` and ``aggregate_proof`` are required for a packed lane set
    (:attr:`proofs.sealing.SealOutcome` has both) and refused otherwise; ``strata_field`` (the
    stratification table's :meth:`proofs.strata.Table.header_field`) for a pool statement v2 lane
    set whose snapshot names stratification dimensions (its leaves carry cells), refused otherwise.

    Raises:
        EncodingError: a field does not fit the header schema.
    """
    lanes = get_lane_set(params.lane_set)
    doc: dict[str, Any] = {
        "format": bundle.format_string(HEADER_KIND, HEADER_VERSION),
        "pool_id": context.pool_id,
        "cutoff_date": context.cutoff_date,
        "snapshot_id": context.snapshot_id,
        "sequence": sequence,
        "previous_header_hash": None if previous_header_hash is None else previous_header_hash.hex(),
        "sealed_at": sealed_at,
        "leaf_count": leaf_count,
        "merkle_root": merkle_root.hex(),
        "currency": currency,
        "dpd_bucket_edges": list(dpd_bucket_edges),
        "aggregates": {lane: agg.hex() for lane, agg in zip(lanes.lanes, aggregates, strict=True)},
        "policy_version": policy_version,
        "proof_params": params.to_dict(lanes),
    }
    if (lanes.packing is None) != (packed_sums is None and aggregate_proof is None):
        raise EncodingError(
            f"header: packed_sums and aggregate_proof go with packed lane sets ({lanes.name})"
        )
    if packed_sums is not None and aggregate_proof is not None:
        doc["packed_sums"] = {name: p.hex() for name, p in zip(lanes.inputs, packed_sums, strict=True)}
        doc["aggregate_proof"] = aggregate_proof.hex()
    if strata_field is not None and not labelled(lanes):
        raise EncodingError(f"header: lane set {lanes.name} has no stratification table")
    if (strata_field is None) != (not params.strata_dimensions):
        raise EncodingError(
            "header: a stratification table goes with the snapshot's stratification dimensions"
        )
    if strata_field is not None:
        if list(strata_field["dimensions"]) != list(params.strata_dimensions):
            raise EncodingError("header: the table's dimensions are not the snapshot's")
        doc["strata"] = dict(strata_field)
    if deal is not None:
        if deal.pool_id != context.pool_id:
            raise EncodingError(f"header: the deal governs pool {deal.pool_id}, not {context.pool_id}")
        doc[EXTENSIONS] = {DEAL_EXTENSION: deal_binding(deal)}
    _header_schema(lanes).check(doc, "header")
    return doc


@dataclass(frozen=True)
class Header:
    """A checked, signature-verified snapshot header with its fields decoded."""

    doc: dict[str, Any]
    lanes: LaneSet
    params: SealParams
    context: SnapshotContext
    leaf_count: int
    merkle_root: bytes
    aggregates: dict[str, Point]
    hash: bytes
    packed_sums: tuple[Point, ...] | None = None
    aggregate_proof: bytes | None = None
    #: The header's ``strata`` field (dimensions, row count, table root) of a pool statement v2.
    strata: dict[str, Any] | None = None

    @property
    def deal_binding(self) -> dict[str, Any] | None:
        """The header's ``extensions.deal`` (deal id, version, hash), or ``None`` if it names no deal."""
        ext = self.doc.get(EXTENSIONS)
        return None if ext is None else dict(ext[DEAL_EXTENSION])

    def metric_commitment(self, metric: str) -> Point:
        """The commitment to ``metric``: the public linear combination of lane aggregates."""
        terms = self.lanes.metric(metric)
        group = next(iter(self.aggregates.values())).group
        return group.msm([self.aggregates[lane] for lane, _ in terms], [c for _, c in terms])

    def metric_bound_bits(self, metric: str, leaf_count: int | None = None) -> int:
        """Bits that bound the value of ``metric`` given the range proofs of every leaf (over
        ``leaf_count`` leaves, default the whole snapshot: a stratification cell has fewer)."""
        terms = self.lanes.metric(metric)
        bits = max(
            self.lanes.balance_bits if lane in self.lanes.balance_lanes else self.lanes.count_bits
            for lane, _ in terms
        )
        count = self.leaf_count if leaf_count is None else leaf_count
        return metric_value_bits(count, bits, sum(abs(c) for _, c in terms))


HEADER_HASH_DOMAIN: Final = "snapshot-header-hash/v2"


def header_hash(header: dict[str, Any]) -> bytes:
    """SHA-256 over the domain-separated canonical encoding of a header *without* its signatures.

    This is what the next snapshot's ``previous_header_hash``, every claim's context and every
    witness cosignature commit to. Signatures are left out (as in RFC 9162 §4.10, where a tree
    head's signature is not part of what it names): otherwise anyone could append a junk
    signature entry, the header would still verify and its hash -- the snapshot's identity for
    chaining, claims and fork detection -- would change. (``v2``: v1 hashed the signatures too.)
    """
    return document_hash(HEADER_HASH_DOMAIN, bundle.unsigned_body(header))


def verify_header(
    doc: object,
    gateway_key: Ed25519PublicKey,
    *,
    cosigner_keys: Sequence[Ed25519PublicKey] = (),
    group: Group | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
    deal: Deal | None = None,
) -> Header:
    """Check a header's schema and signatures with the caller's trusted keys; decode it.

    With ``deal`` (the deal file the caller holds), a header that names a deal
    (``extensions.deal``) must name exactly that one; a header naming none is accepted as before.

    ``lane_sets`` are the lane sets the caller accepts: by default only the strongest
    (:data:`~proofs.lanes.STRONGEST_LANE_SET`); an older one only when named, so a gateway cannot
    downgrade a snapshot to a lane set that proves less.

    Raises:
        EncodingError: malformed header (names the JSON path).
        VerificationError: ``header.lane_set`` (a lane set the caller did not accept),
            ``header.signature`` (missing or invalid gateway or co-signer signature),
            ``deal.binding`` (the header names another deal, version or hash than ``deal``).
    """
    if not isinstance(doc, dict):
        raise EncodingError("header: expected an object")
    params_doc = doc.get("proof_params")
    lane_set_name = params_doc.get("lane_set") if isinstance(params_doc, dict) else None
    try:
        lanes = get_lane_set(str(lane_set_name))
    except KeyError as exc:
        raise EncodingError(f"header.proof_params.lane_set: {exc.args[0]}") from None
    bundle.require_format(doc, HEADER_KIND, {HEADER_VERSION})
    _header_schema(lanes).check(doc, "header")
    if not accepts(lane_sets, lanes):
        raise VerificationError(
            "header.lane_set",
            f"the snapshot uses lane set {lanes.name}; accepted: {', '.join(sorted(lane_sets))} "
            "(an older lane set is accepted only when named)",
        )
    if "signatures" not in doc:
        raise VerificationError("header.signature", "header is not signed")
    try:
        bundle.verify_document(
            doc, HEADER_KIND, gateway_key, cosigner_keys=cosigner_keys, require_cosigners=bool(cosigner_keys)
        )
    except VerificationError as exc:
        raise VerificationError("header.signature", str(exc)) from exc
    if deal is not None and EXTENSIONS in doc:
        check_deal_binding(doc, deal)
    group = group or get_group()
    aggregates = {
        lane: group.decode_point(bytes.fromhex(doc["aggregates"][lane]), allow_identity=True)
        for lane in lanes.lanes
    }
    if doc["leaf_count"] > lanes.max_leaves:
        raise VerificationError(
            "snapshot.leaf_count", f"lane set {lanes.name} holds at most {lanes.max_leaves} loans"
        )
    packed_sums = None
    aggregate_proof = None
    if lanes.packing is not None:
        packed_sums = tuple(
            group.decode_point(bytes.fromhex(doc["packed_sums"][name]), allow_identity=True)
            for name in lanes.inputs
        )
        aggregate_proof = bytes.fromhex(doc["aggregate_proof"])
    pp = doc["proof_params"]
    strata_field = doc.get("strata")
    dims: tuple[str, ...] = ()
    if strata_field is not None:
        try:
            dims = strata.check_dimensions(strata_field["dimensions"])
        except EncodingError as exc:
            raise EncodingError(f"header.{exc}") from None
    params = SealParams(
        lane_set=lanes.name, chunk_log2=pp["chunk_log2"], ipa_rounds=pp["ipa_rounds"], strata_dimensions=dims
    )
    context = SnapshotContext(doc["snapshot_id"], doc["pool_id"], doc["cutoff_date"], lanes.name)
    return Header(
        doc,
        lanes,
        params,
        context,
        doc["leaf_count"],
        bytes.fromhex(doc["merkle_root"]),
        aggregates,
        header_hash(doc),
        packed_sums,
        aggregate_proof,
        strata_field,
    )
