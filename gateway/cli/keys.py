"""``poolproof keys ...``, ``poolproof backup`` and ``poolproof restore``: thin commands over
:mod:`gateway.keys.rotation` and :mod:`gateway.keys.backup`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from proofs.exit_codes import ExitCode

from ._common import CliFailure, app_config, database_and_key, db_option, emit, json_option, master_key_option

if TYPE_CHECKING:
    from ..keys.rotation import GatewayRevocation, GatewayRotation, MasterRotation


def _gateway_key_file(dbp: Path, kp: Path) -> Path:
    from ..keys.gateway_key import gateway_key_path

    return gateway_key_path(app_config(dbp, kp))


@click.group("keys")
def keys_group() -> None:
    """Rotate the master key or the gateway signing key; show the published key history."""


@keys_group.command("rotate-master")
@db_option
@master_key_option
@json_option
def rotate_master(db_path: str | None, master_key_file: str | None, as_json: bool) -> None:
    """Re-wrap every pool data key under a new master key (re-run to finish an interrupted rotation)."""
    from ..keys.key_files import KeyManagementError
    from ..keys.keyring import KeyringError
    from ..keys.rotation import rotate_master_key

    dbp, kp = database_and_key(db_path, master_key_file)
    try:
        done = rotate_master_key(dbp, kp)
    except (KeyManagementError, KeyringError) as exc:
        raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
    emit(
        as_json,
        _document(done),
        [
            f"master key rotated: {done.pools_rewrapped} pool keys re-wrapped "
            f"({done.pools_already_new} already under the new key); old key kept as {done.retired_key_file} "
            "for older backups (delete it when none needs it)"
        ],
    )


@keys_group.command("rotate-gateway")
@db_option
@master_key_option
@json_option
def rotate_gateway(db_path: str | None, master_key_file: str | None, as_json: bool) -> None:
    """Replace the gateway signing key; the history records the new key, vouched for by the old one."""
    from ..keys.gateway_key import GatewayKeyError
    from ..keys.rotation import rotate_gateway_key

    dbp, kp = database_and_key(db_path, master_key_file)
    try:
        done = rotate_gateway_key(_gateway_key_file(dbp, kp))
    except GatewayKeyError as exc:
        raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
    emit(
        as_json,
        _document(done),
        [
            f"gateway key rotated: {done.old_key_id} -> {done.new_key_id} "
            f"({done.keys_in_history} keys in the history); restart the server to sign with the new key"
        ],
    )


@keys_group.command("revoke-gateway")
@click.argument("key_id")
@click.option("--reason", required=True, help="why, e.g. 'retired key file leaked' (published)")
@db_option
@master_key_option
@json_option
def revoke_gateway(
    key_id: str, reason: str, db_path: str | None, master_key_file: str | None, as_json: bool
) -> None:
    """Revoke a retired gateway signing key in the history (signed by the current key)."""
    from ..keys.gateway_key import GatewayKeyError
    from ..keys.key_files import KeyManagementError
    from ..keys.rotation import revoke_gateway_key

    dbp, kp = database_and_key(db_path, master_key_file)
    try:
        done = revoke_gateway_key(_gateway_key_file(dbp, kp), key_id, reason)
    except (GatewayKeyError, KeyManagementError) as exc:
        raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
    emit(
        as_json,
        _document(done),
        [
            f"gateway key {done.revoked_key_id} revoked ({done.entries_in_history} entries in the "
            "history); verifiers refuse anything it signs"
        ],
    )


@keys_group.command("history")
@db_option
@master_key_option
def history(db_path: str | None, master_key_file: str | None) -> None:
    """Print the gateway key history (JSON)."""
    from ..keys.rotation import load_history

    dbp, kp = database_and_key(db_path, master_key_file)
    click.echo(json.dumps(load_history(_gateway_key_file(dbp, kp)), indent=1, sort_keys=True))


def _document(result: MasterRotation | GatewayRotation | GatewayRevocation) -> dict[str, object]:
    """A rotation or revocation result as JSON values (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(result).items()}


def _key_files(dbp: Path, kp: Path) -> list[Path]:
    from ..keys.rotation import history_path

    gk = _gateway_key_file(dbp, kp)
    retired = sorted(kp.parent.glob(kp.name + ".retired-*"))
    return [kp, gk, history_path(gk), *retired]


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--no-keys", is_flag=True, help="copy only the databases (keep the keys elsewhere)")
@db_option
@master_key_option
@json_option
def backup_cmd(
    dest: str, no_keys: bool, db_path: str | None, master_key_file: str | None, as_json: bool
) -> None:
    """Write a consistent backup (databases via SQLite's online backup, key files, manifest) to DEST."""
    from ..keys.backup import backup
    from ..keys.key_files import KeyManagementError

    dbp, kp = database_and_key(db_path, master_key_file)
    try:
        manifest = backup(dbp, dest, [] if no_keys else _key_files(dbp, kp))
    except (KeyManagementError, FileExistsError) as exc:
        raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
    lines = [
        f"{info['sha256'][:16]}  {info['bytes']:>12,}  {name}"
        for name, info in sorted(manifest["files"].items())
    ]
    lines.append(f"backup written to {dest}; keys/ holds secrets: store it apart from the database copies")
    emit(as_json, manifest, lines)


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.option("--force", is_flag=True, help="overwrite existing files")
@db_option
@master_key_option
@json_option
def restore_cmd(
    src: str, force: bool, db_path: str | None, master_key_file: str | None, as_json: bool
) -> None:
    """Check a backup (SHA-256 of every file, integrity of every database) and restore it."""
    from ..keys.backup import restore
    from ..keys.key_files import KeyManagementError

    dbp, kp = database_and_key(db_path, master_key_file)
    try:
        written = restore(src, dbp, kp.parent, force=force)
    except KeyManagementError as exc:  # a file whose digest or database integrity check fails
        raise CliFailure(ExitCode.FAILED, f"restore refused: {exc}") from None
    emit(as_json, {"restored": [str(p) for p in written]}, [f"restored {path}" for path in written])
