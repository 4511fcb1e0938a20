"""Frozen pool-circuit vectors and the arkworks / py_ecc differential tests.

The JSON files in ``tests/vectors/poolcircuit/`` were written once by :func:`write_vectors`
(``python -m tests.test_poolcircuit_vectors``) with deterministic *test* prover randomness. Later
code must keep verifying them and regenerate them byte-for-byte from the same inputs: any change
to the transcript, the generators, the circuit, the packing, the protocol or the encoding shows here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proofs import poolcircuit as pc
from proofs.errors import VerificationError
from proofs.group import get_group
from proofs.lanecircuit import LaneCircuitProof
from proofs.loan_facts import LoanFacts, state_index
from tests.vectors_util import context_transcript, load_frozen_vector, seeded_rng, write_frozen_vectors

VECTOR_DIR = Path(__file__).parent / "vectors" / "poolcircuit"
PROTOCOL = "poolproof/test-vector/poolcircuit/v1"
# Loans as (state, balance, flows); circuits as (balance bits, flow bits, cap).
VECTOR_SPECS: list[dict[str, Any]] = [
    {"name": "one-loan-narrow-full", "circuit": [4, [2, 2, 1, 1, 2, 2, 2], None],
     "loans": [["M1", 9, [3, 0, 1, 1, 0, 2, 0]]], "rounds": None},
    {"name": "every-state-capped-full", "circuit": [23, [23, 23, 19, 16, 23, 23, 23], 5000000],
     "loans": [[s, 0 if s in ("WRITTEN_OFF", "PREPAID", "MATURED", "REPURCHASED") else 5000000 - 7 * i,
                [i, 2 * i, 3 * i, i, 0, 5 * i, 7 * i]]
               for i, s in enumerate(["M0", "M1", "M2", "M3", "M3+", "DEFAULTED", "WRITTEN_OFF",
                                      "PREPAID", "MATURED", "REPURCHASED"])],
     "rounds": None},
    # The exact-bounds statement (pool-v3): circuits as (balance cap, flow caps).
    {"name": "v3-one-loan-narrow-full", "bounds": [12, [3, 2, 1, 1, 3, 2, 2]],
     "loans": [["M2", 11, [3, 0, 1, 1, 2, 2, 0]]], "rounds": None},
    {"name": "v3-every-state-capped-r2", "bounds": [5000000, [5000000, 5000000, 300000, 40000,
                                                             5000000, 5000000, 5000000]],
     "loans": [[s, 0 if s in ("WRITTEN_OFF", "PREPAID", "MATURED", "REPURCHASED") else 5000000 - 7 * i,
                [i, 2 * i, 300000 - i, 40000 - 3 * i, 0, 5 * i, 4999999 + (i % 2)]]
               for i, s in enumerate(["M0", "M1", "M2", "M3", "M3+", "DEFAULTED", "WRITTEN_OFF",
                                      "PREPAID", "MATURED", "REPURCHASED"])],
     "rounds": 2},
    {"name": "v3-two-loans-compact-r0", "bounds": [20000000, [20000000] * 7],
     "loans": [["DEFAULTED", 20000000, [0, 1, 2, 3, 4, 5, 20000000]], ["MATURED", 0, [7, 0, 0, 0, 0, 0, 0]]],
     "rounds": 0},
]  # fmt: skip
V3_NARROW = VECTOR_SPECS[2]


def _circuit(spec: dict[str, Any]) -> pc.PoolCircuit:
    if "bounds" in spec:
        balance_cap, flow_caps = spec["bounds"]
        return pc.bounded_circuit(balance_cap, flow_caps)
    bits, flow_bits, cap = spec["circuit"]
    return pc.circuit(bits, flow_bits, cap)


def _generate(spec: dict[str, Any], backend: str = "arkworks") -> dict[str, Any]:
    group = get_group(backend)
    params = _circuit(spec)
    name = spec["name"]
    context = name.encode().hex()
    values = [
        list(params.lane_values(LoanFacts("e", state_index(s), b, tuple(f)))) for s, b, f in spec["loans"]
    ]
    draw = seeded_rng(b"blinding/" + name.encode())
    blindings = [[draw() for _ in range(params.inputs)] for _ in values]
    proof, commitments = pc.prove_pool(
        group,
        params,
        values,
        blindings,
        context_transcript(PROTOCOL, context),
        ipa_rounds=spec["rounds"],
        rng=seeded_rng(b"prover/" + name.encode()),
    )
    return {
        "name": name,
        "protocol": PROTOCOL,
        "context": context,
        "params": params.encode().decode(),
        "layout": params.layout().decode(),
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


def _decode(spec: dict[str, Any], backend: str = "arkworks") -> tuple[list[list[Any]], LaneCircuitProof]:
    doc = _load(spec["name"])
    group = get_group(backend)
    commitments = [
        [group.decode_point(bytes.fromhex(c), allow_identity=True) for c in row] for row in doc["commitments"]
    ]
    proof = pc.decode_proof(
        group, bytes.fromhex(doc["proof"]), _circuit(spec), doc["loans"], doc["ipa_rounds"]
    )
    return commitments, proof


@pytest.mark.parametrize("spec", VECTOR_SPECS, ids=lambda s: s["name"])
def test_frozen_vector_still_verifies(spec: dict[str, Any]) -> None:
    doc = _load(spec["name"])
    commitments, proof = _decode(spec)
    pc.verify_pool(
        get_group(), _circuit(spec), commitments, proof, context_transcript(doc["protocol"], doc["context"])
    )


@pytest.mark.parametrize("spec", VECTOR_SPECS, ids=lambda s: s["name"])
def test_frozen_vector_regenerates_byte_identically(spec: dict[str, Any]) -> None:
    assert _generate(spec) == _load(spec["name"])


@pytest.mark.parametrize("spec", [VECTOR_SPECS[0], V3_NARROW], ids=lambda s: s["name"])
def test_pyecc_backend_produces_byte_identical_proof(spec: dict[str, Any]) -> None:
    assert _generate(spec, "pyecc") == _load(spec["name"])


@pytest.mark.parametrize("spec", [VECTOR_SPECS[0], V3_NARROW], ids=lambda s: s["name"])
def test_proof_made_on_arkworks_verifies_on_pyecc_and_tampering_fails_there(spec: dict[str, Any]) -> None:
    doc = _load(spec["name"])
    pyecc = get_group("pyecc")
    commitments, proof = _decode(spec, "pyecc")
    pc.verify_pool(
        pyecc, _circuit(spec), commitments, proof, context_transcript(doc["protocol"], doc["context"])
    )
    with pytest.raises(VerificationError, match=r"poolcircuit\.equation"):
        pc.verify_pool(pyecc, _circuit(spec), commitments, proof, context_transcript(doc["protocol"], "ab"))


def test_exact_bounds_vectors_do_not_verify_as_pool_v2_of_the_same_widths() -> None:
    for spec in VECTOR_SPECS[2:]:
        doc = _load(spec["name"])
        assert doc["params"].endswith(";bounds=exact")
        commitments, proof = _decode(spec)
        exact = _circuit(spec)
        v2 = pc.circuit(exact.balance_bits, exact.flow_bits, exact.balance_cap)
        with pytest.raises(VerificationError):
            pc.verify_pool(
                get_group(), v2, commitments, proof, context_transcript(doc["protocol"], doc["context"])
            )


if __name__ == "__main__":
    write_vectors()
