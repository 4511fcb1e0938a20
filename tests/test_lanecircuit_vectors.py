"""Frozen lane-circuit vectors and the arkworks / py_ecc differential tests.

The JSON files in ``tests/vectors/lanecircuit/`` were written once by :func:`write_vectors`
(``python -m tests.test_lanecircuit_vectors``) with deterministic *test* prover randomness. Later
code must keep verifying them and, given the same inputs and randomness, regenerate them
byte-for-byte: any change to the transcript, the generators, the circuit, the protocol or the
encoding shows up here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proofs.errors import VerificationError
from proofs.group import get_group
from proofs.lanecircuit import (
    LaneCircuitItem,
    LaneCircuitProof,
    Packing,
    batch_verify_lanes,
    inputs_per_loan,
    prove_lanes,
    verify_lanes,
)
from proofs.lanes import get_lane_set
from proofs.snapshot import circuit_packing
from tests.vectors_util import context_transcript, load_frozen_vector, seeded_rng, write_frozen_vectors

VECTOR_DIR = Path(__file__).parent / "vectors" / "lanecircuit"
PROTOCOL = "poolproof/test-vector/lanecircuit/v1"
# (principal, bucket) per loan.
VECTOR_SPECS: list[dict[str, Any]] = [
    {"name": "one-loan-8bit-full", "loans": [[200, 3]], "n_bits": 8, "rounds": None},
    {"name": "five-loans-32bit-full", "loans": [[0, 0], [1, 1], [4294967295, 2], [77, 3], [123456789, 4]],
     "n_bits": 32, "rounds": None},
    {"name": "two-loans-64bit-cut3", "loans": [[2**64 - 1, 4], [9, 0]], "n_bits": 64, "rounds": 3},
    # Packed inputs (dpd5-v3's packing: two commitments a loan).
    {"name": "packed-five-loans-32bit-cut2",
     "loans": [[0, 0], [1, 1], [4294967295, 2], [77, 3], [123456789, 4]],
     "n_bits": 32, "rounds": 2, "packing": "dpd5-v3"},
    {"name": "packed-one-loan-8bit-full", "loans": [[200, 4]], "n_bits": 8, "rounds": None,
     "packing": "dpd5-v3"},
]  # fmt: skip


def _packing(spec: dict[str, Any]) -> Packing | None:
    name = spec.get("packing")
    return None if name is None else circuit_packing(get_lane_set(name))


def _lanes(principal: int, bucket: int) -> list[int]:
    return [principal if b == bucket else 0 for b in range(5)] + [int(b == bucket) for b in range(5)]


def _generate(spec: dict[str, Any], backend: str = "arkworks") -> dict[str, Any]:
    group = get_group(backend)
    name = spec["name"]
    context = name.encode().hex()
    values = [_lanes(p, b) for p, b in spec["loans"]]
    draw = seeded_rng(b"blinding/" + name.encode())
    blindings = [[draw() for _ in range(inputs_per_loan(_packing(spec)))] for _ in values]
    proof, commitments = prove_lanes(
        group,
        values,
        blindings,
        spec["n_bits"],
        context_transcript(PROTOCOL, context),
        ipa_rounds=spec["rounds"],
        rng=seeded_rng(b"prover/" + name.encode()),
        packing=_packing(spec),
    )
    packing = {"packing": spec["packing"]} if "packing" in spec else {}
    return {
        **packing,
        "name": name,
        "protocol": PROTOCOL,
        "context": context,
        "n_bits": spec["n_bits"],
        "loans": len(values),
        "ipa_rounds": proof.ipa_rounds,
        "values": [[str(v) for v in row] for row in values],
        "blindings": [[f"{b:064x}" for b in row] for row in blindings],
        "prover_rng": f"SHAKE-256(b'prover/{name}' || u64be counter), 64 bytes mod r (seeded_rng)",
        "commitments": [[c.to_bytes().hex() for c in row] for row in commitments],
        "proof": proof.to_bytes().hex(),
    }


def write_vectors() -> None:
    """Write the frozen vectors (run once; committing new ones needs a reason in docs/decisions.md)."""
    write_frozen_vectors(VECTOR_DIR, VECTOR_SPECS, _generate)


def _load(name: str) -> dict[str, Any]:
    return load_frozen_vector(VECTOR_DIR, name)


def _decode(doc: dict[str, Any], backend: str = "arkworks") -> tuple[list[list[Any]], LaneCircuitProof]:
    group = get_group(backend)
    commitments = [
        [group.decode_point(bytes.fromhex(c), allow_identity=True) for c in row] for row in doc["commitments"]
    ]
    proof = LaneCircuitProof.from_bytes(
        group,
        bytes.fromhex(doc["proof"]),
        loans=doc["loans"],
        n_bits=doc["n_bits"],
        ipa_rounds=doc["ipa_rounds"],
    )
    return commitments, proof


@pytest.mark.parametrize("spec", VECTOR_SPECS, ids=lambda s: s["name"])
def test_frozen_vector_still_verifies(spec: dict[str, Any]) -> None:
    doc = _load(spec["name"])
    commitments, proof = _decode(doc)
    verify_lanes(
        get_group(),
        commitments,
        doc["n_bits"],
        proof,
        context_transcript(doc["protocol"], doc["context"]),
        packing=_packing(spec),
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
            LaneCircuitItem(
                commitments,
                doc["n_bits"],
                proof,
                context_transcript(doc["protocol"], doc["context"]),
                _packing(spec),
            )
        )
    batch_verify_lanes(group, items)
    first = items[0]
    wrong = LaneCircuitItem(
        first.commitments, first.n_bits, first.proof, context_transcript(PROTOCOL, "00"), first.packing
    )
    with pytest.raises(VerificationError, match=r"lanecircuit\.batch"):
        batch_verify_lanes(group, [*items[1:], wrong])


# ---------------------------------------------------------------------------------------------
# Differential: arkworks and py_ecc (kept to one 8-bit loan: py_ecc is ~40x slower)
# ---------------------------------------------------------------------------------------------


def test_pyecc_backend_produces_byte_identical_proof() -> None:
    spec = VECTOR_SPECS[0]
    assert _generate(spec, "pyecc") == _generate(spec, "arkworks") == _load(spec["name"])


def test_proof_made_on_arkworks_verifies_on_pyecc_and_tampering_fails_there() -> None:
    doc = _load("one-loan-8bit-full")
    pyecc = get_group("pyecc")
    commitments, proof = _decode(doc, "pyecc")
    verify_lanes(pyecc, commitments, 8, proof, context_transcript(doc["protocol"], doc["context"]))
    with pytest.raises(VerificationError, match=r"lanecircuit\.equation"):
        verify_lanes(pyecc, commitments, 8, proof, context_transcript(doc["protocol"], "ab"))


if __name__ == "__main__":
    write_vectors()
