"""docs/architecture.md lists every module of gateway/, proofs/ and policies/, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _listed() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return set(re.findall(r"^- `((?:gateway|proofs|policies)/[\w/]+\.py)`", text, flags=re.MULTILINE))


def _in_tree() -> set[str]:
    return {
        p.relative_to(ROOT).as_posix()
        for package in ("gateway", "proofs", "policies")
        for p in (ROOT / package).rglob("*.py")
    }


def test_every_listed_module_exists() -> None:
    assert sorted(_listed() - _in_tree()) == []


def test_every_module_is_listed() -> None:
    assert sorted(_in_tree() - _listed()) == []
