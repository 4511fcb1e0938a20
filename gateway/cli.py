"""``poolproof`` command line: a thin shell over the gateway's library calls.

Commands: ``init``, ``serve`` (waitress), ``parties add``, ``keygen``, ``submit`` (signed HTTP upload),
``import`` (a CSV export through a column mapping; :mod:`gateway.import_cli`), ``synth`` (synthetic
tapes) and, when present, ``policy ...``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date
from importlib import import_module
from pathlib import Path
from typing import Any

import click

DEFAULT_INSTANCE = Path("instance")


def _paths(db: str | None, key_file: str | None) -> tuple[Path, Path]:
    inst = Path(os.environ.get("POOLPROOF_INSTANCE", DEFAULT_INSTANCE))
    dbp = Path(db or os.environ.get("POOLPROOF_DATABASE") or inst / "poolproof.db")
    kp = Path(key_file or os.environ.get("POOLPROOF_MASTER_KEY_FILE") or dbp.with_name("master.key"))
    return dbp, kp


_db_opt = click.option("--db", "db_path", default=None, help="SQLite file (env POOLPROOF_DATABASE)")
_key_opt = click.option(
    "--master-key-file", default=None, help="master key file (env POOLPROOF_MASTER_KEY_FILE)"
)


@click.group()
def cli() -> None:
    """PoolProof gateway: loan-tape submission, policy-governed views."""


@cli.command()
@_db_opt
@_key_opt
def init(db_path: str | None, master_key_file: str | None) -> None:
    """Create the database (migrated), a master key file and an operator key (printed once)."""
    from .db import connect, migrate
    from .keyring import generate_master_key_file
    from .storage import create_admin_key

    dbp, kp = _paths(db_path, master_key_file)
    dbp.parent.mkdir(parents=True, exist_ok=True)
    if not kp.exists():
        generate_master_key_file(kp)
        click.echo(f"master key written to {kp} (mode 0600); keep it outside backups of the database")
    from .gateway_key import ensure_gateway_key_file, gateway_key_path

    gk = gateway_key_path(_app_config(dbp, kp))
    if ensure_gateway_key_file(gk):
        click.echo(f"gateway signing key written to {gk} (mode 0600)")
    db = connect(dbp)
    try:
        v = migrate(db)
        click.echo(f"database {dbp} at schema version {v}")
        click.echo(f"operator API key (shown once): {create_admin_key(db)}")
    finally:
        db.conn.close()


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
    import waitress

    from . import create_app
    from .db import connect, migrate
    from .keyring import load_master_key

    dbp, kp = _paths(db_path, master_key_file)
    load_master_key(key_file=kp)  # fail now, not on the first request
    db = connect(dbp)
    migrate(db)
    db.conn.close()
    app = create_app(_app_config(dbp, kp))
    from .api.snapshots import resume_running_jobs

    for job_id in resume_running_jobs(app):
        click.echo(f"resuming seal job {job_id}")
    limit = int(app.config["MAX_TAPE_BYTES"])
    from .rowwork import default_workers, worker_pool

    # Start the ingest workers now, not on the first large tape (spawning costs about a second).
    pool = worker_pool(default_workers())
    list(pool.map(abs, range(default_workers())))
    click.echo(f"serving on http://{host}:{port} (docs at /docs)")
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=limit + (1 << 20),
        # Receive in 256 KiB reads, not 8 KiB: waitress hands a request to the app only once its whole
        # body has arrived, so for a 1 GB tape this wait is pure wall time (4.4 s -> 1.4 s at 1M rows).
        recv_bytes=1 << 18,
        channel_timeout=600,
        ident="poolproof",
    )


@cli.group()
def parties() -> None:
    """Manage parties (directly in the database)."""


@parties.command("add")
@_db_opt
@click.argument("party_id")
@click.option(
    "--role", required=True, help="platform, trustee, rating_agency, investor, auditor, regulator, borrower"
)
@click.option("--name", "display_name", default="")
@click.option("--public-key", default=None, help="Ed25519 public key, 64 hex digits (platforms)")
@click.option(
    "--public-key-from",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="read the public key from an Ed25519 private key PEM",
)
@click.option("--pool", "pools", multiple=True, help="grant access to a pool (repeatable)")
@click.option(
    "--obligor-key", "obligor_keys", multiple=True, help="borrower's obligor_pseudo_id (repeatable)"
)
def parties_add(
    db_path: str | None,
    party_id: str,
    role: str,
    display_name: str,
    public_key: str | None,
    public_key_from: str | None,
    pools: tuple[str, ...],
    obligor_keys: tuple[str, ...],
) -> None:
    """Register a party and print its API key (shown once, stored hashed)."""
    from .db import connect, migrate
    from .signing import load_private_key, public_key_bytes
    from .storage import StorageError, create_party, grant_pool

    pk: bytes | None = None
    if public_key_from:
        pk = public_key_bytes(load_private_key(public_key_from))
    elif public_key:
        pk = bytes.fromhex(public_key)
    dbp, _ = _paths(db_path, None)
    db = connect(dbp)
    try:
        migrate(db)
        party, key = create_party(
            db, party_id, role, display_name=display_name, public_key=pk, obligor_keys=obligor_keys
        )
        for p in pools:
            grant_pool(db, p, party.id)
    except (StorageError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.conn.close()
    click.echo(f"party {party_id} ({role}) created")
    click.echo(f"API key (shown once): {key}")


@cli.command()
@click.argument("private_key_path", type=click.Path(dir_okay=False))
def keygen(private_key_path: str) -> None:
    """Generate an Ed25519 signing key (PEM, mode 0600) and print its public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from .signing import public_key_bytes, write_private_key

    key = Ed25519PrivateKey.generate()
    write_private_key(key, private_key_path)
    click.echo(public_key_bytes(key).hex())


