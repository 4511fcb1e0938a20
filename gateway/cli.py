"""``poolproof`` command line: a thin shell over the gateway's library calls.

Commands: ``home``, ``init``, ``serve`` (waitress), ``pools``, ``parties``, ``keygen``, ``submit`` (signed
HTTP upload), ``get`` (an authenticated API read), ``import`` (a CSV export through a column mapping,
:mod:`gateway.import_cli`), ``synth`` (synthetic tapes), ``seal``, ``claim``, ``demo``, ``keys``,
``backup``/``restore`` and, when present, ``policy ...``. Every command exits
with a code of :mod:`proofs.exit_codes`; those that report a result take ``--json``. Files go to the
instance folder (:mod:`gateway.instance`) unless told otherwise.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import click

from proofs.exit_codes import ExitCode

from .cli_common import (
    CliFailure,
    emit,
    gateway_request,
    http_failure,
    json_body,
    json_option,
    url_option,
    written_whole,
)
from .instance import GATEWAY_PUBLIC_KEY_NAME, ensure_private_folder, instance_folder, instance_paths


def _paths(db: str | None, key_file: str | None) -> tuple[Path, Path]:
    paths = instance_paths(db, key_file)
    return paths.database, paths.master_key


_db_opt = click.option(
    "--db",
    "db_path",
    default=None,
    help="SQLite file (env POOLPROOF_DATABASE; default: in the instance folder)",
)
_key_opt = click.option(
    "--master-key-file", default=None, help="master key file (env POOLPROOF_MASTER_KEY_FILE)"
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("poolproof")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        return "unknown"


@click.group()
@click.version_option(_version(), "--version", prog_name="poolproof", message="%(prog)s %(version)s")
def cli() -> None:
    """PoolProof gateway: loan-tape submission, policy-governed views, sealed snapshots and claims.

    Exit codes: 0 OK, 1 FAILED (verification failed or claim false), 2 UNUSABLE input, 3 REFUSED by
    policy, 4 AUTH failed, 5 UNREACHABLE gateway, 6 SERVER error. Files go to the instance folder
    ($POOLPROOF_HOME, default ~/.local/share/poolproof; see 'poolproof home').
    """


@cli.command()
@json_option
def home(as_json: bool) -> None:
    """Print the instance folder (creating it, mode 0700): database, master key, gateway keys."""
    folder = instance_folder()
    try:
        ensure_private_folder(folder)
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"instance folder {folder}: {exc.strerror or exc}") from None
    emit(as_json, {"instance_folder": str(folder)}, [str(folder)])


@cli.command()
@_db_opt
@_key_opt
@json_option
def init(db_path: str | None, master_key_file: str | None, as_json: bool) -> None:
    """Create the instance: database (migrated), master key (0600), gateway signing key (0600) and its
    public key (gateway.pub, for verifiers), and an operator API key (printed once)."""
    from proofs.signing import public_key_to_pem

    from .keys.gateway_key import ensure_gateway_key_file, gateway_key_path, load_gateway_key
    from .keys.keyring import generate_master_key_file
    from .storage.db import connect, migrate
    from .storage.records import create_admin_key

    dbp, kp = _paths(db_path, master_key_file)
    lines: list[str] = []
    try:
        ensure_private_folder(dbp.parent)
        ensure_private_folder(kp.parent)
        if not kp.exists():
            generate_master_key_file(kp)
            lines.append(f"master key written to {kp} (mode 0600); keep it outside backups of the database")
        gk = gateway_key_path(_app_config(dbp, kp))
        if ensure_gateway_key_file(gk):
            lines.append(f"gateway signing key written to {gk} (mode 0600)")
        pub = gk.with_name(GATEWAY_PUBLIC_KEY_NAME)
        pub.write_bytes(public_key_to_pem(load_gateway_key(gk).public_key()))
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{exc.filename or dbp.parent}: {exc.strerror or exc}") from None
    lines.append(f"gateway public key written to {pub} (give it to investors, auditors and borrowers)")
    db = connect(dbp)
    try:
        v = migrate(db)
        admin_key = create_admin_key(db)
    finally:
        db.conn.close()
    lines += [
        f"database {dbp} at schema version {v}",
        f"operator API key (shown once): {admin_key}",
        "next: poolproof serve --port 8080   (then register a platform: poolproof keygen acme.pem; "
        "poolproof parties add acme --role platform --public-key-from acme.pem --pool CN1 "
        "--preset CN_CONSUMER)",
    ]
    emit(
        as_json,
        {
            "database": str(dbp),
            "schema_version": v,
            "master_key_file": str(kp),
            "gateway_key_file": str(gk),
            "gateway_public_key_file": str(pub),
            "operator_api_key": admin_key,
        },
        lines,
    )


def _app_config(dbp: Path, kp: Path) -> dict[str, Any]:
    return {"DATABASE": str(dbp), "MASTER_KEY_FILE": str(kp)}


@cli.command()
@_db_opt
@_key_opt
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
def serve(db_path: str | None, master_key_file: str | None, host: str, port: int, threads: int) -> None:
    """Serve the API with waitress (a production WSGI server)."""
    from . import create_app
    from .access import body_limits
    from .keys.keyring import KeyringError, load_master_key
    from .storage.db import connect, migrate

    dbp, kp = _paths(db_path, master_key_file)
    try:
        load_master_key(key_file=kp)  # fail now, not on the first request
    except KeyringError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{exc} (run 'poolproof init' first)") from None
    db = connect(dbp)
    migrate(db)
    db.conn.close()
    app = create_app(_app_config(dbp, kp))
    from .api.snapshots import resume_running_jobs

    for job_id in resume_running_jobs(app):
        click.echo(f"resuming seal job {job_id}")
    from .ingest.rowwork import worker_pool
    from .workers import default_workers

    # Start the ingest workers now, not on the first large tape (spawning costs about a second).
    pool = worker_pool(default_workers())
    list(pool.map(abs, range(default_workers())))
    try:
        # Body limits per request, decided from the head before the body is read
        # (gateway/access/body_limits.py).
        server = body_limits.create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            # Receive in 256 KiB reads, not 8 KiB: waitress hands a request to the app only once its whole
            # body has arrived, so for a 1 GB tape this wait is pure wall time (4.4 s -> 1.4 s at 1M rows).
            recv_bytes=1 << 18,
            channel_timeout=600,
            ident="poolproof",
        )
    except OSError as exc:  # port taken, address not on this machine, no permission
        raise CliFailure(
            ExitCode.UNUSABLE, f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    click.echo(f"serving on http://{host}:{port} (docs at /docs)")
    server.run()


@cli.command()
@click.argument("private_key_path", type=click.Path(dir_okay=False))
@json_option
def keygen(private_key_path: str, as_json: bool) -> None:
    """Generate an Ed25519 tape-signing key (PEM, mode 0600; never overwritten) and print its public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from .keys.tape_signatures import public_key_bytes, write_private_key

    key = Ed25519PrivateKey.generate()
    try:
        write_private_key(key, private_key_path)
    except FileExistsError:
        raise CliFailure(
            ExitCode.UNUSABLE, f"{private_key_path} exists; a signing key is never overwritten"
        ) from None
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{private_key_path}: {exc.strerror or exc}") from None
    public_hex = public_key_bytes(key).hex()
    emit(as_json, {"private_key_file": private_key_path, "public_key": public_hex}, [public_hex])
    if not as_json:
        click.echo(
            f"next: poolproof parties add NAME --role platform --public-key-from {private_key_path} "
            "--pool POOL --preset CN_CONSUMER",
            err=True,
        )


