"""The Lending Club 2018Q1 sample (``../shared/data/lendingclub_2018q1_10k.csv``) as a US tape-v1 pool.

All Lending Club knowledge lives in the mapping file ``gateway/mappings/lendingclub.toml``; this module
only finds the files and calls :func:`gateway.importers.mapped_csv.import_mapped_csv`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.importers.mapped_csv import import_mapped_csv, load_mapping
from gateway.importers.tape_v1 import Row
from gateway.mappings import mapping_path

LENDINGCLUB_CSV = "lendingclub_2018q1_10k.csv"
# The as-of date the data's payments imply (see the mapping file's [pool] as_of_hint).
LENDINGCLUB_AS_OF = date(2018, 6, 30)


def shared_dir() -> Path:
    """The shared directory: ``$POOLPROOF_SHARED`` if set, else ``<repo>/../shared``."""
    shared = GatewayConfig.from_environment().shared
    if shared:
        return Path(shared)
    return Path(__file__).resolve().parents[2].parent / "shared"


def lendingclub_csv_path() -> Path:
    """Where the Lending Club sample is read from (never copied into the repository)."""
    return shared_dir() / "data" / LENDINGCLUB_CSV


def import_lendingclub(
    csv_path: str | os.PathLike[str] | None = None,
    mapping_path_: str | os.PathLike[str] | None = None,
    *,
    pool_id: str = "LC",
    cutoff: date = LENDINGCLUB_AS_OF,
    rate_cap_bps: int | None = None,
) -> Iterator[Row]:
    """Stream the Lending Club sample as tape schema v2 rows of a US pool (money in USD cents).

    ``csv_path`` defaults to :func:`lendingclub_csv_path`, the mapping to the shipped
    ``lendingclub.toml``, ``pool_id`` (the prefix of the synthesised loan ids) to ``"LC"``, ``cutoff`` to
    the data's as-of date 2018-06-30 (days past due and instalments are derived as of ``cutoff``).
    Raises what :func:`import_mapped_csv` raises (``ImportRowError`` naming line, column and rule;
    ``MappingError``; ``OSError``).
    """
    mapping = load_mapping(mapping_path_ if mapping_path_ is not None else mapping_path("lendingclub"))
    src = csv_path if csv_path is not None else lendingclub_csv_path()
    return import_mapped_csv(src, mapping, pool_id=pool_id, cutoff=cutoff, rate_cap_bps=rate_cap_bps)
