"""The link circuit alone: a property test over random transitions (the opened row sums are the roll
matrix), and a prover whose witness is not the leaves' openings."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs import linkcircuit as lc
from proofs.errors import VerificationError
from proofs.group import ORDER, Point, get_group
from proofs.pedersen import commit
from proofs.transcript import Transcript

WIDTH = 45  # balance slot bits of a 20-bit balance cap
OUT = 6


def _balance_inputs(state: int, balance: int) -> tuple[int, int]:
    lanes = [balance if s == state else 0 for s in range(OUT)]
    return (
        sum(lanes[m] << (WIDTH * m) for m in range(3)),
        sum(lanes[3 + m] << (WIDTH * m) for m in range(3)),
    )


def _loans(rows: list[tuple[int, int, int]], seed: int) -> tuple[list[lc.KeptLoan], list[list[Point]]]:
    g = get_group()
    rng = random.Random(seed)
    loans, inputs = [], []
    for prev, cur, balance in rows:
        bal = balance if prev < OUT else 0
        blind = tuple(rng.randrange(1, ORDER) for _ in range(4))
        loan = lc.KeptLoan(prev, cur, _balance_inputs(prev, bal), blind)  # type: ignore[arg-type]
        loans.append(loan)
        inputs.append([commit(g, v, b) for v, b in zip(loan.input_values(), blind, strict=True)])
    return loans, inputs


PARAMS = lc.LinkParams("pool-v4:test", WIDTH)


@settings(max_examples=8, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, (1 << 20) - 1)), min_size=1, max_size=6
    ),
    seed=st.integers(0, 1 << 30),
)
def test_opened_rows_are_the_roll_matrix(rows: list[tuple[int, int, int]], seed: int) -> None:
    g = get_group()
    loans, inputs = _loans(rows, seed)
    proof, row_points, values, blindings = lc.prove_link_piece(g, PARAMS, loans, inputs, Transcript(b"p"))
    lc.verify_link_piece(g, lc.LinkPieceItem(PARAMS, inputs, row_points, proof, Transcript(b"p")))
    for point, v, b in zip(row_points, values, blindings, strict=True):
        assert commit(g, v, b) == point
    counts = [[0] * 10 for _ in range(10)]
    balances = [[0] * 10 for _ in range(OUT)]
    for prev, cur, balance in rows:
        counts[prev][cur] += 1
        if prev < OUT:
            balances[prev][cur] += balance
    for i in range(10):
        assert values[lc.count_row(i)] == sum(counts[i][j] << (25 * j) for j in range(10))
    for j in range(10):
        for k in range(2):
            packed = sum(balances[3 * k + m][j] << (WIDTH * m) for m in range(3))
            assert values[lc.balance_row(j, k)] == packed


def test_a_witness_other_than_the_openings_is_rejected() -> None:
    g = get_group()
    loans, inputs = _loans([(0, 1, 500), (2, 2, 7), (6, 6, 0)], 3)
    for i, change in enumerate(
        [
            lambda k: lc.KeptLoan(k.prev_state, (k.cur_state + 1) % 10, k.prev_balance_inputs, k.blindings),
            lambda k: lc.KeptLoan(k.prev_state, k.cur_state, (k.prev_balance_inputs[0] + 1, 0), k.blindings),
            lambda k: lc.KeptLoan(k.prev_state, k.cur_state, k.prev_balance_inputs, (1, *k.blindings[1:])),
        ]
    ):
        bad = list(loans)
        bad[i % 2] = change(loans[i % 2])
        proof, rows, _, _ = lc.prove_link_piece(g, PARAMS, bad, inputs, Transcript(b"p"))
        with pytest.raises(VerificationError) as exc:
            lc.verify_link_piece(g, lc.LinkPieceItem(PARAMS, inputs, rows, proof, Transcript(b"p")))
        assert exc.value.check == "linkcircuit.equation"


def test_a_proof_is_bound_to_its_transcript_and_params() -> None:
    g = get_group()
    loans, inputs = _loans([(0, 0, 10), (1, 0, 20)], 9)
    proof, rows, _, _ = lc.prove_link_piece(g, PARAMS, loans, inputs, Transcript(b"p"))
    for params, transcript in (
        (PARAMS, Transcript(b"q")),
        (lc.LinkParams("pool-v4:other", WIDTH), Transcript(b"p")),
    ):
        with pytest.raises(VerificationError):
            lc.verify_link_piece(g, lc.LinkPieceItem(params, inputs, rows, proof, transcript))
    swapped = [inputs[1], inputs[0]]
    with pytest.raises(VerificationError):
        lc.verify_link_piece(g, lc.LinkPieceItem(PARAMS, swapped, rows, proof, Transcript(b"p")))


def test_gate_budget_is_within_a_quarter_of_the_gateway_seal() -> None:
    from proofs.lanes import pool_v4

    cap = 20_000_000  # the gateway's statement: every amount capped at the per-loan cap
    seal = pool_v4(cap, (cap,) * 7).circuit
    assert seal is not None
    assert seal.gates_per_loan == 215
    assert lc.GATES_PER_LOAN == 48
    assert seal.gates_per_loan >= 4 * lc.GATES_PER_LOAN
