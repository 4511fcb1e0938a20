"""``poolproof synth``: a seeded synthetic tape, written to a file or ingested into the local database."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

import click

from proofs.exit_codes import ExitCode

from ._common import (
    CliFailure,
    database_and_key,
    db_option,
    emit,
    json_option,
    master_key_option,
    written_whole,
)


def _write_rows(rows: Iterable[dict[str, Any]], out: str, fmt: str) -> int:
    """Write the tape to ``out`` whole or not at all (a temporary file beside it, renamed when complete)."""
    from ..importers import tape_v1

    write = tape_v1.write_csv if fmt == "csv" else tape_v1.write_jsonl
    with written_whole(out) as partial:
        return int(write(rows, str(partial)))


def _ingest_rows_locally(
    rows: Iterator[dict[str, Any]], db_path: str | None, key_file: str | None, pool_id: str, cutoff: str
) -> dict[str, Any]:
    """Ingest generated/imported rows through the same validation and storage path as the HTTP API."""
    from ..ingest.pipeline import TapeRejected, ingest_tape, iter_rows_as_jsonl
    from ..keys.keyring import KeyringError, load_master_key
    from ..storage.db import connect, migrate
    from ..storage.records import StorageError, get_pool, pool_keys

    dbp, kp = database_and_key(db_path, key_file)
    db = connect(dbp)
    try:
        migrate(db)
        try:
            pool = get_pool(db, pool_id)
            keys = pool_keys(db, load_master_key(key_file=kp), pool_id)
        except (StorageError, KeyringError) as exc:
            raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
        with tempfile.TemporaryFile() as tmp:
            for line in iter_rows_as_jsonl(rows):
                tmp.write(line)
            tmp.seek(0)
            try:
                out = ingest_tape(
                    db, pool, keys, cutoff, tmp, "jsonl", submitted_by="operator:cli", max_bytes=1 << 40
                )
            except TapeRejected as exc:
                raise CliFailure(
                    ExitCode.UNUSABLE,
                    f"tape rejected: {json.dumps(exc.report.to_errors(), ensure_ascii=False)[:4000]}",
                ) from None
        return out.result
    finally:
        db.conn.close()


class _TapeTotals:
    """Counts loans and sums their outstanding principal while the rows stream past."""

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self._rows = rows
        self.loans = 0
        self.principal_minor = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self._rows:
            self.loans += 1
            self.principal_minor += int(row.get("current_principal_fen") or 0)
            yield row


@click.command()
@click.option("--loans", "n_loans", type=int, required=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--cutoff", required=True, help="first cut-off date of the pool (YYYY-MM-DD)")
@click.option("--pool-id", default="SYNTH", show_default=True)
@click.option("--month", type=int, default=0, show_default=True, help="which monthly tape (0 = first)")
@click.option("--out", default=None, help="write the tape to this file")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--ingest", is_flag=True, help="ingest into pool --pool-id of the local database instead")
@db_option
@master_key_option
@json_option
def synth(
    n_loans: int,
    seed: int,
    cutoff: str,
    pool_id: str,
    month: int,
    out: str | None,
    fmt: str,
    ingest: bool,
    db_path: str | None,
    master_key_file: str | None,
    as_json: bool,
) -> None:
    """Generate a seeded synthetic e-commerce instalment tape (CNY, money in fen)."""
    from ..synth import generate_tape, monthly_cutoff
    from ..units import minor_units, money

    try:
        first = date.fromisoformat(cutoff)
    except ValueError:
        raise CliFailure(ExitCode.UNUSABLE, f"--cutoff {cutoff!r}: expected a date YYYY-MM-DD") from None
    if n_loans < 1:
        raise CliFailure(ExitCode.UNUSABLE, f"--loans {n_loans}: expected at least 1")
    at = monthly_cutoff(first, month).isoformat()
    rows = _TapeTotals(generate_tape(n_loans, seed=seed, cutoff=first, pool_id=pool_id, month=month))
    if ingest:
        result = _ingest_rows_locally(iter(rows), db_path, master_key_file, pool_id, at)
        emit(as_json, result, [json.dumps(result, indent=2)])
        return
    if not out:
        raise click.UsageError("give --out FILE or --ingest")
    written = _write_rows(rows, out, fmt)
    emit(
        as_json,
        {
            "out": out,
            "format": fmt,
            "loans": written,
            "cutoff": at,
            "currency": "CNY",
            "outstanding_principal_fen": rows.principal_minor,
        },
        [
            f"{written} rows written to {out} (cut-off {at}); outstanding principal "
            f"{money(rows.principal_minor, 'CNY')} = {minor_units(rows.principal_minor, 'CNY')}",
            f"next: poolproof submit {out} --api-key $API_KEY --pool {pool_id} --cutoff {at} "
            "--signing-key PLATFORM.pem",
        ],
    )


