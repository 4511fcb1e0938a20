"""Load known-answer test vectors from ``tests/vectors/`` (kept apart from the code, as pyca does)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).parent / "vectors"


def load_vectors(relative_path: str) -> Any:
    """Return the parsed JSON file ``tests/vectors/<relative_path>``."""
    with open(VECTORS_DIR / relative_path, encoding="utf-8") as f:
        return json.load(f)


def unhex(value: str) -> bytes:
    """Decode a hex string from a vector file."""
    return bytes.fromhex(value)


def unhex_all(values: list[str]) -> list[bytes]:
    """Decode a list of hex strings from a vector file."""
    return [bytes.fromhex(v) for v in values]


def unb64(value: str) -> bytes:
    """Decode a standard (padded) base64 string from a vector file, strictly."""
    return base64.b64decode(value, validate=True)


def seeded_rng(seed: bytes) -> Callable[[], int]:
    """Deterministic prover randomness for tests and frozen vectors only (SHAKE-256 in counter mode,
    64 bytes reduced mod r). Production provers never take this."""
    from proofs.group import ORDER

    counter = itertools.count()

    def draw() -> int:
        block = hashlib.shake_256(seed + next(counter).to_bytes(8, "big")).digest(64)
        return int.from_bytes(block, "big") % ORDER

    return draw
