"""Column-mapping files (TOML) for :mod:`gateway.importers.mapped_csv`; language in ``docs/importing.md``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def mapping_path(name: str) -> Path:
    """Path of the shipped mapping file ``<name>.toml``; raises ``FileNotFoundError`` if there is none."""
    p = Path(str(resources.files(__name__).joinpath(f"{name}.toml")))
    if not name or "/" in name or "\\" in name or not p.is_file():
        raise FileNotFoundError(
            f"no shipped column mapping named {name!r} (shipped: {', '.join(shipped_mappings())})"
        )
    return p


def shipped_mappings() -> list[str]:
    """Names of the shipped mapping files, sorted."""
    root = resources.files(__name__)
    return sorted(p.name[: -len(".toml")] for p in root.iterdir() if p.name.endswith(".toml"))
