"""Sealed pool snapshots: leaves, per-chunk range proofs, the header, and the auditor's full check.

A snapshot of a pool at a cut-off date commits to every loan:

* **Leaf** ``i`` is ``LEAF_VERSION || len(exposure_id) || exposure_id || C_1 || ... || C_L``: the
  gateway-issued exposure id (never a platform id or an identity) and the loan's lane commitments
  ``C_j = v_j·G + r_j·H`` (48-byte compressed points) in lane-set order. Leaves are hashed into an
  RFC 9162 Merkle tree.
* **Chunks** of ``2^chunk_log2`` consecutive leaves are proven together. A chunk's loans are split
  into power-of-two *pieces* (the binary expansion of its size, largest first) and each piece gets
  four aggregated Bulletproofs: balance lanes 1–4 (m = 4s), balance lane 5 (m = s), count lanes 1–4
  and count lane 5, so every m is a power of two with no padding.
* **Aggregates**: the header carries, per lane, the sum of that lane's commitments over all leaves.

The auditor's full check (DESIGN.md "Snapshot statement") is :func:`verify_snapshot`: header
signature, Merkle root and leaf count from all leaves, each aggregate equal to the sum of leaf
commitments, every range proof (batch verified), and the per-loan count check
``sum(count commitments) == G``.

Each range proof's transcript absorbs :data:`RANGE_PROTOCOL`, the snapshot id, the pool id, the
cut-off, the lane set, the chunk and piece indices and the part label before the Bulletproofs
protocol absorbs its own inputs (generators, n, m, commitments, prover messages), so no proof can be
moved to another snapshot, chunk, piece or lane.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from typing import IO, Any, Final, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bulletproofs, bundle, executors, lanecircuit, merkle, unpacking
from proofs.canonical import canonical_json, document_hash, parse_json
from proofs.claims import metric_value_bits
from proofs.errors import EncodingError, VerificationError
from proofs.generators import GENERATOR_DST, pedersen_bases
from proofs.group import ORDER, Group, Point, get_group
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS, LaneSet, get_lane_set
from proofs.pedersen import commit_many, derive_blinding
from proofs.transcript import Transcript

_T = TypeVar("_T")

LEAF_VERSION: Final = b"\x01"
RANGE_PROTOCOL: Final = b"poolproof/snapshot-rangeproof/v1"
UNPACKING_PROTOCOL: Final = b"poolproof/snapshot-unpacking/v1"
#: The loan key of the aggregates' blindings (``#`` is not an exposure-id character).
AGGREGATE_KEY: Final = b"#aggregate"
_EXPOSURE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: Parts of a piece: (label, lane kind, first lane offset, lanes in the part).
_PARTS: Final = (
    ("balance/0-3", "balance", 0, 4),
    ("balance/4", "balance", 4, 1),
    ("count/0-3", "count", 0, 4),
    ("count/4", "count", 4, 1),
)


@dataclass(frozen=True)
class SealParams:
    """Public proof parameters of a snapshot (recorded in its header)."""

    lane_set: str = "dpd5-v3"
    chunk_log2: int = 10
    #: Inner-product rounds of each chunk proof (``None``: full compression). Two rounds: about
    #: 640 bytes of proof a loan for about 40% less prover work than full compression
    #: (docs/decisions.md, "packed lanes and cut inner-product arguments").
    ipa_rounds: int | None = 2

    def to_dict(self, lanes: LaneSet) -> dict[str, Any]:
        """The ``proof_params`` object of a header."""
        return {
            "group": "BLS12-381-G1",
            "generator_dst": GENERATOR_DST.decode(),
            "lane_set": self.lane_set,
            "balance_bits": lanes.balance_bits,
            "count_bits": lanes.count_bits,
            "chunk_log2": self.chunk_log2,
            "ipa_rounds": self.ipa_rounds,
        }


@dataclass(frozen=True)
class SnapshotContext:
    """What binds a range proof to one snapshot: absorbed into every chunk transcript."""

    snapshot_id: str
    pool_id: str
    cutoff_date: str
    lane_set: str

    def transcript(self, chunk: int, piece: int, part: str) -> Transcript:
        """A fresh transcript for one part of one piece of one chunk."""
        t = Transcript(RANGE_PROTOCOL)
        t.append_message(b"snapshot_id", self.snapshot_id.encode())
        t.append_message(b"pool_id", self.pool_id.encode())
        t.append_message(b"cutoff_date", self.cutoff_date.encode())
        t.append_message(b"lane_set", self.lane_set.encode())
        t.append_u64(b"chunk", chunk)
        t.append_u64(b"piece", piece)
        t.append_message(b"part", part.encode())
        return t

    def unpacking_transcript(self) -> Transcript:
        """The transcript of the header's unpacking proof (packed lane sets)."""
        t = Transcript(UNPACKING_PROTOCOL)
        t.append_message(b"snapshot_id", self.snapshot_id.encode())
        t.append_message(b"pool_id", self.pool_id.encode())
        t.append_message(b"cutoff_date", self.cutoff_date.encode())
        t.append_message(b"lane_set", self.lane_set.encode())
        return t


