"""Backup and restore of the database and the key files.

**Backup** (:func:`backup`) uses SQLite's online backup API (a consistent copy while the server runs
and writes), checks ``PRAGMA integrity_check`` on the copy, copies the key files (mode 0600) into
``keys/`` and writes a manifest of SHA-256 digests. **Restore** (:func:`restore`) checks the digests
and the integrity of every database before copying anything into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from ..storage.db import integrity_check as integrity_check
from ..storage.db import now
from ..storage.decisions import log_path_for
from .key_files import KeyManagementError, fsync_path, write_private_file

MANIFEST = "manifest.json"


# --- backup and restore -----------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _copy_database(src: Path, dst: Path) -> None:
    source = sqlite3.connect(str(src), timeout=30)
    target = sqlite3.connect(str(dst))
    try:
        source.backup(target)  # the online backup API: a consistent snapshot while others write
    finally:
        target.close()
        source.close()
    os.chmod(dst, 0o600)


def backup(db_path: str | Path, dest: str | Path, key_files: list[Path]) -> dict[str, Any]:
    """Write a consistent copy of the database, the decision log and ``key_files`` into ``dest``.

    ``dest`` must not exist. Returns the manifest. Raises :class:`KeyManagementError` if a copy fails
    its integrity check.
    """
    db_path, dest = Path(db_path), Path(dest)
    dest.mkdir(mode=0o700, parents=True)
    files: dict[str, dict[str, Any]] = {}
    for src in (db_path, log_path_for(db_path)):
        if not src.exists():
            continue
        out = dest / src.name
        _copy_database(src, out)
        if (result := integrity_check(out)) != "ok":
            raise KeyManagementError(f"backup of {src.name} fails its integrity check: {result}")
        files[src.name] = {"sha256": _sha256(out), "bytes": out.stat().st_size, "kind": "database"}
    if key_files:
        (dest / "keys").mkdir(mode=0o700)
    for key in key_files:
        if not key.exists():
            continue
        out = dest / "keys" / key.name
        write_private_file(out, key.read_bytes())
        files[f"keys/{key.name}"] = {"sha256": _sha256(out), "bytes": out.stat().st_size, "kind": "key"}
    manifest = {
        "format": "poolproof/backup/v1",
        "created_at": now(),
        "database": db_path.name,
        "files": files,
    }
    write_private_file(dest / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return manifest


def restore(src: str | Path, db_path: str | Path, key_dir: str | Path, *, force: bool = False) -> list[Path]:
    """Check a backup (digests, integrity) and copy it into place; returns the files written.

    The database files go to ``db_path``'s directory (named as in the backup's manifest, the main
    database as ``db_path``); key files to ``key_dir`` (mode 0600). Refuses to overwrite existing files
    unless ``force``. Raises :class:`KeyManagementError` naming the file and failed check.
    """
    src, db_path, key_dir = Path(src), Path(db_path), Path(key_dir)
    try:
        manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KeyManagementError(f"{src / MANIFEST}: not a readable backup manifest ({exc})") from None
    if manifest.get("format") != "poolproof/backup/v1":
        raise KeyManagementError(f"{src / MANIFEST}: not a poolproof/backup/v1 manifest")
    plan: list[tuple[Path, Path, str]] = []
    for name, info in sorted(manifest["files"].items()):
        path = src / name
        if not path.exists() or _sha256(path) != info["sha256"]:
            raise KeyManagementError(f"{name}: missing or its SHA-256 differs from the manifest")
        if info["kind"] == "database":
            if (result := integrity_check(path)) != "ok":
                raise KeyManagementError(f"{name}: integrity check failed: {result}")
            if name == manifest["database"]:
                target = db_path
            elif name == log_path_for(manifest["database"]).name:
                target = log_path_for(db_path)
            else:
                raise KeyManagementError(f"{name}: a database the manifest does not name")
        else:
            target = key_dir / Path(name).name
        plan.append((path, target, info["kind"]))
    existing = [t for _, t, _ in plan if t.exists()]
    if existing and not force:
        raise KeyManagementError(f"refusing to overwrite {', '.join(map(str, existing))} (use force)")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    key_dir.mkdir(parents=True, exist_ok=True)
    for path, target, kind in plan:
        if kind == "database":
            for suffix in ("-wal", "-shm"):
                target.with_name(target.name + suffix).unlink(missing_ok=True)
            tmp = target.with_name(target.name + ".restoring")
            shutil.copyfile(path, tmp)
            os.chmod(tmp, 0o600)
            fsync_path(tmp)
            os.replace(tmp, target)
        else:
            write_private_file(target, path.read_bytes())
    fsync_path(db_path.parent)
    return [t for _, t, _ in plan]

