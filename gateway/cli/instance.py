"""``poolproof home``, ``init`` and ``serve``: create the instance (database, keys) and serve its API."""

from __future__ import annotations

import click

from proofs.exit_codes import ExitCode

from ..instance import GATEWAY_PUBLIC_KEY_NAME, ensure_private_folder, instance_folder
from ._common import (
    CliFailure,
    app_config,
    database_and_key,
    db_option,
    emit,
    json_option,
    master_key_option,
)


@click.command()
@json_option
def home(as_json: bool) -> None:
    """Print the instance folder (creating it, mode 0700): database, master key, gateway keys."""
    folder = instance_folder()
    try:
        ensure_private_folder(folder)
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"instance folder {folder}: {exc.strerror or exc}") from None
    emit(as_json, {"instance_folder": str(folder)}, [str(folder)])


@click.command()
@db_option
@master_key_option
@json_option
def init(db_path: str | None, master_key_file: str | None, as_json: bool) -> None:
    """Create the instance: database (migrated), master key (0600), gateway signing key (0600) and its
    public key (gateway.pub, for verifiers), and an operator API key (printed once)."""
    from proofs.signing import public_key_to_pem

    from ..keys.gateway_key import ensure_gateway_key_file, gateway_key_path, load_gateway_key
    from ..keys.keyring import generate_master_key_file
    from ..storage.db import connect, migrate
    from ..storage.records import create_admin_key

    dbp, kp = database_and_key(db_path, master_key_file)
    lines: list[str] = []
    try:
        ensure_private_folder(dbp.parent)
        ensure_private_folder(kp.parent)
        if not kp.exists():
            generate_master_key_file(kp)
            lines.append(f"master key written to {kp} (mode 0600); keep it outside backups of the database")
        gk = gateway_key_path(app_config(dbp, kp))
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



@click.command()
@db_option
@master_key_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
def serve(db_path: str | None, master_key_file: str | None, host: str, port: int, threads: int) -> None:
    """Serve the API with waitress (a production WSGI server)."""
    from .. import create_app
    from ..access import body_limits
    from ..keys.keyring import KeyringError, load_master_key
    from ..storage.db import connect, migrate

    dbp, kp = database_and_key(db_path, master_key_file)
    try:
        load_master_key(key_file=kp)  # fail now, not on the first request
    except KeyringError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{exc} (run 'poolproof init' first)") from None
    db = connect(dbp)
    migrate(db)
    db.conn.close()
    app = create_app(app_config(dbp, kp))
    from ..jobs import resume_running_jobs

    for job_id in resume_running_jobs(app):
        click.echo(f"resuming seal job {job_id}")
    from ..ingest.rowwork import worker_pool
    from ..workers import default_workers

    # Start the ingest workers now, not on the first large tape (spawning costs about a second).
    pool = worker_pool(default_workers())
    list(pool.map(abs, range(default_workers())))
    try:
        # Body limits per request, decided from the head before the body is read (access/body_limits.py).
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