def circuit_packing(lanes: LaneSet) -> lanecircuit.Packing | None:
    """The lane set's packing in :mod:`proofs.lanecircuit` terms (lane indices and shifts)."""
    if lanes.packing is None:
        return None
    index = {lane: i for i, lane in enumerate(lanes.lanes)}
    return tuple(tuple((index[s.lane], s.shift) for s in slots) for slots in lanes.packing)


def aggregate_blindings(seed: bytes, lanes: LaneSet) -> list[int]:
    """The per-lane aggregates' blindings of a packed snapshot, derived from the snapshot seed."""
    return [derive_blinding(seed, AGGREGATE_KEY, lane) for lane in lanes.lanes]


def check_exposure_id(exposure_id: str) -> bytes:
    """The ASCII bytes of a well-formed exposure id.

    Raises:
        EncodingError: not 1–64 characters of ``[A-Za-z0-9_-]``.
    """
    if not isinstance(exposure_id, str) or not _EXPOSURE_ID.fullmatch(exposure_id):
        raise EncodingError("exposure_id: expected 1-64 characters of [A-Za-z0-9_-]")
    return exposure_id.encode("ascii")


def leaf_bytes(exposure_id: str, commitments: Sequence[bytes]) -> bytes:
    """The leaf encoding (see module docstring)."""
    eid = check_exposure_id(exposure_id)
    return LEAF_VERSION + bytes([len(eid)]) + eid + b"".join(commitments)


def pieces(n: int) -> list[tuple[int, int]]:
    """Split ``n`` consecutive items into power-of-two pieces: ``[(offset, size), ...]``, largest first."""
    out: list[tuple[int, int]] = []
    offset = 0
    for bit in reversed(range(n.bit_length())):
        size = 1 << bit
        if n & size:
            out.append((offset, size))
            offset += size
    return out


@dataclass(frozen=True)
class LoanInput:
    """What sealing needs of one loan: its exposure id, outstanding principal and DPD bucket."""

    exposure_id: str
    principal: int
    bucket: int


@dataclass(frozen=True)
class ChunkTask:
    """One unit of sealing work; picklable so it can run in a process pool or on a Dask worker.

    A task carries the secrets of its own chunk only — its loans' blindings and a nonce key derived
    for this chunk (:func:`chunk_nonce_key`) — never the snapshot seed: a worker, or anyone reading
    the traffic to it, learns nothing about other chunks' openings. Build tasks with :meth:`prepare`.
    """

    context: SnapshotContext
    params: SealParams
    chunk_index: int
    loans: tuple[LoanInput, ...]
    blindings: tuple[tuple[int, ...], ...] = field(repr=False)  # secret: per loan, per input
    nonce_key: bytes = field(repr=False)  # secret: keys this chunk's prover nonces
    group_name: str | None = None

    @classmethod
    def prepare(
        cls,
        context: SnapshotContext,
        params: SealParams,
        chunk_index: int,
        loans: tuple[LoanInput, ...],
        seed: bytes,
        group_name: str | None = None,
    ) -> ChunkTask:
        """The task of chunk ``chunk_index``, with its blindings and nonce key derived from ``seed``."""
        lanes = get_lane_set(params.lane_set)
        return cls(
            context,
            params,
            chunk_index,
            loans,
            tuple(tuple(loan_blindings(seed, loan.exposure_id, lanes)) for loan in loans),
            chunk_nonce_key(seed, chunk_index),
            group_name,
        )


@dataclass(frozen=True)
class ProofPart:
    """One aggregated range proof inside a chunk."""

    piece: int
    part: str
    m: int
    n_bits: int
    proof: bytes


@dataclass(frozen=True)
class ChunkResult:
    """The public output of a chunk plus the secret lane totals the gateway keeps encrypted."""

    chunk_index: int
    exposure_ids: tuple[str, ...]
    commitments: tuple[tuple[bytes, ...], ...]  # per loan, per lane
    leaf_hashes: tuple[bytes, ...]
    proofs: tuple[ProofPart, ...]
    lane_value_sums: tuple[int, ...] = field(repr=False)  # per lane
    lane_blinding_sums: tuple[int, ...] = field(repr=False)  # per leaf commitment (lane or input)