_FORMAT_TYPES = {"jsonl": "application/x-ndjson", "json": "application/json", "csv": "text/csv"}


def _guess_format(path: str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"ndjson": "jsonl", "jsonl": "jsonl", "json": "json", "csv": "csv"}.get(suffix, "jsonl")


def _tape_request(
    api_key: str, pool_id: str, cutoff: str, path: str, private_key_path: str, fmt: str | None
) -> dict[str, str]:
    from .keys.tape_signatures import load_private_key, sign_tape

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    sig = sign_tape(load_private_key(private_key_path), pool_id, cutoff, digest)
    return {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": _FORMAT_TYPES[fmt or _guess_format(path)],
        "X-Tape-SHA256": digest,
        "X-Tape-Signature": base64.b64encode(sig).decode(),
    }


def _tape_url(url: str, pool_id: str, cutoff: str) -> str:
    return f"{url.rstrip('/')}/platform/pools/{pool_id}/cutoffs/{cutoff}/tapes"


def submit_file(
    url: str,
    api_key: str,
    pool_id: str,
    cutoff: str,
    path: str,
    private_key_path: str,
    *,
    fmt: str | None = None,
    idempotency_key: str | None = None,
    timeout: float = 3600,
) -> Any:
    """Sign and stream a tape file to a gateway; returns the ``requests.Response``."""
    import requests

    headers = _tape_request(api_key, pool_id, cutoff, path, private_key_path, fmt)
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    with open(path, "rb") as f:
        return requests.post(_tape_url(url, pool_id, cutoff), data=f, headers=headers, timeout=timeout)


