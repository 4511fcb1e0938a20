"""Absence proofs of a vintage cell (property tests): every cell a table lacks can be proven absent,
no cell it has can be, and no other pair of rows passes for the neighbours."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.errors import VerificationError
from proofs.generators import pedersen_bases
from proofs.group import get_group
from proofs.strata import Row, Table
from proofs.vintage import absence_evidence, verify_absence

DIMS = ("region", "vintage")
N_INPUTS = 1
QUARTERS = [f"{y}-Q{q}" for y in range(2019, 2026) for q in range(1, 5)]


def _table(regions: set[str], cohorts: set[str]) -> Table:
    g, _ = pedersen_bases(get_group())
    rows = [Row("region", c, 1 + i, (g * (i + 1),)) for i, c in enumerate(sorted(regions))]
    rows += [Row("vintage", c, 1 + i, (g * (i + 7),)) for i, c in enumerate(sorted(cohorts, key=str.encode))]
    return Table(DIMS, tuple(rows))


def _neighbour(table: Table, j: int) -> dict[str, Any]:
    return {"row": table.rows[j].to_dict(), "index": j, "path": [h.hex() for h in table.audit_path(j)]}


tables = st.tuples(
    st.sets(st.sampled_from(["11", "31", "44", "65"]), min_size=1, max_size=4),
    st.sets(st.sampled_from(QUARTERS), min_size=0, max_size=8),
)


@settings(max_examples=30, deadline=None)
@given(tables, st.sampled_from(QUARTERS))
def test_an_absent_cell_is_proven_absent_and_a_present_one_is_not(
    cells: tuple[set[str], set[str]], cohort: str
) -> None:
    regions, cohorts = cells
    table = _table(regions, cohorts)
    field = table.header_field()
    group = get_group()
    if cohort not in cohorts:
        verify_absence(group, field, N_INPUTS, cohort, absence_evidence(table, cohort), "cell")
        return
    with pytest.raises(ValueError, match="has cell"):
        absence_evidence(table, cohort)
    # every pair of real rows (adjacent or not, either end left open) fails for a present cell
    i, _ = table.row("vintage", cohort)
    n = len(table.rows)
    for lo in range(-1, n):
        for hi in (lo + 1, lo + 2):
            if hi > n:
                continue
            doc = {
                "absent": {
                    "lower": None if lo < 0 else _neighbour(table, lo),
                    "upper": None if hi >= n else _neighbour(table, hi),
                }
            }
            with pytest.raises(VerificationError) as err:
                verify_absence(group, field, N_INPUTS, cohort, doc, "cell")
            assert err.value.check == "vintage.absence", (lo, hi, i)


@settings(max_examples=20, deadline=None)
@given(tables, st.sampled_from(QUARTERS), st.integers(0, 3))
def test_an_absence_proof_with_a_moved_or_foreign_row_is_rejected(
    cells: tuple[set[str], set[str]], cohort: str, which: int
) -> None:
    regions, cohorts = cells
    cohorts.discard(cohort)
    table = _table(regions, cohorts)
    field = table.header_field()
    group = get_group()
    doc = absence_evidence(table, cohort)
    sides = [s for s in ("lower", "upper") if doc["absent"][s] is not None]
    side = sides[which % len(sides)]
    nb = doc["absent"][side]
    if which < 2:  # a wrong index for the same row: its audit path no longer leads to the root
        nb["index"] = nb["index"] + 1 if nb["index"] + 1 < len(table.rows) else nb["index"] - 1
        if nb["index"] < 0:
            return
        check = "strata.row"
    else:  # a row of another table (same labels, another count)
        other = Table(DIMS, tuple(Row(r.dimension, r.cell, r.count + 1, r.sums) for r in table.rows))
        nb["row"] = other.rows[nb["index"]].to_dict()
        check = "strata.row"
    with pytest.raises(VerificationError) as err:
        verify_absence(group, field, N_INPUTS, cohort, doc, "cell")
    assert err.value.check == check