def loan_blindings(seed: bytes, exposure_id: str, lanes: LaneSet) -> list[int]:
    """Blindings of one loan's commitments, derived from the snapshot seed (so openings can be regenerated).

    One per lane (count-lane blindings sum to zero, which makes ``sum(count commitments) == G``
    checkable by anyone), or one per packed input for a packed lane set.
    """
    key = check_exposure_id(exposure_id)
    if lanes.packing is not None:
        return [derive_blinding(seed, key, name) for name in lanes.inputs]
    blindings = [derive_blinding(seed, key, lane) for lane in lanes.lanes[:-1]]
    n_bal = len(lanes.balance_lanes)
    last_count = -sum(blindings[n_bal:]) % ORDER
    return [*blindings, last_count]


NONCE_DOMAIN: Final = b"poolproof/prover-nonces/v4\x00"
CHUNK_KEY_DOMAIN: Final = b"poolproof/chunk-nonce-key/v1\x00"
#: Scalars drawn per SHAKE256 call of the nonce stream.
_NONCE_BLOCK: Final = 256


def chunk_nonce_key(seed: bytes, chunk_index: int) -> bytes:
    """The key of chunk ``chunk_index``'s prover nonces: ``HMAC-SHA-512(seed, domain || u64be(index))``.

    A PRF of the snapshot seed, so a worker given one chunk's key learns nothing of the seed or of
    any other chunk's key.
    """
    if chunk_index < 0:
        raise ValueError("chunk index must be non-negative")
    return hmac.new(seed, CHUNK_KEY_DOMAIN + chunk_index.to_bytes(8, "big"), hashlib.sha512).digest()


def prover_nonces(
    secret: bytes,
    transcript: Transcript,
    commitments: Sequence[Sequence[bytes]],
    *,
    statement: dict[str, Any],
) -> Callable[[], int]:
    """The prover's random scalars for one proof, derived from a secret key.

    ``secret`` is a chunk's :func:`chunk_nonce_key` for the proofs of a chunk, or the snapshot seed
    for the header's unpacking proof. Like RFC 6979's deterministic nonces (and "synthetic
    nonces"), the stream is keyed by the secret and bound to everything that fixes the witness: the
    transcript state (snapshot, chunk, piece, part) and every commitment proven (which binds the
    values and blindings), and ``statement``: every public parameter of the proof that is not yet
    in the transcript (proof system, bit width, aggregation size, inner-product rounds, packing,
    group). Two proofs can share nonces only if they prove the same commitments in the same place
    under the same parameters, i.e. are the same proof -- re-proving with other ``ipa_rounds``
    draws other nonces, so two proofs never combine two challenges with one nonce (which would
    reveal the witness). This makes sealing reproducible — a resumed job or a
    Dask run gives byte-identical snapshots — without weakening zero knowledge: to anyone without
    the key the stream is indistinguishable from uniform.

    Construction: ``key = HMAC-SHA-512(secret, domain || transcript digest || SHA-256(commitments)
    || SHA-256(canonical statement))``
    (a PRF of the secret); block ``j`` of the stream is ``SHAKE256(key || u64be(j))`` read as 256
    big-endian 512-bit integers, each reduced mod r (bias < 2^-256; zero is skipped). One SHAKE
    call per 256 scalars instead of one HMAC per scalar: a lane-circuit proof draws two scalars per
    gate, and this stream costs a tenth of the per-scalar HMACs it replaces.
    """
    h = hashlib.sha256()
    for row in commitments:
        for c in row:
            h.update(c)
    statement_digest = hashlib.sha256(canonical_json(statement)).digest()
    key = hmac.new(
        secret, NONCE_DOMAIN + transcript.state_digest() + h.digest() + statement_digest, hashlib.sha512
    ).digest()
    block = 0
    pending: list[int] = []

    def draw() -> int:
        nonlocal block
        while True:
            if not pending:
                data = hashlib.shake_256(key + block.to_bytes(8, "big")).digest(64 * _NONCE_BLOCK)
                block += 1
                pending.extend(
                    int.from_bytes(data[i : i + 64], "big") % ORDER
                    for i in range(64 * (_NONCE_BLOCK - 1), -1, -64)
                )
            k = pending.pop()
            if k:
                return k

    return draw