def _rejection_lines(body: Any, limit: int = 20) -> list[str]:
    """The row / field / rule lines of a rejected tape's error report (``errors.tape``), for people."""
    errors = body.get("errors") if isinstance(body, dict) else None
    listed = errors.get("tape") if isinstance(errors, dict) else None
    if not isinstance(listed, list):
        return []
    lines = [
        f"  row {e.get('row')}, field {e.get('field')}, rule {e.get('rule')}: {e.get('message')}"
        for e in listed[:limit]
        if isinstance(e, dict)
    ]
    summary = errors.get("summary") if isinstance(errors, dict) else None
    total = summary.get("error_count") if isinstance(summary, dict) else None
    if isinstance(total, int) and total > len(lines):
        lines.append(f"  ... {total - len(lines):,} more (the whole report: --json)")
    return lines


_progress_opt = click.option(
    "--progress/--no-progress", "show_progress", default=None, help="progress bar (default: on a terminal)"
)


@cli.command()
@click.argument("tape", type=click.Path(exists=True, dir_okay=False))
@url_option
@click.option(
    "--api-key",
    envvar="POOLPROOF_API_KEY",
    required=True,
    help="the platform's API key, printed once by 'poolproof parties add' (env POOLPROOF_API_KEY)",
)
@click.option("--pool", "pool_id", required=True)
@click.option("--cutoff", required=True, help="cut-off date YYYY-MM-DD")
@click.option(
    "--signing-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="the platform's Ed25519 PEM (from 'poolproof keygen')",
)
@click.option("--format", "fmt", type=click.Choice(sorted(_FORMAT_TYPES)), default=None)
@click.option("--idempotency-key", default=None)
@_progress_opt
@json_option
def submit(
    tape: str,
    url: str,
    api_key: str,
    pool_id: str,
    cutoff: str,
    signing_key: str,
    fmt: str | None,
    idempotency_key: str | None,
    show_progress: bool | None,
    as_json: bool,
) -> None:
    """Sign TAPE (Ed25519 over its SHA-256) and submit it to a running gateway."""
    from .cli_progress import ProgressReader, byte_progress, progress_enabled

    try:
        headers = _tape_request(api_key, pool_id, cutoff, tape, signing_key, fmt)
    except ValueError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"--signing-key {signing_key}: {exc}") from None
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{exc.filename}: {exc.strerror or exc}") from None
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    size = Path(tape).stat().st_size
    with byte_progress(progress_enabled(show_progress)) as progress, open(tape, "rb") as f:
        task = progress.add_task(f"submit {Path(tape).name}", total=size)
        resp = gateway_request(
            "POST",
            _tape_url(url, pool_id, cutoff),
            data=ProgressReader(f, size, progress, task),
            headers=headers,
            timeout=3600,
        )
    if resp.status_code >= 400:
        failure = http_failure(resp, f"submit {tape}")
        if as_json:
            with contextlib.suppress(ValueError):
                click.echo(json.dumps(resp.json(), indent=2, ensure_ascii=False))
        else:
            try:
                details = _rejection_lines(resp.json())
            except ValueError:
                details = []
            if details:
                failure = CliFailure(
                    ExitCode(failure.exit_code), "\n".join([failure.format_message(), *details])
                )
        raise failure
    result = json_body(resp, f"submit {tape}")
    emit(
        as_json,
        result,
        [
            f"tape {result.get('tape_id')} accepted for pool {result.get('pool_id')} cut-off "
            f"{result.get('cutoff_date')}: {result.get('rows', 0):,} loans, "
            f"{result.get('flagged_rows', 0):,} flagged, "
            f"signature verified: {result.get('signature_verified')}",
            f"content SHA-256 {result.get('content_sha256')}",
            f"next: poolproof seal --pool {pool_id} --cutoff {cutoff}",
        ],
    )


_party_api_key_opt = click.option(
    "--api-key",
    envvar="POOLPROOF_API_KEY",
    required=True,
    help="the calling party's API key, printed once by 'poolproof parties add' (env POOLPROOF_API_KEY)",
)


def _api_path(path: str) -> str:
    if not path.startswith("/"):
        raise CliFailure(ExitCode.UNUSABLE, f"PATH {path!r}: expected an API path starting with '/'")
    return path


