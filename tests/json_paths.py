"""Every path into a JSON document, for the tests that mutate a bundle at each of them."""

from __future__ import annotations

from typing import Any

Path = tuple[Any, ...]


def json_paths(doc: Any, *, max_items: int | None = None, prefix: Path = ()) -> list[Path]:
    """``prefix`` and the path of every member and element below it, depth first.

    ``max_items`` limits how many elements of each array are walked into (all when ``None``).
    """
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += json_paths(v, max_items=max_items, prefix=(*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:max_items]):
            out += json_paths(v, max_items=max_items, prefix=(*prefix, i))
    return out