def commit_chunk(task: ChunkTask, lanes: LaneSet) -> tuple[list[tuple[int, ...]], ChunkResult]:
    """A chunk's lane values, and its commitments, leaf hashes and lane totals without proofs.

    :func:`seal_chunk` adds the proofs; :func:`check_chunk_result` recomputes this to check what an
    untrusted executor returned.

    Raises:
        ValueError: malformed loan input (negative principal, unknown bucket) or blindings.
    """
    n_inputs = len(lanes.inputs)
    values = [lanes.lane_values(loan.principal, loan.bucket) for loan in task.loans]
    blindings = task.blindings
    if len(blindings) != len(task.loans) or any(len(row) != n_inputs for row in blindings):
        raise ValueError(f"chunk {task.chunk_index}: need {n_inputs} blindings for each of its loans")
    flat_points = commit_many(
        get_group(task.group_name),
        [v for row in values for v in lanes.input_values(row)],
        [r for row in blindings for r in row],
    )
    commitments = tuple(
        tuple(p.to_bytes() for p in flat_points[i * n_inputs : (i + 1) * n_inputs])
        for i in range(len(values))
    )
    return values, ChunkResult(
        chunk_index=task.chunk_index,
        exposure_ids=tuple(loan.exposure_id for loan in task.loans),
        commitments=commitments,
        leaf_hashes=tuple(
            merkle.leaf_hash(leaf_bytes(loan.exposure_id, row))
            for loan, row in zip(task.loans, commitments, strict=True)
        ),
        proofs=(),
        lane_value_sums=tuple(sum(row[j] for row in values) for j in range(len(lanes.lanes))),
        lane_blinding_sums=tuple(sum(row[j] for row in blindings) % ORDER for j in range(n_inputs)),
    )


def seal_chunk(task: ChunkTask) -> ChunkResult:
    """Commit to a chunk of loans and range-prove every lane value (pure; runs on any worker).

    Raises:
        ProvingError: a lane value outside its range (the prover refuses, nothing is produced).
        ValueError: malformed loan input (negative principal, unknown bucket).
    """
    group = get_group(task.group_name)
    lanes = get_lane_set(task.params.lane_set)
    values, public = commit_chunk(task, lanes)
    blindings, commitments = task.blindings, public.commitments
    proofs: list[ProofPart] = []
    for piece, part, offset, size, m, n_bits in expected_parts(lanes, len(task.loans)):
        transcript = task.context.transcript(task.chunk_index, piece, part)
        rounds = (
            circuit_rounds(task.params.ipa_rounds, size, n_bits)
            if lanes.proof == "lanecircuit"
            else task.params.ipa_rounds
        )
        statement = {
            "proof": lanes.proof,
            "group": "BLS12-381-G1",
            "lane_set": lanes.name,
            "n_bits": n_bits,
            "m": m,
            "loans": size,
            "ipa_rounds": rounds,
            "chunk_log2": task.params.chunk_log2,
        }
        nonces = prover_nonces(
            task.nonce_key, transcript, commitments[offset : offset + size], statement=statement
        )
        if lanes.proof == "lanecircuit":
            circuit_proof, _ = lanecircuit.prove_lanes(
                group,
                values[offset : offset + size],
                blindings[offset : offset + size],
                n_bits,
                transcript,
                ipa_rounds=rounds,
                rng=nonces,
                packing=circuit_packing(lanes),
            )
            proof_bytes = circuit_proof.to_bytes()
        else:
            range_proof, _ = bulletproofs.prove_range(
                group,
                part_entries(values, lanes, offset, size, part),
                part_entries(blindings, lanes, offset, size, part),
                n_bits,
                transcript,
                ipa_rounds=task.params.ipa_rounds,
                rng=nonces,
            )
            proof_bytes = range_proof.to_bytes()
        proofs.append(ProofPart(piece, part, m, n_bits, proof_bytes))
    return replace(public, proofs=tuple(proofs))


def check_chunk_result(task: ChunkTask, result: ChunkResult) -> None:
    """Check a chunk result from an untrusted worker against its task, short of verifying the proofs.

    Everything but the proof bytes is recomputed from the task's loans and blindings (two fixed-base
    commitments a loan), and the proofs must have the expected pieces, parts and sizes. A worker can
    then not change what the snapshot commits to; a bad proof it returns makes the snapshot fail
    :func:`verify_snapshot`, never verify for other values.

    Raises:
        VerificationError: the result does not match the task.
    """
    lanes = get_lane_set(task.params.lane_set)
    parts = expected_parts(lanes, len(task.loans))
    shape = [(piece, part, m, n_bits) for piece, part, _offset, _size, m, n_bits in parts]
    if replace(result, proofs=()) != commit_chunk(task, lanes)[1]:
        raise VerificationError(
            "sealing.worker-result",
            f"chunk {task.chunk_index}: the worker's commitments, leaves or totals do not match its loans",
        )
    if [(p.piece, p.part, p.m, p.n_bits) for p in result.proofs] != shape:
        raise VerificationError(
            "sealing.worker-result",
            f"chunk {task.chunk_index}: the worker's proofs do not have the expected pieces and parts",
        )


