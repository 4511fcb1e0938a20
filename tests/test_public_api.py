"""``proofs``' public API: what ``__all__`` promises is there, documented, typed, and enough to audit."""

from __future__ import annotations

import configparser
import inspect
import io
from pathlib import Path

import pytest

import proofs
from proofs import snapshot
from tests.snapshot_util import make_loans, seal_in_memory

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", proofs.__all__)
def test_every_exported_name_exists_and_is_documented(name: str) -> None:
    value = getattr(proofs, name)
    if inspect.isfunction(value) or inspect.isclass(value):
        assert inspect.getdoc(value), f"proofs.{name} has no docstring"
        assert value.__module__.startswith("proofs."), value.__module__


def test_the_export_list_has_no_duplicates_and_names_the_auditors_entry_points() -> None:
    assert len(set(proofs.__all__)) == len(proofs.__all__)
    for name in (
        "verify_snapshot",
        "verify_header",
        "verify_claim_answer",
        "verify_inclusion_bundle",
        "verify_key_history",
        "verify_cosignature",
        "VerificationError",
        "EncodingError",
        "Error",
        "load_bundle",
        "WitnessPolicy",
    ):
        assert name in proofs.__all__, name


def test_every_error_of_the_package_derives_from_the_one_root() -> None:
    for name in ("EncodingError", "VerificationError", "ProvingError"):
        assert issubclass(getattr(proofs, name), proofs.Error)


#: The public names of ``proofs.snapshot`` before it became a package: callers import them from there.
SNAPSHOT_NAMES = (
    "AGGREGATE_KEY",
    "CHUNK_KEY_DOMAIN",
    "ChunkResult",
    "ChunkTask",
    "HEADER_HASH_DOMAIN",
    "HEADER_KIND",
    "HEADER_VERSION",
    "Header",
    "LEAF_VERSION",
    "LoanInput",
    "NONCE_DOMAIN",
    "ProgressCallback",
    "ProofPart",
    "RANGE_PROTOCOL",
    "SNAPSHOT_KIND",
    "SNAPSHOT_VERSION",
    "SealParams",
    "SnapshotContext",
    "UNPACKING_PROTOCOL",
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
    "expected_parts",
    "header_hash",
    "leaf_bytes",
    "loan_blindings",
    "part_entries",
    "pieces",
    "prover_nonces",
    "read_snapshot_bundle",
    "seal_chunk",
    "verify_header",
    "verify_snapshot",
    "write_snapshot_bundle",
)


def test_snapshot_package_keeps_every_public_name_callers_import() -> None:
    assert set(SNAPSHOT_NAMES) <= set(snapshot.__all__)
    for name in snapshot.__all__:
        assert hasattr(snapshot, name), name


def test_package_is_marked_typed_and_ships_the_marker() -> None:
    assert (ROOT / "proofs" / "py.typed").is_file()
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert "py.typed" in cfg["options.package_data"]["proofs"]


def test_an_auditor_verifies_a_snapshot_with_the_top_level_names_only() -> None:
    sealed = seal_in_memory(make_loans(20), chunk_log2=3)
    header = proofs.verify_snapshot(io.StringIO(sealed.bundle_text), sealed.key.public_key())
    assert isinstance(header, proofs.Header)
    assert header.leaf_count == 20
    tampered = sealed.bundle_text.replace('"leaf_count":20', '"leaf_count":21')
    with pytest.raises(proofs.VerificationError, match=r"header\.signature"):
        proofs.verify_snapshot(io.StringIO(tampered), sealed.key.public_key())
