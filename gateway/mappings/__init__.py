"""Column-mapping files (TOML) for :mod:`gateway.importers.mapped_csv`; see ``lendingclub.toml``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def mapping_path(name: str) -> Path:
    """Path of the shipped mapping file ``<name>.toml``; raises ``FileNotFoundError`` if there is none."""
    p = Path(str(resources.files(__name__).joinpath(f"{name}.toml")))
    if not p.is_file():
        raise FileNotFoundError(f"no shipped column mapping named {name!r}")
    return p