def part_entries(rows: Sequence[Sequence[_T]], lanes: LaneSet, offset: int, size: int, part: str) -> list[_T]:
    """The per-lane entries (values, blindings or commitments) a range-proof part is about.

    Lane-major: every loan of the piece for the part's first lane, then the next lane, ...; the
    prover and the verifier both take this order.
    """
    spec = next((p for p in _PARTS if p[0] == part), None)
    if spec is None:
        raise EncodingError(f"unknown proof part {part!r}")
    _, kind, first, count = spec
    lane_offset = first + (0 if kind == "balance" else len(lanes.balance_lanes))
    return [
        rows[i][lane]
        for lane in range(lane_offset, lane_offset + count)
        for i in range(offset, offset + size)
    ]


def circuit_rounds(ipa_rounds: int | None, loans: int, n_bits: int) -> int | None:
    """The IPA rounds of a lane-circuit piece: the snapshot's setting, capped at the piece's maximum."""
    if ipa_rounds is None:
        return None
    return min(ipa_rounds, lanecircuit.gate_count(loans, n_bits).bit_length() - 1)


def expected_parts(lanes: LaneSet, n_loans: int) -> list[tuple[int, str, int, int, int, int]]:
    """Every (piece, part, offset, size, m, n_bits) a chunk of ``n_loans`` must carry, in order.

    For a range-proof lane set ``m`` is the number of values in the part; for the lane circuit it is
    the number of loans in the piece.
    """
    if lanes.proof == "lanecircuit":
        sizes = lanecircuit.split_loans(n_loans, lanes.balance_bits) if n_loans else []
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        return [
            (piece, "lanecircuit", offset, size, size, lanes.balance_bits)
            for piece, (offset, size) in enumerate(zip(offsets, sizes, strict=True))
        ]
    out = []
    for piece_index, (offset, size) in enumerate(pieces(n_loans)):
        for part, kind, _first, count in _PARTS:
            n_bits = lanes.balance_bits if kind == "balance" else lanes.count_bits
            out.append((piece_index, part, offset, size, count * size, n_bits))
    return out


# -- header --------------------------------------------------------------------------------------

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
            "signatures": bundle.SIGNATURES_SPEC,
        },
        optional=frozenset({"signatures"}),
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
) -> dict[str, Any]:
    """The unsigned snapshot header (sign it with :func:`proofs.bundle.sign_document`).

    ``packed_sums`` and ``aggregate_proof`` are required for a packed lane set
    (:attr:`proofs.sealing.SealOutcome` has both) and refused otherwise.

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

    def metric_commitment(self, metric: str) -> Point:
        """The commitment to ``metric``: the public linear combination of lane aggregates."""
        terms = self.lanes.metric(metric)
        group = next(iter(self.aggregates.values())).group
        return group.msm([self.aggregates[lane] for lane, _ in terms], [c for _, c in terms])

    def metric_bound_bits(self, metric: str) -> int:
        """Bits that bound the value of ``metric`` given the range proofs of every leaf."""
        terms = self.lanes.metric(metric)
        bits = max(
            self.lanes.balance_bits if lane in self.lanes.balance_lanes else self.lanes.count_bits
            for lane, _ in terms
        )
        return metric_value_bits(self.leaf_count, bits, sum(abs(c) for _, c in terms))


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
) -> Header:
    """Check a header's schema and signatures with the caller's trusted keys; decode it.

    ``lane_sets`` are the lane sets the caller accepts: by default only the strongest
    (:data:`~proofs.lanes.STRONGEST_LANE_SET`); an older one only when named, so a gateway cannot
    downgrade a snapshot to a lane set that proves less.

    Raises:
        EncodingError: malformed header (names the JSON path).
        VerificationError: ``header.lane_set`` (a lane set the caller did not accept),
            ``header.signature`` (missing or invalid gateway or co-signer signature).
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
    if lanes.name not in lane_sets:
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
    params = SealParams(lane_set=lanes.name, chunk_log2=pp["chunk_log2"], ipa_rounds=pp["ipa_rounds"])
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
    )


# -- the snapshot bundle ---------------------------------------------------------------------------
#
# A snapshot bundle is one JSON document laid out one chunk per line so that it can be written and
# verified as a stream (a 1M-loan pool is over a gigabyte):
#
#   {"format":"poolproof/snapshot/v1","header":{...},"chunks":[
#   {"index":0,"leaves":[[exposure_id, hex(C_1..C_L)], ...],"proofs":[hex, ...]},
#   ...
#   ]}
#
# Any JSON parser reads it whole; :func:`read_snapshot_bundle` reads it a line at a time and falls
# back to a whole-document parse when the layout differs (e.g. re-indented by another tool).

SNAPSHOT_KIND: Final = "snapshot"
SNAPSHOT_VERSION: Final = 1
_OPEN = '{"format":"poolproof/snapshot/v1","header":'
_CHUNKS = ',"chunks":['


