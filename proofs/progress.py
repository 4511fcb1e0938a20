"""Progress bars with rate and ETA for long checks (``poolproof-audit verify-snapshot``), drawn by rich.

rich is optional for the auditor's package: ``proofs`` verifies with its three dependencies alone, and
without rich a long check simply shows no bar. Bars go to stderr, so ``--json`` on stdout stays clean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

#: ``progress(done, total)``, as :func:`proofs.snapshot.verify_snapshot` calls it.
ProgressCallback = Callable[[int, int], None]


def rate_column(unit: str) -> Any:
    """A rich column showing items per second with the item's name, e.g. ``1,234.5 leaves/s``."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.1f} {unit}/s" if speed else f"? {unit}/s")

    return RateColumn()


def item_progress(enabled: bool, unit: str) -> Any:
    """A rich ``Progress`` for counted items: percentage, done of total, rate, ETA (on stderr).

    Raises ``ImportError`` if rich is not installed.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        rate_column(unit),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


@contextlib.contextmanager
def counted(description: str, unit: str, enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """Yield a ``progress(done, total)`` callback drawing a bar, or ``None`` when disabled or without rich."""
    if not enabled:
        yield None
        return
    try:
        bar = item_progress(True, unit)
    except ImportError:  # rich is optional here: no bar, same check
        yield None
        return
    with bar:
        task = bar.add_task(description, total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield show
