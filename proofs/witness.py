"""Witness cosignatures on snapshot headers, the investor's witness policy, and a witness's memory.

A **witness** (an auditor, trustee, rating agency or any party the pool's policy names) runs the
full ``verify-snapshot`` check and only then signs the header's hash (:func:`cosign_header`). The
cosignature (``"format": "poolproof/cosignature/v1"``) names the pool, cut-off, snapshot, sequence
and :func:`~proofs.snapshot.header_hash` it vouches for, the witness's key id and when; its Ed25519
signature covers all of that under domain ``witness/cosignature`` (:mod:`proofs.signing`). As in
CT's witnessed tree heads, a signature by an independent party that checked the data turns "the
gateway says" into "the gateway and each of these witnesses say".

An investor states a :class:`WitnessPolicy`: which witness keys they accept and how many of them
must have cosigned (:func:`check_witnesses`). There is no default policy: a verifier either names
its witnesses or says explicitly that it accepts an uncosigned header
(:meth:`WitnessPolicy.unwitnessed`).

A witness also sees forks. Its **state** (:func:`admit_header`; a small JSON document the CLI keeps
beside the witness key) remembers, per pool, every cut-off it cosigned and the head of the chain
it cosigned last. It refuses a second header for a pool and cut-off, and a header that does not
extend that head (the next sequence, naming the head's hash as ``previous_header_hash``, a later
cut-off). The first header it sees of a pool starts its chain (trust on first use): a
witness joins a pool by cosigning its current snapshot, then every later one in order.

Pure: no file or network I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from proofs import bundle
from proofs.errors import EncodingError, VerificationError
from proofs.signing import Ed25519PrivateKey, Ed25519PublicKey, key_id, sign, verify
from proofs.snapshot import Header

KIND: Final = "cosignature"
VERSION: Final = 1
FORMAT: Final = bundle.format_string(KIND, VERSION)
DOMAIN: Final = "witness/cosignature"
STATE_KIND: Final = "witness-state"
STATE_FORMAT: Final = bundle.format_string(STATE_KIND, 1)
MAX_COSIGNATURES: Final = 64
_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"

COSIGNATURE_SCHEMA: Final = bundle.Object(
    {
        "format": bundle.Const(FORMAT),
        "pool_id": bundle.Str(128, _ID),
        "cutoff_date": bundle.Date(),
        "snapshot_id": bundle.Str(128, _ID),
        "sequence": bundle.Int(1, 2**31),
        "header_hash": bundle.Bytes(32),
        "key_id": bundle.Str(32, r"[0-9a-f]{32}"),
        "cosigned_at": bundle.UtcTime(),
        "sig": bundle.Bytes(64),
    }
)
COSIGNATURES_SPEC: Final = bundle.ListOf(COSIGNATURE_SCHEMA, 0, MAX_COSIGNATURES)
"""Spec of a ``cosignatures`` member (claim and inclusion bundles)."""


def cosign_header(witness_key: Ed25519PrivateKey, header: Header, cosigned_at: str) -> dict[str, Any]:
    """A witness's cosignature over a *verified* header (call it only after every check passed)."""
    body = {
        "format": FORMAT,
        "pool_id": header.context.pool_id,
        "cutoff_date": header.context.cutoff_date,
        "snapshot_id": header.context.snapshot_id,
        "sequence": header.doc["sequence"],
        "header_hash": header.hash.hex(),
        "key_id": key_id(witness_key.public_key()),
        "cosigned_at": cosigned_at,
    }
    doc = {**body, "sig": bundle.encode_bytes(sign(witness_key, DOMAIN, body))}
    COSIGNATURE_SCHEMA.check(doc, "cosignature")
    return doc