def chunk_document(result: ChunkResult) -> dict[str, Any]:
    """The bundle form of one sealed chunk."""
    return {
        "index": result.chunk_index,
        "leaves": [
            [eid, b"".join(c).hex()] for eid, c in zip(result.exposure_ids, result.commitments, strict=True)
        ],
        "proofs": [p.proof.hex() for p in result.proofs],
    }


def write_snapshot_bundle(out: IO[str], header: dict[str, Any], chunks: Iterable[dict[str, Any]]) -> None:
    """Write a snapshot bundle, one chunk document per line, without holding the pool in memory."""
    out.write(_OPEN + canonical_json(header).decode() + _CHUNKS + "\n")
    first = True
    for chunk in chunks:
        if not first:
            out.write(",\n")
        out.write(canonical_json(chunk).decode())
        first = False
    out.write("\n]}\n")


def read_snapshot_bundle(source: IO[str]) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The header and a lazy iterator over the chunk documents of a snapshot bundle.

    Raises:
        EncodingError: not a snapshot bundle, or a malformed line (raised while iterating).
    """
    first = source.readline()
    if first.startswith(_OPEN) and first.rstrip("\n").endswith(_CHUNKS):
        header = parse_json(first.rstrip("\n")[len(_OPEN) : -len(_CHUNKS)])
        return _checked_header_object(header), _stream_chunks(source)
    doc = parse_json(first + source.read())
    if not isinstance(doc, dict):
        raise EncodingError("(document): expected a JSON object")
    bundle.require_format(doc, SNAPSHOT_KIND, {SNAPSHOT_VERSION})
    if set(doc) != {"format", "header", "chunks"} or not isinstance(doc["chunks"], list):
        raise EncodingError("(document): a snapshot bundle has exactly format, header and chunks")
    return _checked_header_object(doc["header"]), iter(doc["chunks"])


def _checked_header_object(header: object) -> dict[str, Any]:
    if not isinstance(header, dict):
        raise EncodingError("header: expected an object")
    return header


def _stream_chunks(source: IO[str]) -> Iterator[dict[str, Any]]:
    line_no = 1
    for line in source:
        line_no += 1
        text = line.rstrip("\n")
        if text == "]}":
            if source.read().strip():
                raise EncodingError(f"line {line_no + 1}: data after the end of the bundle")
            return
        chunk = parse_json(text[:-1] if text.endswith(",") else text)
        if not isinstance(chunk, dict):
            raise EncodingError(f"line {line_no}: expected a chunk object")
        yield chunk
    raise EncodingError("bundle is truncated: no closing ']}' line")


_CHUNK_SCHEMA: Final = bundle.Object(
    {
        "index": bundle.Int(0, 2**40),
        "leaves": bundle.ListOf(bundle.ListOf(bundle.AnyJson(), 2, 2), 1, 1 << 16),
        "proofs": bundle.ListOf(bundle.Bytes(max_length=1 << 24), 1, 64),
    }
)


def _decode_chunk(
    group: Group, n_lanes: int, chunk: dict[str, Any], index: int, size: int
) -> tuple[list[list[Point]], list[bytes], list[bytes]]:
    path = f"chunks[{index}]"
    _CHUNK_SCHEMA.check(chunk, path)
    if chunk["index"] != index:
        raise VerificationError(
            "snapshot.chunk_order", f"{path}: expected chunk {index}, got {chunk['index']}"
        )
    if len(chunk["leaves"]) != size:
        raise VerificationError(
            "snapshot.leaf_count", f"{path}: expected {size} leaves, got {len(chunk['leaves'])}"
        )
    points: list[list[Point]] = []
    leaf_hashes: list[bytes] = []
    for i, (eid, blob_hex) in enumerate(chunk["leaves"]):
        leaf_path = f"{path}.leaves[{i}]"
        if not isinstance(eid, str):
            raise EncodingError(f"{leaf_path}[0]: expected an exposure id string")
        blob = bundle.decode_bytes(blob_hex, f"{leaf_path}[1]", 48 * n_lanes)
        commitments = [blob[j * 48 : (j + 1) * 48] for j in range(n_lanes)]
        try:
            points.append([group.decode_point(c, allow_identity=True) for c in commitments])
        except EncodingError as exc:
            raise EncodingError(f"{leaf_path}: {exc}") from None
        leaf_hashes.append(merkle.leaf_hash(leaf_bytes(eid, commitments)))
    proofs = [bytes.fromhex(p) for p in chunk["proofs"]]
    return points, leaf_hashes, proofs


ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(leaves_done, leaf_count)`` while a snapshot is verified."""


def _noop_progress(done: int, total: int) -> None:
    return None


def _weights(n: int) -> list[int]:
    return [int.from_bytes(os.urandom(16), "big") | 1 for _ in range(n)]


