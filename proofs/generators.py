"""Nothing-up-my-sleeve generators for every PoolProof protocol.

Every generator is ``hash_to_curve(msg, DST)`` (RFC 9380 §3, suite ``BLS12381G1_XMD:SHA-256_SSWU_RO_``,
§8.8.1) with the PoolProof domain-separation tag :data:`GENERATOR_DST` and a message
``b"<label>/<index>"``. No generator is a known multiple of another: their discrete logs relative
to each other are unknown to everybody, which is what makes Pedersen commitments binding.

Labels in use:

* ``pedersen/G`` index 0 — the value base ``G`` of ``C = v·G + r·H``;
* ``pedersen/H`` index 0 — the blinding base ``H``;
* ``bulletproofs/G``, ``bulletproofs/H`` indices 0..N-1 — the Bulletproofs vectors;
* ``bulletproofs/Q`` index 0 — the inner-product base.

Deriving costs ~0.25 ms a point with arkworks and ~3 ms with py_ecc, so vectors are cached per
group and grown on demand (the first ``n`` of a longer vector are the same points).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Final

from proofs.group import Group, Point

#: RFC 9380 domain-separation tag for all PoolProof generators (§3.1: a tag per application and version).
GENERATOR_DST: Final = b"POOLPROOF-V1-GENERATORS-BLS12381G1_XMD:SHA-256_SSWU_RO_"

_cache: dict[tuple[str, str], list[Point]] = {}
_lock = threading.Lock()


def generator(group: Group, label: str, index: int = 0) -> Point:
    """The generator ``hash_to_curve(b"<label>/<index>", GENERATOR_DST)``."""
    return generator_vector(group, label, index + 1)[index]


def generator_vector(group: Group, label: str, n: int) -> list[Point]:
    """The first ``n`` generators of ``label`` (a fresh list; the points are shared and immutable)."""
    if n < 0:
        raise ValueError("n must be non-negative")
    if "/" in label and label.rsplit("/", 1)[1].isdigit():
        raise ValueError("a label must not end in '/<digits>': it would collide with an index")
    key = (group.name, label)
    with _lock:
        vec = _cache.setdefault(key, [])
        if len(vec) < n:
            vec.extend(
                group.hash_to_curve(f"{label}/{i}".encode(), GENERATOR_DST) for i in range(len(vec), n)
            )
        return vec[:n]


def pedersen_bases(group: Group) -> tuple[Point, Point]:
    """``(G, H)``: the value and blinding bases of Pedersen commitments."""
    return generator(group, "pedersen/G"), generator(group, "pedersen/H")


def generator_set_id(labels_and_sizes: list[tuple[str, int]]) -> bytes:
    """A 32-byte identifier of a generator set, for absorbing into Fiat–Shamir transcripts.

    It commits to the DST, the suite and every (label, size) pair, so a proof made for one
    generator set cannot be replayed against another.
    """
    h = hashlib.sha256()
    h.update(len(GENERATOR_DST).to_bytes(2, "big") + GENERATOR_DST)
    for label, size in labels_and_sizes:
        encoded = label.encode()
        h.update(len(encoded).to_bytes(2, "big") + encoded + size.to_bytes(8, "big"))
    return h.digest()