def verify_cosignature(
    doc: object, header: Header, witness_key: Ed25519PublicKey, path: str = "cosignature"
) -> None:
    """Check that ``doc`` is ``witness_key``'s cosignature of exactly ``header``.

    Raises:
        EncodingError: malformed cosignature (names the path).
        VerificationError: ``witness.header`` (it vouches for another header, pool, cut-off or
            snapshot), ``witness.signature`` (another key, or the signature does not verify).
    """
    COSIGNATURE_SCHEMA.check(doc, path)
    assert isinstance(doc, dict)
    if doc["key_id"] != key_id(witness_key):
        raise VerificationError(
            "witness.signature", f"{path} is by key {doc['key_id']}, not {key_id(witness_key)}"
        )
    wanted = {
        "header_hash": header.hash.hex(),
        "pool_id": header.context.pool_id,
        "cutoff_date": header.context.cutoff_date,
        "snapshot_id": header.context.snapshot_id,
        "sequence": header.doc["sequence"],
    }
    for name, value in wanted.items():
        if doc[name] != value:
            raise VerificationError("witness.header", f"{path}.{name} is not this header's")
    body = {k: v for k, v in doc.items() if k != "sig"}
    try:
        verify(witness_key, DOMAIN, body, bytes.fromhex(doc["sig"]))
    except VerificationError:
        raise VerificationError(
            "witness.signature", f"{path} by key {doc['key_id']} does not verify"
        ) from None


@dataclass(frozen=True)
class WitnessPolicy:
    """Which witnesses a verifier accepts and how many of them must have cosigned a header.

    ``needed`` defaults to every key named. ``needed == 0`` (only through :meth:`unwitnessed`)
    accepts a header that no witness cosigned: then the claim rests on the gateway's word that
    its header's aggregates are the sums of honest leaves.
    """

    keys: tuple[Ed25519PublicKey, ...] = ()
    needed: int | None = None
    _explicitly_unwitnessed: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        ids = [key_id(k) for k in self.keys]
        if len(set(ids)) != len(ids):
            raise ValueError("witness keys: a key is named twice")
        if self.needed is not None and not 0 <= self.needed <= len(self.keys):
            raise ValueError(f"witnesses needed: expected 0 to {len(self.keys)}, got {self.needed}")
        if self.required == 0 and not self._explicitly_unwitnessed:
            raise ValueError(
                "a witness policy names at least one witness key and needs at least one cosignature; "
                "use WitnessPolicy.unwitnessed() to accept an uncosigned header"
            )

    @classmethod
    def unwitnessed(cls) -> WitnessPolicy:
        """Accept headers no witness cosigned (say so to whoever relies on the result)."""
        return cls((), 0, _explicitly_unwitnessed=True)

    @property
    def required(self) -> int:
        """How many of :attr:`keys` must have cosigned."""
        return len(self.keys) if self.needed is None else self.needed


def check_witnesses(
    header: Header, cosignatures: Sequence[object], policy: WitnessPolicy | None
) -> tuple[str, ...]:
    """Apply ``policy`` to a header's cosignatures; return the key ids of the named witnesses who cosigned.

    Cosignatures by keys the policy does not name are ignored (they prove nothing to this
    verifier); one by a named key that does not verify, or vouches for another header, fails.

    Raises:
        EncodingError: a malformed cosignature.
        VerificationError: ``witness.policy`` (no policy given: name witnesses, or accept an
            uncosigned header explicitly), ``witness.missing`` (fewer named witnesses cosigned
            than needed), ``witness.signature``, ``witness.header``.
    """
    if policy is None:
        raise VerificationError(
            "witness.policy",
            "this header's aggregates are vouched for only by the gateway unless a witness cosigned it: "
            "name the witnesses you require (--require-witness KEY), or accept an uncosigned header "
            "explicitly (--no-witness)",
        )
    COSIGNATURES_SPEC.check(list(cosignatures), "cosignatures")
    by_id = {key_id(k): k for k in policy.keys}
    present: list[str] = []
    for i, doc in enumerate(cosignatures):
        assert isinstance(doc, dict)
        kid = doc["key_id"]
        if kid not in by_id:
            continue
        verify_cosignature(doc, header, by_id[kid], f"cosignatures[{i}]")
        if kid not in present:
            present.append(kid)
    if len(present) < policy.required:
        missing = sorted(set(by_id) - set(present))
        raise VerificationError(
            "witness.missing",
            f"{len(present)} of the witnesses you require cosigned this header, {policy.required} needed"
            + (f" (no cosignature by {', '.join(missing)})" if missing else ""),
        )
    return tuple(present)


