"""proofs.progress: a rich bar with rate and ETA when rich is there, no bar (and the same check) when not."""

from __future__ import annotations

import sys

import pytest

from proofs.progress import counted


def test_the_bar_shows_done_of_total_and_the_rate(capsys: pytest.CaptureFixture[str]) -> None:
    with counted("verifying", "leaves") as progress:
        assert progress is not None
        progress(512, 1024)
        progress(1024, 1024)
    err = capsys.readouterr().err
    assert "verifying" in err
    assert "1024/1024" in err
    assert "leaves/s" in err


def test_no_bar_when_disabled() -> None:
    with counted("verifying", "leaves", enabled=False) as progress:
        assert progress is None


def test_no_bar_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # import rich.progress raises ImportError
    with counted("verifying", "leaves") as progress:
        assert progress is None
