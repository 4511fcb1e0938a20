"""Progress bars with rate and ETA for long ``poolproof`` commands (``submit``, ``seal``), drawn by rich.

Counted items (``seal``'s loans) use the bar ``poolproof-audit`` uses
(:func:`proofs.progress.item_progress`); bytes sent (``submit``) have their own.

Bars go to stderr, so ``--json`` output on stdout stays one clean document; they are drawn only when
stderr is a terminal (or when asked with ``--progress``), never in a pipe or a log.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def progress_enabled(choice: bool | None) -> bool:
    """``--progress`` / ``--no-progress`` if given, else whether stderr is a terminal."""
    return sys.stderr.isatty() if choice is None else choice


def byte_progress(enabled: bool) -> Progress:
    """A bar for bytes sent: percentage, bytes of total, rate, ETA."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


class ProgressReader:
    """A binary file wrapper whose reads advance a progress task; ``len()`` is the bytes left to send.

    Given to ``requests`` as a body it is sent with a Content-Length (not chunked) and read in blocks.
    """

    def __init__(self, f: IO[bytes], size: int, progress: Progress, task: Any) -> None:
        self._f, self._size, self._progress, self._task = f, size, progress, task

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes and count them; at the end, say that the gateway is now checking."""
        data = self._f.read(n)
        if data:
            self._progress.advance(self._task, len(data))
        else:
            self._progress.update(self._task, description="sent, gateway checking")
        return data