# --- a witness's memory -------------------------------------------------------------------------------------


def new_witness_state() -> dict[str, Any]:
    """An empty witness state."""
    return {"format": STATE_FORMAT, "pools": {}}


_HEAD = bundle.Object(
    {
        "sequence": bundle.Int(1, 2**31),
        "cutoff_date": bundle.Date(),
        "snapshot_id": bundle.Str(128, _ID),
        "header_hash": bundle.Bytes(32),
    }
)


def check_witness_state(doc: object) -> dict[str, Any]:
    """Check a witness state document; return it.

    Raises :class:`EncodingError` naming the path of what is malformed.
    """
    bundle.require_format(doc, STATE_KIND, {1})
    if not isinstance(doc, dict) or set(doc) != {"format", "pools"} or not isinstance(doc["pools"], dict):
        raise EncodingError("(document): a witness state has exactly format and pools (an object)")
    for pool_id, pool in doc["pools"].items():
        path = f"pools.{pool_id}"
        if (
            not isinstance(pool, dict)
            or set(pool) != {"head", "cosigned"}
            or not isinstance(pool["cosigned"], dict)
        ):
            raise EncodingError(f"{path}: expected exactly head and cosigned")
        _HEAD.check(pool["head"], f"{path}.head")
        for cutoff, h in pool["cosigned"].items():
            bundle.check_iso_date(cutoff, f"{path}.cosigned")
            bundle.decode_bytes(h, f"{path}.cosigned.{cutoff}", 32)
    return doc


def admit_header(state: Mapping[str, Any], header: Header) -> dict[str, Any]:
    """The witness state after cosigning ``header``; refuses a fork.

    Returns the (new) state; cosigning the header the state already holds for that cut-off again
    returns it unchanged.

    Raises:
        EncodingError: malformed state.
        VerificationError: ``witness.fork`` (another header was cosigned for this pool and cut-off),
            ``witness.chain`` (the header does not extend the head this witness cosigned last).
    """
    doc = check_witness_state(dict(state))
    pools: dict[str, Any] = {
        k: {"head": dict(v["head"]), "cosigned": dict(v["cosigned"])} for k, v in doc["pools"].items()
    }
    pool_id, cutoff = header.context.pool_id, header.context.cutoff_date
    digest = header.hash.hex()
    pool = pools.get(pool_id)
    if pool is not None:
        earlier = pool["cosigned"].get(cutoff)
        if earlier == digest:
            return {"format": STATE_FORMAT, "pools": pools}
        if earlier is not None:
            raise VerificationError(
                "witness.fork",
                f"pool {pool_id} cut-off {cutoff}: this witness already cosigned another header ({earlier})",
            )
        head = pool["head"]
        if not (
            header.doc["sequence"] == head["sequence"] + 1
            and header.doc["previous_header_hash"] == head["header_hash"]
            and cutoff > head["cutoff_date"]
        ):
            raise VerificationError(
                "witness.chain",
                f"pool {pool_id}: the header (sequence {header.doc['sequence']}, cut-off {cutoff}) does not "
                f"extend the one this witness cosigned last (sequence {head['sequence']}, cut-off "
                f"{head['cutoff_date']}, hash {head['header_hash']})",
            )
    else:
        pool = {"head": {}, "cosigned": {}}
        pools[pool_id] = pool
    pool["head"] = {
        "sequence": header.doc["sequence"],
        "cutoff_date": cutoff,
        "snapshot_id": header.context.snapshot_id,
        "header_hash": digest,
    }
    pool["cosigned"][cutoff] = digest
    return {"format": STATE_FORMAT, "pools": pools}
