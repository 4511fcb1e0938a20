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

Layout of this package, one job a module (import from ``proofs.snapshot``; the sub-modules are
internal and may move):

* ``_params``: the public proof parameters (:class:`SealParams`) and the context that binds every
  proof to one snapshot (:class:`SnapshotContext`).
* ``_layout``: the leaf encoding, blinding derivation, chunk pieces and proof parts.
* ``_tasks``: a chunk of sealing work (:class:`ChunkTask`), its result, and the prover's nonces.
* ``_chunks``: sealing one chunk (:func:`seal_chunk`) and checking a worker's result.
* ``_header``: building, hashing and verifying the signed header.
* ``_bundle_io``: the streamed snapshot bundle.
* ``_audit``: the auditor's full check, :func:`verify_snapshot`.
"""

from proofs.snapshot._audit import (
    ProgressCallback,
    check_chunk_group,
    verify_snapshot,
)
from proofs.snapshot._bundle_io import (
    SNAPSHOT_KIND,
    SNAPSHOT_VERSION,
    chunk_document,
    decode_chunk,
    read_snapshot_bundle,
    read_snapshot_parts,
    write_snapshot_bundle,
)
from proofs.snapshot._chunks import (
    check_chunk_result,
    commit_chunk,
    seal_chunk,
)
from proofs.snapshot._header import (
    HEADER_HASH_DOMAIN,
    HEADER_KIND,
    HEADER_VERSION,
    Header,
    build_header,
    header_hash,
    verify_header,
)
from proofs.snapshot._layout import (
    AGGREGATE_KEY,
    LABELLED_LEAF_VERSION,
    LEAF_VERSION,
    aggregate_blindings,
    check_exposure_id,
    circuit_rounds,
    expected_parts,
    labelled,
    leaf_bytes,
    loan_blindings,
    part_entries,
    pieces,
)
from proofs.snapshot._params import (
    RANGE_PROTOCOL,
    UNPACKING_PROTOCOL,
    SealParams,
    SnapshotContext,
    circuit_packing,
)
from proofs.snapshot._tasks import (
    CHUNK_KEY_DOMAIN,
    NONCE_DOMAIN,
    ChunkResult,
    ChunkTask,
    LoanInput,
    ProofPart,
    SealedLoan,
    chunk_nonce_key,
    prover_nonces,
)

__all__ = [
    "AGGREGATE_KEY",
    "CHUNK_KEY_DOMAIN",
    "HEADER_HASH_DOMAIN",
    "HEADER_KIND",
    "HEADER_VERSION",
    "LABELLED_LEAF_VERSION",
    "LEAF_VERSION",
    "NONCE_DOMAIN",
    "RANGE_PROTOCOL",
    "SNAPSHOT_KIND",
    "SNAPSHOT_VERSION",
    "UNPACKING_PROTOCOL",
    "ChunkResult",
    "ChunkTask",
    "Header",
    "LoanInput",
    "ProgressCallback",
    "ProofPart",
    "SealParams",
    "SealedLoan",
    "SnapshotContext",
    "aggregate_blindings",
    "build_header",
    "check_chunk_group",
    "check_chunk_result",
    "check_exposure_id",
    "chunk_document",
    "chunk_nonce_key",
    "circuit_packing",
    "circuit_rounds",
    "commit_chunk",
    "decode_chunk",
    "expected_parts",
    "header_hash",
    "labelled",
    "leaf_bytes",
    "loan_blindings",
    "part_entries",
    "pieces",
    "prover_nonces",
    "read_snapshot_bundle",
    "read_snapshot_parts",
    "seal_chunk",
    "verify_header",
    "verify_snapshot",
    "write_snapshot_bundle",
]
