"""``poolproof import``: a platform's CSV export, read through a column mapping, to a tape or a pool.

The command is a thin shell over :func:`gateway.importers.mapped_csv.read_mapped_csv`: it resolves the
mapping and the cut-off, streams the rows to a temporary file (with progress), and either renames that
file to ``--out`` or ingests it into ``--pool`` through the same validation and storage path as the HTTP
API. A tape with any problem is kept nowhere: every problem is listed in one pass (a table on the
terminal, and ``--report FILE`` as JSON or CSV), numbered by the source file's physical line.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
from array import array
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import click

from proofs.exit_codes import ExitCode

from ..importers.report import DEFAULT_MAX_LISTED, ImportReport, Problem
from ._common import database_and_key, db_option, master_key_option

_HELP = """Import a platform's loan-tape CSV export through a column mapping.

SOURCE is read with the mapping (--mapping: a shipped name such as lendingclub, prosper,
cn-platform-export, or a TOML file written for a new layout; see docs/importing.md; without it, the one
shipped mapping whose columns are all in the header, named on stderr) and becomes a tape in schema v1:
written to --out, or ingested into --pool at the cut-off.

The cut-off is --cutoff, or the mapping's as_of_hint; with neither the command stops. Every problem of
the file is reported in one pass, by source line (the header is line 1), as a table and, with
--report FILE, as JSON (or CSV if FILE ends in .csv); nothing is written or stored unless the whole
tape is good. Exit codes: 0 imported, 2 unusable input (bad mapping, bad tape, unknown pool), 6 an
unexpected storage error.
"""


def _fail(message: str, code: ExitCode = ExitCode.UNUSABLE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(int(code))


def _resolve_mapping(ref: str) -> Any:
    from ..importers.mapping import MappingError, load_mapping
    from ..mappings import mapping_path, shipped_mappings

    path: Path | str = ref
    if not (ref.endswith(".toml") or os.sep in ref or Path(ref).is_file()):
        try:
            path = mapping_path(ref)
        except FileNotFoundError:
            _fail(f"no mapping file or shipped mapping {ref!r} (shipped: {', '.join(shipped_mappings())})")
    try:
        return load_mapping(path)
    except MappingError as e:
        _fail(str(e))


def _detect_mapping(source: Path) -> Any:
    """The one shipped mapping whose columns are all in SOURCE's header (read as that mapping says)."""
    import csv

    from ..importers.mapping import load_mapping
    from ..mappings import mapping_path, shipped_mappings

    fits = []
    for name in shipped_mappings():
        m = load_mapping(mapping_path(name))
        try:
            with source.open(encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f, delimiter=m.delimiter)
                header: list[str] = []
                for _ in range(m.header_line):
                    header = next(reader, [])
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        if set(m.columns_read) <= set(header):
            fits.append(m)
    if len(fits) != 1:
        found = "none" if not fits else ", ".join(m.name for m in fits)
        _fail(
            f"give --mapping NAME|FILE: the shipped mappings whose columns are all in {source}'s header: "
            f"{found} (shipped: {', '.join(shipped_mappings())})"
        )
    return fits[0]


def _resolve_cutoff(cutoff: str | None, mapping: Any) -> date:
    if cutoff is not None:
        try:
            return date.fromisoformat(cutoff)
        except ValueError:
            _fail(f"--cutoff must be a date YYYY-MM-DD, not {cutoff!r}")
    if mapping.as_of_hint is not None:
        return mapping.as_of_hint  # type: ignore[no-any-return]
    _fail(
        f"give --cutoff YYYY-MM-DD: the mapping {mapping.name!r} has no as_of_hint, and days past due "
        "and instalments are counted as of the cut-off"
    )


