"""Every test that docs/threat-model.md cites exists (so the document cannot drift from the suite)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cited_tests() -> list[tuple[str, str]]:
    """``(file, test)`` pairs in citation order; ``::name`` refers to the file cited last on the line."""
    out = []
    for line in (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8").splitlines():
        current = None
        for token in re.findall(r"`([^`]+)`", line):
            if token.startswith("tests/") and ".py" in token:
                current, _, name = token.partition("::")
                if name:
                    out.append((current, name))
            elif token.startswith("::") and current:
                out.append((current, token[2:]))
    return out


def test_the_threat_model_cites_tests() -> None:
    assert len(cited_tests()) >= 60


def test_every_cited_test_exists() -> None:
    missing = []
    for file, name in cited_tests():
        path = ROOT / file
        if not path.exists() or not re.search(rf"^\s*def {re.escape(name)}\(", path.read_text(), re.M):
            missing.append(f"{file}::{name}")
    assert not missing, missing


def test_every_cited_file_exists() -> None:
    text = (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")
    for file in set(re.findall(r"`(tests/[\w/]+\.py)", text)):
        assert (ROOT / file).exists(), file
