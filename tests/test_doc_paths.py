"""Every module the docs, docstrings and comments name exists, so the prose cannot go stale.

The docs are README.md and docs/*.md; the docstrings and comments are those of every Python file of
the three packages, the tests and the benchmarks, and the comments of the policy TOML files. A
reference is a path such as ``gateway/cli/_common.py`` (or one under ``bench/`` or ``tests/``) or a
dotted name such as ``gateway.keys.rotation`` or ``proofs.bulletproofs.prove_range``, rooted at one
of the three packages. A path must be a file of the checkout; a dotted name must import as a module,
with any further parts attributes of it.
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "proofs", "policies")
_PACKAGE = "|".join(PACKAGES)
# Not preceded by a name character, a slash or a dot: a path under tests/gateway is not one under gateway.
_PATH_RE = re.compile(rf"(?<![\w/.-])(?:{_PACKAGE}|bench|tests)/[\w/]+\.py\b")
_DOTTED_RE = re.compile(rf"(?<![\w/.-])(?:{_PACKAGE})(?:\.[A-Za-z_]\w*)+")
#: Instance file names that read like dotted names (``gateway.key``, ``gateway.pub``, ``gateway.pem``).
_FILE_SUFFIXES = frozenset({"key", "pub", "pem", "json", "toml", "db", "log", "csv", "jsonl", "txt"})


def _prose_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _source_files() -> list[Path]:
    return sorted(p for folder in (*PACKAGES, "tests", "bench") for p in (ROOT / folder).rglob("*.py"))


def _docstrings_and_comments(path: Path) -> Iterator[str]:
    text = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield doc
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            yield token.string


def _toml_comments(path: Path) -> Iterator[str]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if "#" in line:
            yield line[line.index("#") :]


def _texts() -> Iterator[tuple[str, str]]:
    for path in _prose_files():
        yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")
    for path in _source_files():
        for text in _docstrings_and_comments(path):
            yield str(path.relative_to(ROOT)), text
    for path in sorted((ROOT / "policies").glob("*.toml")):
        for text in _toml_comments(path):
            yield str(path.relative_to(ROOT)), text


def _references() -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for where, text in _texts():
        found.update((where, m.group(0)) for m in _PATH_RE.finditer(text))
        for m in _DOTTED_RE.finditer(text):
            name = m.group(0)
            if not _FILE_SUFFIXES.intersection(name.split(".")[1:]):
                found.add((where, name))
    return sorted(found)


def _dotted_name_exists(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attribute in parts[i:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False  # pragma: no cover - the package itself always imports


def test_the_scan_finds_references_in_prose_and_in_docstrings() -> None:
    wheres = {where for where, _ in _references()}
    assert "docs/architecture.md" in wheres
    assert any(where.startswith("proofs/") for where in wheres)


@pytest.mark.parametrize(("where", "reference"), _references(), ids=lambda v: str(v))
def test_every_named_module_exists(where: str, reference: str) -> None:
    if "/" in reference:
        assert (ROOT / reference).is_file(), f"{where} names {reference}, which is not a file"
    else:
        assert _dotted_name_exists(reference), f"{where} names {reference}, which does not import"
