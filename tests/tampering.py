"""Every single-element tampering of an inner-product-based proof, for the tests that expect rejection."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

from proofs.generators import pedersen_bases
from proofs.group import ORDER, Group

P = TypeVar("P")


def tampered_proofs(
    group: Group, proof: P, points: Sequence[str], scalars: Sequence[str] = ("tau_x", "mu", "t_hat")
) -> list[tuple[str, P]]:
    """``(element name, proof with that one element changed)`` for every element of ``proof``.

    Each named point field gains ``G``, each named scalar field gains one (mod r), and so does each
    entry of the inner-product argument's ``L``, ``R`` (points) and ``a``, ``b`` (scalars) vectors.
    """
    g, _ = pedersen_bases(group)
    out: list[tuple[str, P]] = []

    def changed(name: str, value: Any) -> P:
        return dataclasses.replace(proof, **{name: value})  # type: ignore[type-var]

    for name in points:
        out.append((name, changed(name, getattr(proof, name) + g)))
    for name in scalars:
        out.append((name, changed(name, (getattr(proof, name) + 1) % ORDER)))
    for name, bump in (("L", g), ("R", g), ("a", 1), ("b", 1)):
        vec = getattr(proof, name)
        for i in range(len(vec)):
            entries = list(vec)
            entries[i] = entries[i] + bump if name in ("L", "R") else (entries[i] + bump) % ORDER
            out.append((f"{name}[{i}]", changed(name, tuple(entries))))
    return out
