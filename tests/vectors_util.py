"""Load known-answer test vectors from ``tests/vectors/`` (kept apart from the code, as pyca does)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proofs.transcript import Transcript

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


def context_transcript(protocol: str, context_hex: str) -> Transcript:
    """A fresh transcript for ``protocol`` that has absorbed a vector's ``context`` (hex) first."""
    from proofs.transcript import Transcript

    t = Transcript(protocol.encode())
    t.append_message(b"context", bytes.fromhex(context_hex))
    return t


def write_frozen_vectors(
    directory: Path,
    specs: Iterable[Mapping[str, Any]],
    generate: Callable[[Mapping[str, Any]], Mapping[str, Any]],
) -> None:
    """Write ``<directory>/<spec name>.json`` for every spec: ``generate(spec)`` as indented JSON."""
    directory.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        (directory / f"{spec['name']}.json").write_text(json.dumps(generate(spec), indent=1) + "\n")


def load_frozen_vector(directory: Path, name: str) -> dict[str, Any]:
    """The frozen vector ``<directory>/<name>.json``, parsed."""
    doc: dict[str, Any] = json.loads((directory / f"{name}.json").read_text())
    return doc
