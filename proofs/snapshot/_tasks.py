"""Prover tasks: one chunk of sealing work, its result, and the prover's nonce stream.

A task is picklable so it can run in a process pool or on a Dask worker, and carries the secrets of
its own chunk only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from proofs.canonical import canonical_json
from proofs.group import ORDER
from proofs.lanes import get_lane_set
from proofs.loan_facts import LoanFacts
from proofs.snapshot._layout import loan_blindings
from proofs.snapshot._params import SealParams, SnapshotContext
from proofs.transcript import Transcript


@dataclass(frozen=True)
class LoanInput:
    """What sealing needs of one loan: its exposure id, outstanding principal and DPD bucket."""

    exposure_id: str
    principal: int
    bucket: int


#: What a chunk task carries of one loan: (principal, bucket) for the dpd5 lane sets, the loan's
#: facts for the pool statement v2.
SealedLoan = LoanInput | LoanFacts


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
    loans: tuple[SealedLoan, ...]
    blindings: tuple[tuple[int, ...], ...] = field(repr=False)  # secret: per loan, per input
    nonce_key: bytes = field(repr=False)  # secret: keys this chunk's prover nonces
    group_name: str | None = None

    @classmethod
    def prepare(
        cls,
        context: SnapshotContext,
        params: SealParams,
        chunk_index: int,
        loans: tuple[SealedLoan, ...],
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
    #: Per loan, its stratification cells in the snapshot's dimension order (pool statement v2).
    cells: tuple[tuple[str, ...], ...] = ()


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