@dataclass(frozen=True)
class _AuditSpec:
    """What a worker needs to check chunks of one snapshot (picklable; no secrets)."""

    context: SnapshotContext
    params: SealParams
    group_name: str


@dataclass(frozen=True)
class _ChunkCheck:
    """A checked chunk: its leaf hashes and per-lane commitment sums, for the sequential fold."""

    index: int
    leaf_hashes: tuple[bytes, ...]
    lane_sums: tuple[bytes, ...]
    exposure_ids: tuple[str, ...] = ()


def check_chunk_group(spec: _AuditSpec, chunks: list[tuple[int, int, dict[str, Any]]]) -> list[_ChunkCheck]:
    """Check a group of chunks completely except for the whole-tree folds (runs on any worker).

    Decodes every leaf (curve and subgroup checks), checks every loan counts exactly once, sums
    each lane's commitments, and batch-verifies every proof of the group in one multi-scalar
    multiplication. Raises like :func:`verify_snapshot`.
    """
    group = get_group(spec.group_name)
    lanes = get_lane_set(spec.params.lane_set)
    n_lanes = len(lanes.inputs)
    n_count = len(lanes.count_lanes)
    packing = circuit_packing(lanes)
    value_base, _ = pedersen_bases(group)
    pending: list[bulletproofs.RangeProofItem] = []
    pending_circuits: list[lanecircuit.LaneCircuitItem] = []
    out: list[_ChunkCheck] = []
    for index, size, chunk in chunks:
        points, leaf_hashes, proofs = _decode_chunk(group, n_lanes, chunk, index, size)
        if packing is None:
            # Every loan counts exactly once: sum of its count commitments == G, all loans at once
            # with random weights (sound because every point is in the prime-order subgroup).
            # (Packed lane sets: the lane circuit proves it, the counts have no commitments.)
            w = _weights(size)
            count_points = [p for row in points for p in row[n_lanes - n_count :]]
            count_weights = [wi for wi in w for _ in range(n_count)]
            check = group.msm([*count_points, value_base], [*count_weights, -sum(w)])
            if not check.is_identity():
                raise VerificationError(
                    "snapshot.count_lanes", f"chunk {index}: a loan is not counted exactly once"
                )
        sums = tuple(group.msm([row[j] for row in points], [1] * size).to_bytes() for j in range(n_lanes))
        exposure_ids = tuple(leaf[0] for leaf in chunk["leaves"])
        out.append(_ChunkCheck(index, tuple(leaf_hashes), sums, exposure_ids))
        parts = expected_parts(lanes, size)
        if len(proofs) != len(parts):
            raise VerificationError(
                "rangeproof.shape", f"chunk {index}: expected {len(parts)} proofs, got {len(proofs)}"
            )
        for proof_bytes, (piece, part, offset, psize, m, n_bits) in zip(proofs, parts, strict=True):
            transcript = spec.context.transcript(index, piece, part)
            where = f"chunks[{index}].proofs[{part} piece {piece}]"
            try:
                if lanes.proof == "lanecircuit":
                    rounds = circuit_rounds(spec.params.ipa_rounds, psize, n_bits)
                    circuit = lanecircuit.LaneCircuitProof.from_bytes(
                        group, proof_bytes, loans=psize, n_bits=n_bits, ipa_rounds=rounds
                    )
                    pending_circuits.append(
                        lanecircuit.LaneCircuitItem(
                            points[offset : offset + psize], n_bits, circuit, transcript, packing
                        )
                    )
                else:
                    proof = bulletproofs.RangeProof.from_bytes(
                        group, proof_bytes, m=m, n_bits=n_bits, ipa_rounds=spec.params.ipa_rounds
                    )
                    commitments = part_entries(points, lanes, offset, psize, part)
                    pending.append(bulletproofs.RangeProofItem(commitments, n_bits, proof, transcript))
            except EncodingError as exc:
                raise EncodingError(f"{where}: {exc}") from None
    _flush(group, pending, pending_circuits)
    return out


