"""What a circuit's wires break: the multiplication gates and linear constraints of one loan (mod r)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from proofs._circuit import Constraint
from proofs.group import ORDER


def broken(
    rows: Iterable[Constraint], wires: tuple[list[int], list[int], list[int]], inputs: Sequence[int]
) -> int:
    """How many gates ``a_L·a_R = a_O`` and constraint ``rows`` the wires and committed ``inputs`` break."""
    a_l, a_r, a_o = ([v % ORDER for v in w] for w in wires)
    bad = sum((x * y - o) % ORDER != 0 for x, y, o in zip(a_l, a_r, a_o, strict=True))
    for row in rows:
        lhs = sum(c * a_l[g] for g, c in row.left) + sum(c * a_r[g] for g, c in row.right)
        lhs += sum(c * a_o[g] for g, c in row.out)
        rhs = sum(c * inputs[i] for i, c in row.inputs) + row.const
        bad += (lhs - rhs) % ORDER != 0
    return bad
