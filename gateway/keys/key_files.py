"""Crash-safe writing of key files, shared by key rotation and backup/restore.

A key file is written to a temporary name with mode 0600, fsync'd and renamed into place, and the
directory is fsync'd, so a crash leaves either the old file or the new one, never a torn one.
:class:`KeyManagementError` is what rotation, backup and restore raise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from ..errors import GatewayError


class KeyManagementError(GatewayError):
    """A rotation, backup or restore cannot proceed (the message names the file or check)."""

    http_status: ClassVar[int] = 500


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (so a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename) with mode 0600."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)
