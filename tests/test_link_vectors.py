"""Frozen vectors of the linkable pool circuit (``pool-v4``) and of the link circuit.

The JSON files in ``tests/vectors/link/`` were written once by :func:`write_vectors`
(``python -m tests.test_link_vectors``) with deterministic *test* prover randomness. Later code must
keep verifying them and regenerate them byte-for-byte from the same inputs: any change to either
transcript, the packing, the circuits or the encoding shows here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proofs import linkcircuit as lc
from proofs import poolcircuit as pc
from proofs.group import get_group
from proofs.loan_facts import LoanFacts, state_index
from proofs.pedersen import commit
from tests.vectors_util import context_transcript, load_frozen_vector, seeded_rng, write_frozen_vectors

VECTOR_DIR = Path(__file__).parent / "vectors" / "link"
PROTOCOL = "poolproof/test-vector/link/v1"
POOL_SPEC: dict[str, Any] = {
    "name": "v4-three-loans-r2",
    "bounds": [20000000, [20000000] * 7],
    "loans": [
        ["M0", 20000000, [1, 2, 3, 4, 5, 6, 7]],
        ["DEFAULTED", 123456, [0, 0, 0, 0, 123456, 0, 0]],
        ["PREPAID", 0, [0, 999, 0, 0, 0, 0, 0]],
    ],
    "rounds": 2,
}
LINK_SPEC: dict[str, Any] = {
    "name": "link-four-loans-full",
    "balance_slot_bits": 50,
    # (t−1 state, t state, t−1 balance)
    "loans": [
        ["M0", "M1", 20000000],
        ["M1", "M0", 5],
        ["DEFAULTED", "WRITTEN_OFF", 777],
        ["PREPAID", "PREPAID", 0],
    ],
    "rounds": None,
}


def _generate_pool(spec: dict[str, Any], backend: str = "arkworks") -> dict[str, Any]:
    group = get_group(backend)
    params = pc.linkable_circuit(*spec["bounds"])
    name = spec["name"]
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
        context_transcript(PROTOCOL, name.encode().hex()),
        ipa_rounds=spec["rounds"],
        rng=seeded_rng(b"prover/" + name.encode()),
    )
    return {
        "name": name,
        "protocol": PROTOCOL,
        "context": name.encode().hex(),
        "params": params.encode().decode(),
        "layout": params.layout().decode(),
        "commitments": [[c.to_bytes().hex() for c in row] for row in commitments],
        "proof": proof.to_bytes().hex(),
    }


def _link_loans(spec: dict[str, Any], group: Any) -> tuple[list[lc.KeptLoan], list[list[Any]]]:
    width = spec["balance_slot_bits"]
    draw = seeded_rng(b"blinding/" + spec["name"].encode())
    loans, inputs = [], []
    for prev, cur, balance in spec["loans"]:
        i = state_index(prev)
        lanes = [balance if s == i else 0 for s in range(6)]
        p0 = sum(lanes[m] << (width * m) for m in range(3))
        p1 = sum(lanes[3 + m] << (width * m) for m in range(3))
        blind = (draw(), draw(), draw(), draw())
        loan = lc.KeptLoan(i, state_index(cur), (p0, p1), blind)
        loans.append(loan)
        inputs.append([commit(group, v, b) for v, b in zip(loan.input_values(), blind, strict=True)])
    return loans, inputs


def _generate_link(spec: dict[str, Any], backend: str = "arkworks") -> dict[str, Any]:
    group = get_group(backend)
    name = spec["name"]
    params = lc.LinkParams("pool-v4:c20000000:f" + ",".join(["20000000"] * 7), spec["balance_slot_bits"])
    loans, inputs = _link_loans(spec, group)
    proof, rows, values, _blindings = lc.prove_link_piece(
        group,
        params,
        loans,
        inputs,
        context_transcript(PROTOCOL, name.encode().hex()),
        ipa_rounds=spec["rounds"],
        rng=seeded_rng(b"prover/" + name.encode()),
    )
    return {
        "name": name,
        "protocol": PROTOCOL,
        "context": name.encode().hex(),
        "params": params.encode().decode(),
        "inputs": [[c.to_bytes().hex() for c in row] for row in inputs],
        "rows": [r.to_bytes().hex() for r in rows],
        "row_values": [str(v) for v in values],
        "proof": proof.to_bytes().hex(),
    }


def write_vectors() -> None:
    """Write the frozen vectors (run once; committing new ones needs a reason in docs/decisions.md)."""
    write_frozen_vectors(VECTOR_DIR, [POOL_SPEC], _generate_pool)
    write_frozen_vectors(VECTOR_DIR, [LINK_SPEC], _generate_link)


def test_pool_v4_vector_verifies_and_regenerates() -> None:
    doc = load_frozen_vector(VECTOR_DIR, POOL_SPEC["name"])
    group = get_group()
    params = pc.linkable_circuit(*POOL_SPEC["bounds"])
    commitments = [[group.decode_point(bytes.fromhex(c)) for c in row] for row in doc["commitments"]]
    proof = pc.decode_proof(group, bytes.fromhex(doc["proof"]), params, len(commitments), POOL_SPEC["rounds"])
    pc.verify_pool(group, params, commitments, proof, context_transcript(doc["protocol"], doc["context"]))
    assert _generate_pool(POOL_SPEC) == doc


def test_link_vector_verifies_and_regenerates() -> None:
    doc = load_frozen_vector(VECTOR_DIR, LINK_SPEC["name"])
    group = get_group()
    params = lc.LinkParams("pool-v4:c20000000:f" + ",".join(["20000000"] * 7), LINK_SPEC["balance_slot_bits"])
    inputs = [[group.decode_point(bytes.fromhex(c)) for c in row] for row in doc["inputs"]]
    rows = [group.decode_point(bytes.fromhex(r), allow_identity=True) for r in doc["rows"]]
    proof = lc.decode_proof(group, bytes.fromhex(doc["proof"]), len(inputs))
    lc.verify_link_piece(
        group,
        lc.LinkPieceItem(params, inputs, rows, proof, context_transcript(doc["protocol"], doc["context"])),
    )
    assert _generate_link(LINK_SPEC) == doc


@pytest.mark.slow
def test_link_vector_is_byte_identical_on_pyecc() -> None:
    assert _generate_link(LINK_SPEC, "pyecc") == load_frozen_vector(VECTOR_DIR, LINK_SPEC["name"])


if __name__ == "__main__":
    write_vectors()
