"""Borrower look-through: one loan's leaf, its lane openings and its Merkle inclusion proof.

An inclusion bundle (``"format": "poolproof/inclusion/v1"``) lets a borrower (or anyone they show it
to) check, with nothing but the gateway's public key, that their loan is a leaf of a signed
snapshot and what it was committed as:

1. the embedded header verifies under the caller's trusted gateway key;
2. each lane commitment recomputed from the opening ``(value, blinding)`` gives the leaf bytes,
   whose RFC 9162 leaf hash is included at ``leaf_index`` under the header's Merkle root
   (RFC 9162 §2.1.3.2);
3. the lane values are those of one loan: a principal in exactly one delinquency bucket and a
   count of one in the same bucket (so the borrower can compare them with their statement).

It reveals the blindings of this one leaf only, which open nothing but this loan's commitments.

Version 1 (one commitment per lane) lists each lane with its value and blinding. Version 2 is for
packed lane sets (``dpd5-v3``): each lane with its value, then one blinding per leaf commitment;
the verifier packs the values as the lane set says and recomputes the commitments. Under the pool
statement v2 it also carries the loan's stratification cells (``cells``: dimension to cell), which
are part of the leaf, so the borrower sees the cells their loan is counted in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bundle, merkle
from proofs.errors import EncodingError, VerificationError
from proofs.group import SCALAR_BYTES, get_group, scalar_from_bytes
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS, LaneSet
from proofs.loan_facts import LoanFacts
from proofs.pedersen import commit
from proofs.snapshot import Header, check_exposure_id, leaf_bytes, verify_header
from proofs.strata import leaf_cells
from proofs.witness import COSIGNATURES_SPEC, WitnessPolicy, check_witnesses

KIND: Final = "inclusion"
VERSION: Final = 1
PACKED_VERSION: Final = 2


def _bundle_schema(version: int, lane_members: Mapping[str, bundle.Spec]) -> bundle.Object:
    """The inclusion bundle of ``version``: the members every version has, around its lane members."""
    return bundle.Object(
        {
            "format": bundle.Const(bundle.format_string(KIND, version)),
            "header": bundle.AnyJson(),
            "leaf_index": bundle.Int(0, 2**40),
            "exposure_id": bundle.Str(64, r"[A-Za-z0-9_-]{1,64}"),
            **lane_members,
            "path": bundle.ListOf(bundle.Bytes(merkle.HASH_SIZE), 0, 64),
            "cosignatures": COSIGNATURES_SPEC,
        },
        optional=frozenset({"cosignatures", "cells"}),
    )


#: Version 1: every lane carries its own blinding.
_SCHEMA: Final = _bundle_schema(
    VERSION,
    {
        "lanes": bundle.ListOf(
            bundle.Object(
                {
                    "lane": bundle.Str(64),
                    "value": bundle.Int(0, 2**53 - 1),
                    "blinding": bundle.Bytes(SCALAR_BYTES),
                }
            ),
            1,
            64,
        ),
    },
)

#: Version 2 (packed lane sets): the lane values, then one blinding per leaf commitment.
_SCHEMA_PACKED: Final = _bundle_schema(
    PACKED_VERSION,
    {
        "lanes": bundle.ListOf(
            bundle.Object({"lane": bundle.Str(64), "value": bundle.Int(0, 2**53 - 1)}), 1, 64
        ),
        "blindings": bundle.ListOf(bundle.Bytes(SCALAR_BYTES), 1, 64),
        "cells": bundle.AnyJson(),
    },
)


@dataclass(frozen=True)
class VerifiedInclusion:
    """What a verified inclusion bundle establishes."""

    header: Header
    leaf_index: int
    exposure_id: str
    principal: int
    #: The DPD bucket (dpd5 lane sets) or the state index (pool statement v2) the loan is counted in.
    bucket: int
    witnesses: tuple[str, ...] = ()
    #: The loan's committed facts under the pool statement v2 (``None`` for the dpd5 lane sets).
    facts: LoanFacts | None = None


def make_inclusion_bundle(
    header: dict[str, Any],
    leaf_index: int,
    exposure_id: str,
    values: Sequence[int],
    blindings: Sequence[int],
    path: Sequence[bytes],
    *,
    cosignatures: Sequence[dict[str, Any]] = (),
    cells: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Assemble an inclusion bundle for one leaf (the gateway side), with the header's cosignatures.

    ``cells``: the loan's stratification cells (dimension to cell), for a header with a
    stratification table.

    ``values`` are the loan's lane values (lane order); ``blindings`` those of its leaf commitments
    (one per lane, or one per packed input).
    """
    from proofs.lanes import get_lane_set

    lanes = get_lane_set(header["proof_params"]["lane_set"])
    if lanes.packing is not None:
        packed = {
            "format": bundle.format_string(KIND, PACKED_VERSION),
            "header": header,
            "leaf_index": leaf_index,
            "exposure_id": exposure_id,
            "lanes": [{"lane": lane, "value": v} for lane, v in zip(lanes.lanes, values, strict=True)],
            "blindings": [
                r.to_bytes(SCALAR_BYTES, "big").hex()
                for r in _exactly(blindings, len(lanes.inputs), "blindings")
            ],
            "path": [h.hex() for h in path],
        }
        if cells is not None:
            packed["cells"] = dict(cells)
        if cosignatures:
            packed["cosignatures"] = [dict(c) for c in cosignatures]
        _SCHEMA_PACKED.check(packed, "")
        return packed
    doc = {
        "format": bundle.format_string(KIND, VERSION),
        "header": header,
        "leaf_index": leaf_index,
        "exposure_id": exposure_id,
        "lanes": [
            {"lane": lane, "value": v, "blinding": r.to_bytes(SCALAR_BYTES, "big").hex()}
            for lane, v, r in zip(lanes.lanes, values, blindings, strict=True)
        ],
        "path": [h.hex() for h in path],
    }
    if cosignatures:
        doc["cosignatures"] = [dict(c) for c in cosignatures]
    _SCHEMA.check(doc, "")
    return doc


