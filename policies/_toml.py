"""Reading TOML files with errors that name file, key path and line.

``tomllib`` reports the line of a *syntax* error only; for a semantic error (a wrong value under a
valid key) :func:`locate` finds the line of the key by a plain scan of the source, which is enough for
the shallow layout our catalogue and policy files use (``[table]``, ``[[array]]`` and ``key = ...``).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from .errors import PolicyFileError

_TOML_LINE = re.compile(r"at line (\d+)")


def read_toml(path: Path, error: type[PolicyFileError] = PolicyFileError) -> tuple[dict[str, Any], bytes]:
    """Parse ``path``; return the document and the raw bytes (hashed into policy versions).

    Raises ``error`` (a :class:`PolicyFileError`) for an unreadable file or a TOML syntax error, with
    the line tomllib gives.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(str(path), "", f"cannot read file: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(str(path), "", f"not UTF-8 (byte offset {exc.start})") from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        line = int(match.group(1)) if match else None
        raise error(str(path), "", f"TOML syntax error: {exc}", line) from exc
    return doc, raw


def locate(text: str, key_path: str) -> int | None:
    """Best-effort 1-based line of ``key_path`` (``"fields.id_number.level"``, ``"rules[2].transform"``).

    Array-of-table indices count ``[[name]]`` headers; the last component is searched as ``key =``
    after the table header (or as an inline-table key). Returns ``None`` when not found.
    """
    parts = [p for p in re.split(r"\.(?![^\[]*\])", key_path) if p]
    lines = text.splitlines()
    start = 0
    for depth, part in enumerate(parts):
        m = re.fullmatch(r"([A-Za-z0-9_\-]+)\[(\d+)\]", part)
        if m:
            name, idx = m.group(1), int(m.group(2))
            header = re.compile(r"^\s*\[\[\s*" + re.escape(name) + r"\s*\]\]")
            seen = -1
            for i in range(start, len(lines)):
                if header.match(lines[i]):
                    seen += 1
                    if seen == idx:
                        start = i
                        break
            else:
                return None
            continue
        prefix = ".".join(parts[: depth + 1])
        table = re.compile(r"^\s*\[\s*" + re.escape(prefix) + r"\s*[\].]")
        key = re.compile(r"^\s*" + re.escape(part) + r"\s*=|[{,]\s*" + re.escape(part) + r"\s*=")
        for i in range(start, len(lines)):
            if table.match(lines[i]) or key.search(lines[i]):
                start = i
                break
            if depth and i > start and lines[i].lstrip().startswith("["):
                return start + 1  # the key is not in its table: point at the table header
        else:
            return start + 1 if depth else None
    return start + 1