_FORMAT_TYPES = {"jsonl": "application/x-ndjson", "json": "application/json", "csv": "text/csv"}


def _guess_format(path: str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"ndjson": "jsonl", "jsonl": "jsonl", "json": "json", "csv": "csv"}.get(suffix, "jsonl")


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

    from .signing import load_private_key, sign_tape

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    sig = sign_tape(load_private_key(private_key_path), pool_id, cutoff, digest)
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": _FORMAT_TYPES[fmt or _guess_format(path)],
        "X-Tape-SHA256": digest,
        "X-Tape-Signature": base64.b64encode(sig).decode(),
    }
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    with open(path, "rb") as f:
        return requests.post(
            f"{url.rstrip('/')}/platform/pools/{pool_id}/cutoffs/{cutoff}/tapes",
            data=f,
            headers=headers,
            timeout=timeout,
        )


@cli.command()
@click.argument("tape", type=click.Path(exists=True, dir_okay=False))
@click.option("--url", default="http://127.0.0.1:8080", show_default=True)
@click.option(
    "--api-key", envvar="POOLPROOF_API_KEY", required=True, help="platform API key (env POOLPROOF_API_KEY)"
)
@click.option("--pool", "pool_id", required=True)
@click.option("--cutoff", required=True, help="cut-off date YYYY-MM-DD")
@click.option(
    "--signing-key", required=True, type=click.Path(exists=True, dir_okay=False), help="Ed25519 PEM"
)
@click.option("--format", "fmt", type=click.Choice(sorted(_FORMAT_TYPES)), default=None)
@click.option("--idempotency-key", default=None)
def submit(
    tape: str,
    url: str,
    api_key: str,
    pool_id: str,
    cutoff: str,
    signing_key: str,
    fmt: str | None,
    idempotency_key: str | None,
) -> None:
    """Sign TAPE (Ed25519 over its SHA-256) and submit it to a running gateway."""
    resp = submit_file(
        url, api_key, pool_id, cutoff, tape, signing_key, fmt=fmt, idempotency_key=idempotency_key
    )
    click.echo(json.dumps(resp.json(), indent=2, ensure_ascii=False))
    if resp.status_code >= 400:
        sys.exit(1)


def _write_rows(rows: Iterable[dict[str, Any]], out: str, fmt: str) -> int:
    from .importers import tape_v1

    if fmt == "csv":
        return int(tape_v1.write_csv(rows, out))
    return int(tape_v1.write_jsonl(rows, out))


def _ingest_rows_locally(
    rows: Iterator[dict[str, Any]], db_path: str | None, key_file: str | None, pool_id: str, cutoff: str
) -> dict[str, Any]:
    """Ingest generated/imported rows through the same validation and storage path as the HTTP API."""
    from .db import connect, migrate
    from .ingest import TapeRejected, ingest_tape, iter_rows_as_jsonl
    from .keyring import KeyringError, load_master_key
    from .storage import StorageError, get_pool, pool_keys

    dbp, kp = _paths(db_path, key_file)
    db = connect(dbp)
    try:
        migrate(db)
        try:
            pool = get_pool(db, pool_id)
            keys = pool_keys(db, load_master_key(key_file=kp), pool_id)
        except (StorageError, KeyringError) as exc:
            raise click.ClickException(str(exc)) from exc
        with tempfile.TemporaryFile() as tmp:
            for line in iter_rows_as_jsonl(rows):
                tmp.write(line)
            tmp.seek(0)
            try:
                out = ingest_tape(
                    db, pool, keys, cutoff, tmp, "jsonl", submitted_by="operator:cli", max_bytes=1 << 40
                )
            except TapeRejected as exc:
                raise click.ClickException(
                    f"tape rejected: {json.dumps(exc.report.to_errors(), ensure_ascii=False)[:4000]}"
                ) from exc
        return out.result
    finally:
        db.conn.close()


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
) -> None:
    """Generate a seeded synthetic e-commerce instalment tape."""
    from .synth import generate_tape, monthly_cutoff

    first = date.fromisoformat(cutoff)
    rows = generate_tape(n_loans, seed=seed, cutoff=first, pool_id=pool_id, month=month)
    if ingest:
        at = monthly_cutoff(first, month).isoformat()
        click.echo(json.dumps(_ingest_rows_locally(rows, db_path, master_key_file, pool_id, at), indent=2))
        return
    if not out:
        raise click.UsageError("give --out FILE or --ingest")
    click.echo(f"{_write_rows(rows, out, fmt)} rows written to {out}")


def _mount_policy() -> None:
    try:
        from policies.cli import policy_group
    except ImportError:  # policies without a CLI: nothing to mount
        return
    cli.add_command(policy_group, "policy")


_mount_policy()


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


cli.add_command(import_module("gateway.import_cli").import_cmd)


def main() -> None:
    """Console-script entry point."""
    cli()