def verify_inclusion_bundle(
    doc: object,
    gateway_key: Ed25519PublicKey,
    *,
    witnesses: WitnessPolicy | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
) -> VerifiedInclusion:
    """Verify an inclusion bundle with the caller's trusted gateway key.

    Returns what was proven (so a borrower can compare principal and bucket with their statement).
    Inclusion needs no witness to be sound (the leaf opens under the signed root); with
    ``witnesses`` the header must also be cosigned as that policy says, and the named witnesses
    who cosigned are returned. Without it, ``witnesses`` of the result is empty.

    Raises:
        EncodingError: malformed bundle (names the JSON path).
        VerificationError: ``header.lane_set``, ``header.signature``, ``inclusion.lanes`` (lane
            names or values are not those of one loan), ``inclusion.cells`` (not one cell per
            dimension of the header's stratification table), ``merkle.inclusion`` (the leaf is not in the
            signed tree), ``witness.*`` (the witness policy is not met).
    """
    version = bundle.require_format(doc, KIND, {VERSION, PACKED_VERSION})
    (_SCHEMA if version == VERSION else _SCHEMA_PACKED).check(doc, "")
    assert isinstance(doc, dict)  # checked by the schema
    group = get_group()
    header = verify_header(doc["header"], gateway_key, group=group, lane_sets=lane_sets)
    cosigners = (
        check_witnesses(header, doc.get("cosignatures", []), witnesses) if witnesses is not None else ()
    )
    lanes = header.lanes
    if (version == PACKED_VERSION) != (lanes.packing is not None):
        raise VerificationError(
            "inclusion.lanes", f"lane set {lanes.name} needs inclusion version {3 - version}"
        )
    entries = doc["lanes"]
    if [e["lane"] for e in entries] != list(lanes.lanes):
        raise VerificationError("inclusion.lanes", f"lanes must be exactly {', '.join(lanes.lanes)} in order")
    values = [e["value"] for e in entries]
    facts: LoanFacts | None = None
    if lanes.circuit is not None:
        try:
            facts = lanes.circuit.facts_from_values(doc["exposure_id"], values)
        except ValueError as exc:
            raise VerificationError("inclusion.lanes", str(exc)) from None
        principal, bucket = facts.balance, facts.state
    else:
        principal, bucket = _dpd5_lanes(lanes, values)
    if version == VERSION:
        openings = [
            (values[i], scalar_from_bytes(bytes.fromhex(e["blinding"]))) for i, e in enumerate(entries)
        ]
    else:
        if len(doc["blindings"]) != len(lanes.inputs):
            raise VerificationError("inclusion.lanes", f"expected {len(lanes.inputs)} blindings")
        openings = [
            (v, scalar_from_bytes(bytes.fromhex(r)))
            for v, r in zip(lanes.input_values(values), doc["blindings"], strict=True)
        ]
    commitments = [commit(group, v, r).to_bytes() for v, r in openings]
    eid = doc["exposure_id"]
    check_exposure_id(eid)
    cells = _cells(header, doc.get("cells"))
    if facts is not None and cells is not None:
        facts = replace(facts, labels=dict(zip(header.params.strata_dimensions, cells, strict=True)))
    leaf_hash = merkle.leaf_hash(leaf_bytes(eid, commitments, cells))
    path = [bytes.fromhex(h) for h in doc["path"]]
    merkle.verify_inclusion(leaf_hash, doc["leaf_index"], header.leaf_count, path, header.merkle_root)
    return VerifiedInclusion(header, doc["leaf_index"], eid, principal, bucket, cosigners, facts)


def _cells(header: Header, doc: object) -> tuple[str, ...] | None:
    """The loan's cells in the header's dimension order, or ``None`` if the header has no table."""
    dims = header.params.strata_dimensions
    if not dims:
        if doc is not None:
            raise VerificationError("inclusion.cells", "the header has no stratification table")
        return None
    if not isinstance(doc, dict):
        raise VerificationError("inclusion.cells", f"expected the loan's cell in each of {', '.join(dims)}")
    try:
        return leaf_cells(doc, dims, "cells")
    except (VerificationError, EncodingError) as exc:
        raise VerificationError("inclusion.cells", str(exc)) from None


def _dpd5_lanes(lanes: LaneSet, values: Sequence[int]) -> tuple[int, int]:
    """Principal and bucket of one loan's dpd5 lane values.

    Raises:
        VerificationError: ``inclusion.lanes`` when the values are not one loan's.
    """
    n_bal = len(lanes.balance_lanes)
    nonzero = [b for b, v in enumerate(values[:n_bal]) if v]
    counts = values[n_bal:]
    if counts.count(1) != 1 or any(c not in (0, 1) for c in counts):
        raise VerificationError("inclusion.lanes", "count lanes must hold a single 1")
    bucket = counts.index(1)
    principal = values[bucket]
    if principal >= 1 << lanes.balance_bits:
        raise VerificationError(
            "inclusion.lanes", f"the principal must be below 2^{lanes.balance_bits} (lane set {lanes.name})"
        )
    if nonzero not in ([], [bucket]) or values != list(lanes.lane_values(principal, bucket)):
        raise VerificationError(
            "inclusion.lanes", "balance lanes must hold the principal in the counted bucket"
        )
    return principal, bucket


def _exactly(items: Sequence[int], n: int, what: str) -> Sequence[int]:
    if len(items) != n:
        raise ValueError(f"{what}: expected {n}, got {len(items)}")
    return items
