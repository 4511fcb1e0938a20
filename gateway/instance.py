"""Where ``poolproof`` keeps an instance's files: the database, the master key, the gateway key.

The instance folder is, in order: ``$POOLPROOF_INSTANCE`` (kept for existing set-ups), ``$POOLPROOF_HOME``,
else the user data folder of the platform (``~/.local/share/poolproof`` on Linux, via platformdirs). It is
created with mode 0700 and lies outside any source checkout, so keys and loan data never land in one by
default. ``--db`` / ``$POOLPROOF_DATABASE`` and ``--master-key-file`` / ``$POOLPROOF_MASTER_KEY_FILE``
still override single files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .config import GatewayConfig

DATABASE_NAME = "poolproof.db"
MASTER_KEY_NAME = "master.key"
GATEWAY_PUBLIC_KEY_NAME = "gateway.pub"


def instance_folder() -> Path:
    """The instance folder (not created); see the module docstring for the order of precedence."""
    env = GatewayConfig.from_environment()
    explicit = env.instance or env.home
    if explicit:
        return Path(explicit).expanduser()
    return Path(platformdirs.user_data_dir("poolproof", appauthor=False))


def ensure_private_folder(path: Path) -> Path:
    """Create ``path`` (and parents) if missing, the folder itself with mode 0700; returns it.

    An existing folder is left as it is (its owner chose its mode). Raises ``OSError`` if it cannot be made.
    """
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    return path


@dataclass(frozen=True)
class InstancePaths:
    """The files of one instance."""

    database: Path
    master_key: Path

    @property
    def folder(self) -> Path:
        """The folder holding the database."""
        return self.database.parent


def instance_paths(db: str | None = None, master_key_file: str | None = None) -> InstancePaths:
    """Resolve the database and master key files from options, environment, then the instance folder."""
    env = GatewayConfig.from_environment()
    database = Path(db or env.database or instance_folder() / DATABASE_NAME)
    key = Path(master_key_file or env.master_key_file or database.with_name(MASTER_KEY_NAME))
    return InstancePaths(database=database, master_key=key)