@cli.command("get")
@click.argument("path")
@url_option
@_party_api_key_opt
@click.option("--pick", default=None, help="print only this member, e.g. loans.0.platform_loan_id")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="write the answer to this file")
def get_cmd(path: str, url: str, api_key: str, pick: str | None, out: str | None) -> None:
    """Read PATH of the gateway's API (e.g. /auditor/pools/CN1/snapshots/2026-10-31/bundle) as a party."""
    _api_path(path)
    resp = gateway_request(
        "GET", url.rstrip("/") + path, headers={"Authorization": f"Bearer {api_key}"}, timeout=600
    )
    if resp.status_code >= 400:
        raise http_failure(resp, f"GET {path.split('?')[0]}")
    if pick is None:
        text: str = resp.text
    else:
        value = json_body(resp, f"GET {path}")
        for part in pick.split("."):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                raise CliFailure(ExitCode.UNUSABLE, f"--pick {pick}: the answer has no {part!r} there")
        text = value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False)
    if out:
        with written_whole(out) as partial:
            partial.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(text.encode()):,} bytes to {out}")
    else:
        click.echo(text)


@cli.command("post")
@click.argument("path")
@click.argument("body_file", type=click.Path(dir_okay=False))
@url_option
@_party_api_key_opt
def post_cmd(path: str, body_file: str, url: str, api_key: str) -> None:
    """Send BODY_FILE, a JSON document, to PATH of the gateway's API as a party, and print the answer.

    For example a witness's cosignature (from 'poolproof-audit verify-snapshot --cosign'):
    poolproof post /auditor/pools/CN1/snapshots/2026-10-31/cosignatures snapshot.json.cosignature.json
    """
    _api_path(path)
    try:
        document = json.loads(Path(body_file).read_bytes())
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{body_file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{body_file}: not a JSON document ({exc})") from None
    resp = gateway_request(
        "POST",
        url.rstrip("/") + path,
        json=document,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=600,
    )
    if resp.status_code >= 400:
        raise http_failure(resp, f"POST {path.split('?')[0]}")
    click.echo(json.dumps(json_body(resp, f"POST {path}"), indent=1, ensure_ascii=False))


def _write_rows(rows: Iterable[dict[str, Any]], out: str, fmt: str) -> int:
    """Write the tape to ``out`` whole or not at all (a temporary file beside it, renamed when complete)."""
    from .importers import tape_v1

    write = tape_v1.write_csv if fmt == "csv" else tape_v1.write_jsonl
    with written_whole(out) as partial:
        return int(write(rows, str(partial)))


def _ingest_rows_locally(
    rows: Iterator[dict[str, Any]], db_path: str | None, key_file: str | None, pool_id: str, cutoff: str
) -> dict[str, Any]:
    """Ingest generated/imported rows through the same validation and storage path as the HTTP API."""
    from .ingest.pipeline import TapeRejected, ingest_tape, iter_rows_as_jsonl
    from .keys.keyring import KeyringError, load_master_key
    from .storage.db import connect, migrate
    from .storage.records import StorageError, get_pool, pool_keys

    dbp, kp = _paths(db_path, key_file)
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


@cli.command()
@click.option("--loans", "n_loans", type=int, required=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--cutoff", required=True, help="first cut-off date of the pool (YYYY-MM-DD)")
@click.option("--pool-id", default="SYNTH", show_default=True)
@click.option("--month", type=int, default=0, show_default=True, help="which monthly tape (0 = first)")
@click.option("--out", default=None, help="write the tape to this file")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--ingest", is_flag=True, help="ingest into pool --pool-id of the local database instead")
@_db_opt
@_key_opt
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
    from .synth import generate_tape, monthly_cutoff
    from .units import minor_units, money

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


def _mount_policy() -> None:
    try:
        from policies.cli import policy_group
    except ImportError:  # policies without a CLI: nothing to mount
        return
    cli.add_command(policy_group, "policy")


_mount_policy()


def _mount_onboarding() -> None:
    from .onboarding_cli import parties_group, pools_group, witnesses_group

    cli.add_command(pools_group)
    cli.add_command(parties_group)
    cli.add_command(witnesses_group)


_mount_onboarding()


def _mount_snapshots() -> None:
    from .snapshot_cli import claim_cmd, demo_cmd, seal_cmd

    cli.add_command(seal_cmd)
    cli.add_command(claim_cmd)
    cli.add_command(demo_cmd)


_mount_snapshots()


def _mount_keys() -> None:
    from .keys_cli import backup_cmd, keys_group, restore_cmd

    cli.add_command(keys_group)
    cli.add_command(backup_cmd)
    cli.add_command(restore_cmd)


_mount_keys()


def _mount_access() -> None:
    from .access_cli import api_keys_group, grants_group

    cli.add_command(api_keys_group)
    cli.add_command(grants_group)


_mount_access()


def _mount_import() -> None:
    from .import_cli import import_cmd

    cli.add_command(import_cmd)


_mount_import()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="poolproof")
