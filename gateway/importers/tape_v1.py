"""Tape rows (schemas v1 and v2) as plain JSON values, and the two writers (JSONL, CSV) every producer shares.

A tape row is a ``dict`` keyed by the catalogue's field names (reference notes
``classification-and-data.md`` §6.3): strings, integers (money in integer minor units, rates in integer
basis points), ISO 8601 dates as ``YYYY-MM-DD`` strings, and ``None`` for an absent optional value.
A tape schema v2 row also carries the seven period flows (:data:`policies.catalogue.PERIOD_FLOW_FIELDS`).
The synthetic platform (:mod:`gateway.synth`) and the mapped-CSV importers produce such rows; the
gateway's tape validator checks them.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from typing import IO, Any

from policies.catalogue import PERIOD_FLOW_FIELDS, TAPE_SCHEMA_V1_FIELDS, TAPE_SCHEMA_V2_FIELDS

Row = dict[str, Any]
PathOrFile = str | os.PathLike[str] | IO[str]


def _open_text(target: PathOrFile, newline: str | None) -> Any:
    if isinstance(target, str | os.PathLike):
        return open(target, "w", encoding="utf-8", newline=newline)
    return nullcontext(target)


def write_jsonl(rows: Iterable[Mapping[str, Any]], path_or_file: PathOrFile) -> int:
    """Write one compact JSON object per line (UTF-8, non-ASCII kept as is); return the row count.

    Rows are consumed one at a time, so a streamed tape is never held in memory. Raises ``TypeError``
    for a value JSON cannot encode and ``ValueError`` for a float NaN/infinity (money is never a float).
    """
    n = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    with _open_text(path_or_file, None) as f:
        write = f.write
        for row in rows:
            write(dumps(row))
            write("\n")
            n += 1
    return n


def write_csv(
    rows: Iterable[Mapping[str, Any]],
    path_or_file: PathOrFile,
    fields: tuple[str, ...] | None = None,
) -> int:
    """Write a CSV tape with a header line of ``fields`` (``None``/absent: empty cell); return the row count.

    Without ``fields`` the header is tape schema v2's fields if the first row carries a period flow,
    else tape schema v1's.

    Integers are written in decimal, strings as they are (quoted by the ``csv`` module when needed).
    Raises ``ValueError`` if a row has a key outside ``fields`` (nothing is silently dropped) or a value
    that is not a string, an integer or ``None``.
    """
    n = 0
    if fields is None:
        it = iter(rows)
        first = next(it, None)
        v2 = first is not None and any(first.get(name) is not None for name in PERIOD_FLOW_FIELDS)
        fields = TAPE_SCHEMA_V2_FIELDS if v2 else TAPE_SCHEMA_V1_FIELDS
        rows = it if first is None else itertools.chain([first], it)
    with _open_text(path_or_file, "") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(fields)
        known = frozenset(fields)
        for row in rows:
            extra = row.keys() - known
            if extra:
                raise ValueError(f"row {n + 1}: fields outside the CSV header: {sorted(extra)}")
            cells: list[str | int] = []
            for name in fields:
                v = row.get(name)
                if v is None:
                    cells.append("")
                elif isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)):
                    cells.append(v)
                else:
                    raise ValueError(f"row {n + 1}, field {name}: CSV cells must be strings or integers")
            w.writerow(cells)
            n += 1
    return n
