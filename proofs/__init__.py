"""PoolProof's verification package: pure cryptography, no I/O beyond what a caller passes in.

An auditor can ``pip install`` the project and verify bundles with this package alone: it never
imports Flask, a database driver, ``gateway`` or ``policies``.

The public API is what this module exports (``__all__``); it is what an auditor's script needs:

* **Verify** a snapshot bundle (:func:`verify_snapshot`, streamed, the full "Snapshot statement"
  check), a signed header alone (:func:`verify_header`), a claim bundle against the question that
  was asked (:func:`verify_claim_answer`, :func:`verify_claim_bundle` with :class:`ExpectedClaim`),
  a borrower's inclusion bundle (:func:`verify_inclusion_bundle`) and RFC 9162 inclusion and
  consistency proofs (:func:`verify_inclusion`, :func:`verify_consistency`). Verify functions
  return what they verified or ``None``, and raise :class:`VerificationError` naming the failed
  check; malformed input raises :class:`EncodingError`. Every error derives from :class:`Error`.
* **Bundle formats**: :func:`load_bundle` and :func:`dump_bundle` (the canonical JSON of every
  ``poolproof/<kind>/v<n>`` document), :func:`read_snapshot_bundle` (the streamed snapshot).
* **Keys and key history**: :func:`load_public_key`, :func:`parse_public_key`, :func:`key_id`;
  :func:`verify_key_history` and :func:`key_by_id` for the gateway's forward-only key history.
* **Witnesses**: :class:`WitnessPolicy` (which cosigners a claim or inclusion bundle must carry),
  :func:`cosign_header` and :func:`verify_cosignature`, and the witness's own state
  (:func:`new_witness_state`, :func:`admit_header`: never cosign two headers for one pool and
  sequence).
* **Lane sets** the verifier accepts: :data:`DEFAULT_ACCEPTED_LANE_SETS`, :data:`LANE_SETS`.
* :class:`ExitCode`: the one exit-code table of both command-line tools.

Everything else (the provers, the protocols' modules, modules whose names start with ``_``) is
importable for those who need it but carries no promise beyond its own docstrings; ``_``-modules
are internal to this package.
"""

from proofs.bundle import dump_bundle, load_bundle
from proofs.claim_bundle import ExpectedClaim, VerifiedClaim, verify_claim_answer, verify_claim_bundle
from proofs.errors import EncodingError, Error, ProvingError, VerificationError
from proofs.exit_codes import ExitCode
from proofs.inclusion import VerifiedInclusion, verify_inclusion_bundle
from proofs.key_history import HistoricalKey, VerifiedKeyHistory, key_by_id, verify_key_history
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS, LANE_SETS, STRONGEST_LANE_SET, LaneSet
from proofs.merkle import verify_consistency, verify_inclusion
from proofs.signing import key_id, load_public_key, parse_public_key
from proofs.snapshot import Header, read_snapshot_bundle, verify_header, verify_snapshot
from proofs.witness import WitnessPolicy, admit_header, cosign_header, new_witness_state, verify_cosignature

__all__ = [
    "DEFAULT_ACCEPTED_LANE_SETS",
    "LANE_SETS",
    "STRONGEST_LANE_SET",
    "EncodingError",
    "Error",
    "ExitCode",
    "ExpectedClaim",
    "Header",
    "HistoricalKey",
    "LaneSet",
    "ProvingError",
    "VerificationError",
    "VerifiedClaim",
    "VerifiedInclusion",
    "VerifiedKeyHistory",
    "WitnessPolicy",
    "admit_header",
    "cosign_header",
    "dump_bundle",
    "key_by_id",
    "key_id",
    "load_bundle",
    "load_public_key",
    "new_witness_state",
    "parse_public_key",
    "read_snapshot_bundle",
    "verify_claim_answer",
    "verify_claim_bundle",
    "verify_consistency",
    "verify_cosignature",
    "verify_header",
    "verify_inclusion",
    "verify_inclusion_bundle",
    "verify_key_history",
    "verify_snapshot",
]
