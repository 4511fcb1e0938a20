"""The roll matrix of docs/metrics.md ("Roll rates"), computed with pandas from two months' loan rows.

Independent of the gateway and of ``proofs``: each input is one row per loan with ``exposure_id``,
``state`` (a state name of :data:`tests.reference.abs_metrics.STATES`) and ``balance`` (outstanding
principal, minor units), as of month t−1 and month t.
"""

from __future__ import annotations

import pandas as pd

from tests.reference.abs_metrics import OUTSTANDING, STATES


def roll_matrix(prev: pd.DataFrame, cur: pd.DataFrame) -> tuple[list[list[int]], list[list[int]]]:
    """``(counts, balances)``: ``counts[i][j]`` loans in both months in state ``i`` at t−1 and ``j``
    at t; ``balances[i][j]`` the sum of their t−1 balances (``i`` over the outstanding states)."""
    both = prev.merge(cur, on="exposure_id", suffixes=("_prev", "_cur"), how="inner")
    counts = both.groupby(["state_prev", "state_cur"]).size()
    sums = both.groupby(["state_prev", "state_cur"])["balance_prev"].sum()
    count_rows = [[int(counts.get((a, b), 0)) for b in STATES] for a in STATES]
    balance_rows = [[int(sums.get((a, b), 0)) for b in STATES] for a in OUTSTANDING]
    return count_rows, balance_rows


def roll_rate(prev: pd.DataFrame, cur: pd.DataFrame, from_state: str, to_state: str) -> tuple[int, int]:
    """The count roll rate ``from_state → to_state`` as ``(cell, from-state row total over kept loans)``."""
    counts, _ = roll_matrix(prev, cur)
    row = counts[STATES.index(from_state)]
    return row[STATES.index(to_state)], sum(row)


def exits(prev: pd.DataFrame, cur: pd.DataFrame) -> pd.DataFrame:
    """The loans of t−1 absent from t."""
    return prev[~prev["exposure_id"].isin(cur["exposure_id"])]
