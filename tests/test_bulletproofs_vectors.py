"""Frozen range-proof vectors and the arkworks / py_ecc differential tests.

The JSON files in ``tests/vectors/bulletproofs/`` were written once by :func:`write_vectors`
(``python -m tests.test_bulletproofs_vectors``) with deterministic *test* prover randomness. Later
code must keep verifying them and, given the same inputs and randomness, regenerate them
byte-for-byte: any change to the transcript, the generators, the protocol or the encoding shows up
here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proofs.bulletproofs import RangeProof, RangeProofItem, batch_verify, prove_range, verify_range
from proofs.errors import VerificationError
from proofs.group import get_group
from tests.vectors_util import context_transcript, load_frozen_vector, seeded_rng, write_frozen_vectors

VECTOR_DIR = Path(__file__).parent / "vectors" / "bulletproofs"
VECTOR_SPECS: list[dict[str, Any]] = [
    {"name": "single-8bit-full", "values": [200], "n_bits": 8, "rounds": None},
    {"name": "agg2-16bit-full", "values": [0, 65535], "n_bits": 16, "rounds": None},
    {"name": "agg4-32bit-cut2", "values": [1, 123456789, 4294967295, 77], "n_bits": 32, "rounds": 2},
    {"name": "single-64bit-cut0", "values": [2**64 - 1], "n_bits": 64, "rounds": 0},
]
PROTOCOL = "poolproof/test-vector/rangeproof/v1"


def _blindings(name: str, m: int) -> list[int]:
    draw = seeded_rng(b"blinding/" + name.encode())
    return [draw() for _ in range(m)]


def _generate(spec: dict[str, Any], backend: str = "arkworks") -> dict[str, Any]:
    group = get_group(backend)
    name = spec["name"]
    context = name.encode().hex()
    blindings = _blindings(name, len(spec["values"]))
    proof, commitments = prove_range(
        group,
        spec["values"],
        blindings,
        spec["n_bits"],
        context_transcript(PROTOCOL, context),
        ipa_rounds=spec["rounds"],
        rng=seeded_rng(b"prover/" + name.encode()),
    )
    return {
        "name": name,
        "protocol": PROTOCOL,
        "context": context,
        "n_bits": spec["n_bits"],
        "m": len(spec["values"]),
        "ipa_rounds": proof.ipa_rounds,
        "values": [str(v) for v in spec["values"]],
        "blindings": [f"{b:064x}" for b in blindings],
        "prover_rng": f"SHAKE-256(b'prover/{name}' || u64be counter), 64 bytes mod r (seeded_rng)",
        "commitments": [c.to_bytes().hex() for c in commitments],
        "proof": proof.to_bytes().hex(),
    }


def write_vectors() -> None:
    """Write the frozen vectors (run once; committing new ones needs a reason in docs/decisions.md)."""
    write_frozen_vectors(VECTOR_DIR, VECTOR_SPECS, _generate)


def _load(name: str) -> dict[str, Any]:
    return load_frozen_vector(VECTOR_DIR, name)


def _decode(doc: dict[str, Any], backend: str = "arkworks") -> tuple[list[Any], RangeProof]:
    group = get_group(backend)
    commitments = [group.decode_point(bytes.fromhex(c), allow_identity=True) for c in doc["commitments"]]
    proof = RangeProof.from_bytes(
        group, bytes.fromhex(doc["proof"]), m=doc["m"], n_bits=doc["n_bits"], ipa_rounds=doc["ipa_rounds"]
    )
    return commitments, proof


@pytest.mark.parametrize("spec", VECTOR_SPECS, ids=lambda s: s["name"])
def test_frozen_vector_still_verifies(spec: dict[str, Any]) -> None:
    doc = _load(spec["name"])
    commitments, proof = _decode(doc)
    verify_range(
        get_group(), commitments, doc["n_bits"], proof, context_transcript(doc["protocol"], doc["context"])
    )


@pytest.mark.parametrize("spec", VECTOR_SPECS, ids=lambda s: s["name"])
def test_frozen_vector_regenerates_byte_identically(spec: dict[str, Any]) -> None:
    assert _generate(spec) == _load(spec["name"])


def test_frozen_vectors_batch_verify_and_reject_under_wrong_context() -> None:
    group = get_group()
    items = []
    for spec in VECTOR_SPECS:
        doc = _load(spec["name"])
        commitments, proof = _decode(doc)
        items.append(
            RangeProofItem(
                commitments, doc["n_bits"], proof, context_transcript(doc["protocol"], doc["context"])
            )
        )
    batch_verify(group, items)
    wrong = [
        RangeProofItem(i.commitments, i.n_bits, i.proof, context_transcript(PROTOCOL, "00"))
        for i in items[:1]
    ]
    with pytest.raises(VerificationError):
        batch_verify(group, items[1:] + wrong)


# ---------------------------------------------------------------------------------------------
# Differential: arkworks and py_ecc (kept tiny: py_ecc is ~40x slower)
# ---------------------------------------------------------------------------------------------


def test_pyecc_backend_produces_byte_identical_proof() -> None:
    spec = VECTOR_SPECS[0]
    assert _generate(spec, "pyecc") == _generate(spec, "arkworks") == _load(spec["name"])


def test_cut_proof_is_byte_identical_across_backends() -> None:
    spec = {"name": "differential-agg2-8bit-cut1", "values": [3, 250], "n_bits": 8, "rounds": 1}
    assert _generate(spec, "pyecc") == _generate(spec, "arkworks")


def test_proof_made_on_arkworks_verifies_on_pyecc() -> None:
    doc = _load("single-8bit-full")
    commitments, proof = _decode(doc, "pyecc")
    verify_range(
        get_group("pyecc"), commitments, 8, proof, context_transcript(doc["protocol"], doc["context"])
    )


def test_proof_made_on_pyecc_verifies_on_arkworks_and_tampering_fails_on_pyecc() -> None:
    pyecc = get_group("pyecc")
    proof, commitments = prove_range(pyecc, [9], [5], 8, context_transcript(PROTOCOL, "aa"))
    ark = get_group("arkworks")
    decoded = RangeProof.from_bytes(ark, proof.to_bytes(), m=1, n_bits=8)
    verify_range(ark, commitments, 8, decoded, context_transcript(PROTOCOL, "aa"))
    with pytest.raises(VerificationError, match=r"rangeproof\.equation"):
        verify_range(pyecc, commitments, 8, proof, context_transcript(PROTOCOL, "ab"))


if __name__ == "__main__":
    write_vectors()