def _chunk_groups(
    chunks: Iterable[dict[str, Any]], leaf_count: int, chunk_size: int, group_leaves: int
) -> Iterator[list[tuple[int, int, dict[str, Any]]]]:
    n_chunks = -(-leaf_count // chunk_size)
    batch: list[tuple[int, int, dict[str, Any]]] = []
    leaves = 0
    index = -1
    for index, chunk in enumerate(chunks):
        if index >= n_chunks:
            raise VerificationError(
                "snapshot.leaf_count", f"more chunks than the header's {leaf_count} leaves"
            )
        size = min(chunk_size, leaf_count - index * chunk_size)
        batch.append((index, size, chunk))
        leaves += size
        if leaves >= group_leaves:
            yield batch
            batch, leaves = [], 0
    if batch:
        yield batch
    if index + 1 != n_chunks:
        raise VerificationError("snapshot.leaf_count", f"expected {n_chunks} chunks, got {index + 1}")


def verify_snapshot(
    source: IO[str],
    gateway_key: Ed25519PublicKey,
    *,
    cosigner_keys: Sequence[Ed25519PublicKey] = (),
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
    progress: ProgressCallback | None = None,
    executor: Executor | None = None,
    group_leaves: int = 4096,
    max_in_flight: int | None = None,
) -> Header:
    """The auditor's full check of a snapshot bundle (DESIGN.md "Snapshot statement" 1–4).

    Streams the bundle once. Groups of about ``group_leaves`` leaves are checked by
    :func:`check_chunk_group` — inline, or on ``executor`` (a process pool over all cores, or a
    Dask executor) with at most ``max_in_flight`` groups queued (default: two per worker of the
    executor, at least four) — and folded in order into the
    Merkle root and the lane aggregates. Returns the verified header; raises on the first failure.

    Raises:
        EncodingError: malformed bundle (names the chunk, leaf or field).
        VerificationError: ``header.signature``, ``snapshot.chunk_order``, ``snapshot.leaf_count``,
            ``snapshot.count_lanes`` (a loan not counted exactly once), ``snapshot.exposure_unique``
            (an exposure id in more than one leaf), ``rangeproof.*`` /
            ``lanecircuit.*`` (a proof failed), ``snapshot.merkle_root``, ``snapshot.aggregate``
            (names the lane, or the packed input), ``unpacking.*`` (packed lane sets: the
            per-lane aggregates are not the unpacking of the leaves' sums).
    """
    progress = progress or _noop_progress
    queue_limit = executors.in_flight(executor, max_in_flight)
    group = get_group()
    header_doc, chunks = read_snapshot_bundle(source)
    header = verify_header(
        header_doc, gateway_key, cosigner_keys=cosigner_keys, group=group, lane_sets=lane_sets
    )
    lanes = header.lanes
    spec = _AuditSpec(header.context, header.params, group.name)
    chunk_size = 1 << header.params.chunk_log2
    accumulator = merkle.RootAccumulator()
    lane_sums = [group.identity() for _ in lanes.inputs]
    in_flight: deque[Future[list[_ChunkCheck]]] = deque()
    seen_exposures: set[str] = set()

    def fold(results: list[_ChunkCheck]) -> None:
        for result in results:
            for h in result.leaf_hashes:
                accumulator.add(h)
            for eid in result.exposure_ids:
                if eid in seen_exposures:
                    raise VerificationError(
                        "snapshot.exposure_unique",
                        f"chunks[{result.index}]: exposure id {eid} appears in more than one leaf",
                    )
                seen_exposures.add(eid)
            for j, raw in enumerate(result.lane_sums):
                lane_sums[j] = lane_sums[j] + group.decode_point(raw, allow_identity=True)
        progress(accumulator.size, header.leaf_count)

    for batch in _chunk_groups(chunks, header.leaf_count, chunk_size, group_leaves):
        if executor is None:
            fold(check_chunk_group(spec, batch))
            continue
        in_flight.append(executor.submit(check_chunk_group, spec, batch))
        while len(in_flight) >= queue_limit:
            fold(in_flight.popleft().result())
    while in_flight:
        fold(in_flight.popleft().result())
    if accumulator.size != header.leaf_count or not hmac.compare_digest(
        accumulator.root(), header.merkle_root
    ):
        raise VerificationError(
            "snapshot.merkle_root", "the Merkle root of the leaves differs from the header's"
        )
    if header.packed_sums is None:
        expected = [header.aggregates[lane] for lane in lanes.lanes]
    else:
        expected = list(header.packed_sums)
    for name, total, want in zip(lanes.inputs, lane_sums, expected, strict=True):
        if total != want:
            raise VerificationError(
                "snapshot.aggregate", f"aggregate {name} is not the sum of the leaves' commitments"
            )
    if header.packed_sums is not None and header.aggregate_proof is not None:
        unpacking.verify_unpacking(
            group,
            lanes,
            header.leaf_count,
            [header.aggregates[lane] for lane in lanes.lanes],
            header.packed_sums,
            header.aggregate_proof,
            header.context.unpacking_transcript(),
        )
    return header


def _flush(
    group: Group, items: list[bulletproofs.RangeProofItem], circuits: list[lanecircuit.LaneCircuitItem]
) -> None:
    if items:
        bulletproofs.batch_verify(group, items)
    if circuits:
        try:
            lanecircuit.batch_verify_lanes(group, circuits)
        except VerificationError as exc:
            raise VerificationError("lanecircuit.batch", str(exc)) from exc