def _progress(enabled: bool) -> Any:
    """A rich progress bar on stderr (bytes of the source, rows, rate, time remaining), or None."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("importing"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _print_problems(report: ImportReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True, highlight=False, soft_wrap=False)
    table = Table(title=f"{_count(report.problem_count, 'problem')} in {report.source}", title_justify="left")
    for name in ("line", "column", "rule", "message"):
        table.add_column(name, overflow="fold", no_wrap=name != "message")
    for p in report.problems:
        table.add_row(str(p.line), p.column, p.rule, p.message)
    console.print(table)
    if report.unlisted:
        console.print(
            f"... and {report.unlisted} more problems not listed (the first {len(report.problems)} are)"
        )


def _print_notices(report: ImportReport) -> None:
    for n in report.notices.values():
        click.echo(
            f"note: {n.count} x {n.rule} in {n.column or 'the tape'} (first at line {n.first_line}): "
            f"{n.message}",
            err=True,
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _money(amount_minor: int, currency: str, minor_per_major: int) -> str:
    places = len(str(minor_per_major)) - 1
    major, minor = divmod(amount_minor, minor_per_major)
    text = f"{major:,}" + (f".{minor:0{places}d}" if places else "")
    return f"{currency} {text}"


def _finish_report(report: ImportReport, report_path: str | None) -> None:
    if report_path:
        try:
            report.write(report_path)
        except OSError as e:
            _fail(f"cannot write the report {report_path}: {e.strerror or e}")


def _rejected(report: ImportReport, report_path: str | None, as_json: bool) -> NoReturn:
    _print_problems(report)
    _print_notices(report)
    _finish_report(report, report_path)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    where = f"; full list in {report_path}" if report_path else "; --report FILE writes the full list"
    counts = f"{_count(report.problem_count, 'problem')} in {_count(len(report.rejected_lines), 'row')}"
    _fail(f"tape rejected: {counts}{where}")


@click.command("import", help=_HELP, short_help="Import a platform's CSV export through a column mapping.")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--mapping",
    "mapping_ref",
    default=None,
    help="a shipped mapping (lendingclub, lendingclub-loanstats, prosper, cn-platform-export) or a TOML "
    "file; default: the one shipped mapping whose columns are all in the header",
)
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="write the tape to this file")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--pool",
    "pool_id",
    default=None,
    help="the pool: ingest into it (without --out); loan-id templates use it as {pool_id}",
)
@click.option("--cutoff", default=None, help="cut-off date YYYY-MM-DD (default: the mapping's as_of_hint)")
@click.option(
    "--report",
    "report_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="write every problem and notice to FILE (JSON; CSV if FILE ends in .csv)",
)
@click.option(
    "--max-errors",
    default=DEFAULT_MAX_LISTED,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="problems listed (all are counted)",
)
@click.option("--json", "as_json", is_flag=True, help="print the result (or the report) as JSON on stdout")
@click.option(
    "--progress/--no-progress", default=None, help="progress bar on stderr (default: when a terminal)"
)
@db_option
@master_key_option
def import_cmd(
    source: str,
    mapping_ref: str | None,
    out: str | None,
    fmt: str,
    pool_id: str | None,
    cutoff: str | None,
    report_path: str | None,
    max_errors: int,
    as_json: bool,
    progress: bool | None,
    db_path: str | None,
    master_key_file: str | None,
) -> None:
    from ..importers import tape_v1
    from ..importers.mapped_csv import read_mapped_csv

    if not (out or pool_id):
        _fail("give --out FILE (write the tape) or --pool ID (ingest it into that pool)")
    src = Path(source)
    mapping = _resolve_mapping(mapping_ref) if mapping_ref is not None else _detect_mapping(src)
    as_of = _resolve_cutoff(cutoff, mapping)
    report = ImportReport(source=str(src), mapping=mapping.source, max_listed=max_errors)
    lines = array("Q")
    totals = [0, 0]  # original and current principal, minor units of the mapping's currency
    bar = _progress(sys.stderr.isatty() if progress is None else progress)

    def tape_rows() -> Iterator[dict[str, Any]]:
        line_id = None  # the bar's line for this file
        if bar is not None:
            line_id = bar.add_task("import", total=src.stat().st_size, rows=0)

        def tick(done_bytes: int, rows: int) -> None:
            if bar is not None and line_id is not None:
                bar.update(line_id, completed=done_bytes, rows=rows)

        rows = read_mapped_csv(
            src, mapping, pool_id=pool_id or mapping.name, cutoff=as_of, report=report, progress=tick
        )
        for line, row in rows:
            lines.append(line)
            totals[0] += row["original_principal_fen"]
            totals[1] += row["current_principal_fen"]
            yield row

    target_dir = Path(out).resolve().parent if out else None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=".poolproof-import-", suffix=f".{fmt}", dir=target_dir)
    except OSError as e:
        _fail(f"cannot write into {target_dir or tempfile.gettempdir()}: {e.strerror or e}")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            if bar is not None:
                bar.start()
            try:
                writer = tape_v1.write_csv if (out and fmt == "csv") else tape_v1.write_jsonl
                writer(tape_rows(), tmp)
            finally:
                if bar is not None:
                    bar.stop()
        except OSError as e:
            _fail(f"cannot read {src}: {e.strerror or e}")
        if not report.ok:
            _rejected(report, report_path, as_json)
        if report.rows_imported == 0:
            _print_notices(report)
            _fail(
                f"no loans in {src}: {report.rows_read} data rows read, {report.rows_excluded} excluded by "
                "status; nothing written"
            )
        result: dict[str, Any] = {
            "rows_read": report.rows_read,
            "rows_imported": report.rows_imported,
            "rows_excluded": report.rows_excluded,
            "cutoff": as_of.isoformat(),
            "mapping": mapping.name,
            "mapping_chosen": "by --mapping"
            if mapping_ref
            else "by the header (the one shipped mapping that fits)",
            "currency": mapping.currency,
            "money_unit": f"minor units of {mapping.currency} (1/{mapping.minor_per_major})",
            "original_principal_minor": totals[0],
            "current_principal_minor": totals[1],
        }
        if out:
            try:
                os.replace(tmp, out)
            except OSError as e:
                _fail(f"cannot write {out}: {e.strerror or e}")
            result["out"] = out
        else:
            with tmp.open("rb") as body:
                result["ingested"] = _ingest(
                    body,
                    lines,
                    report,
                    db_path,
                    master_key_file,
                    pool_id or "",
                    as_of.isoformat(),
                    report_path,
                    as_json,
                )
    finally:
        tmp.unlink(missing_ok=True)
    _print_notices(report)
    _finish_report(report, report_path)
    if as_json:
        click.echo(json.dumps({**result, "report": report.to_dict()}, ensure_ascii=False, indent=2))
        return
    excluded = f", {report.rows_excluded} excluded by status" if report.rows_excluded else ""
    if not mapping_ref:
        shipped = Path(mapping.source).stem
        excluded += f"; mapping {shipped}: the one shipped mapping whose columns are all in the header"
    balance = _money(totals[1], mapping.currency, mapping.minor_per_major)
    lent = _money(totals[0], mapping.currency, mapping.minor_per_major)
    if out:
        click.echo(f"{report.rows_imported} rows written to {out} (cut-off {as_of}{excluded})")
        click.echo(f"current principal {balance} of {lent} lent")
    else:
        ing = result["ingested"]
        click.echo(f"{report.rows_imported} rows ingested into pool {pool_id} at cut-off {as_of}{excluded}")
        click.echo(f"current principal {balance} of {lent} lent")
        click.echo(json.dumps(ing, indent=2, ensure_ascii=False))


def _ingest(
    body: BinaryIO,
    lines: array[int],
    report: ImportReport,
    db_path: str | None,
    key_file: str | None,
    pool_id: str,
    cutoff: str,
    report_path: str | None,
    as_json: bool,
) -> dict[str, Any]:
    """Ingest the JSONL tape in ``body``; the gateway's rejections are reported by source line."""
    from ..ingest.pipeline import TapeRejected, ingest_tape
    from ..ingest.validation import ROW_FIELD
    from ..keys.keyring import KeyringError, load_master_key
    from ..storage.db import connect, migrate
    from ..storage.records import NotFound, StorageError, get_pool, pool_keys

    dbp, kp = database_and_key(db_path, key_file)
    if not dbp.exists():
        _fail(f"no database at {dbp}: run 'poolproof init' first, or give --db")
    try:
        db = connect(dbp)
    except sqlite3.Error as e:
        _fail(f"database error in {dbp}, nothing stored: {e}", ExitCode.SERVER)
    try:
        migrate(db)
        try:
            pool = get_pool(db, pool_id)
            keys = pool_keys(db, load_master_key(key_file=kp), pool_id)
        except NotFound:
            _fail(f"no pool {pool_id!r} in {dbp}")
        except KeyringError as e:
            _fail(f"cannot use the master key {kp}: {e}")
        try:
            outcome = ingest_tape(
                db, pool, keys, cutoff, body, "jsonl", submitted_by="operator:cli", max_bytes=1 << 40
            )
        except TapeRejected as exc:
            for err in exc.report.errors:
                line = lines[err.row - 1] if 1 <= err.row <= len(lines) else 0
                if err.field == ROW_FIELD:
                    report.add(Problem(line, "", err.rule, f"the tape row: {err.message}"))
                else:
                    report.add(Problem(line, err.field, err.rule, f"tape field {err.field}: {err.message}"))
            report.add_unlisted(exc.report.error_count - len(exc.report.errors))
            _rejected(report, report_path, as_json)
        except StorageError as e:
            _fail(f"not stored: {e}")
        return outcome.result
    except sqlite3.Error as e:
        _fail(f"database error in {dbp}, nothing stored: {e}", ExitCode.SERVER)
    finally:
        db.conn.close()
