"""``poolproof api-keys ...`` and ``poolproof grants ...``: thin commands over :mod:`gateway.access.admin`.

They work on the database directly (as ``poolproof parties add`` does), as the operator; every change
is appended to the decision log as made by ``operator:cli``. Exit codes (``proofs/exit_codes.py``):
0 done, 2 unusable input (unknown party, pool or key; an expiry not in the future).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import sqlite_utils

from proofs.exit_codes import ExitCode

from ..access.admin import (
    AccessChange,
    ApiKeyRecord,
    add_grant,
    issue_key,
    list_grants,
    list_keys,
    log_access_change,
    revoke_key,
    withdraw_grant,
)
from ..config import GatewayConfig
from ..storage.records import StorageError
from ._common import database_and_key, db_option

CLI_ACTOR = "operator:cli"


class AccessRefused(click.ClickException):
    """An access change that cannot be made as asked (exit code 2, UNUSABLE)."""

    exit_code = int(ExitCode.UNUSABLE)


@contextmanager
def _database(db_path: str | None) -> Iterator[tuple[sqlite_utils.Database, Path]]:
    from ..storage.db import connect, migrate

    dbp, _ = database_and_key(db_path, None)
    if not dbp.exists():
        raise AccessRefused(f"no database at {dbp}; run 'poolproof init' first")
    db = connect(dbp)
    try:
        migrate(db)
        yield db, dbp
    finally:
        db.conn.close()


def record_changes(dbp: Path, changes: Iterable[AccessChange]) -> None:
    """Append ``changes`` to the decision log next to the database at ``dbp``, made by ``operator:cli``."""
    from policies import load_policy

    from ..storage.decisions import connect_log, log_path_for

    env = GatewayConfig.from_environment()
    log_db = connect_log(env.decision_log_database or log_path_for(dbp))
    try:
        version = load_policy(env.policy_path).version
        log_access_change(log_db, CLI_ACTOR, changes, version)
    finally:
        log_db.conn.close()


def _echo(as_json: bool, doc: Any, text: str) -> None:
    click.echo(json.dumps(doc, indent=2) if as_json else text)


def _key_line(k: ApiKeyRecord) -> str:
    return (
        f"{k.key_id}  {k.state():8}  label={k.label!r}  created={k.created_at}  "
        f"expires={k.expires_at or '-'}  revoked={k.revoked_at or '-'}"
    )


_json_opt = click.option("--json", "as_json", is_flag=True, help="print JSON")


@click.group("api-keys")
def api_keys_group() -> None:
    """Issue, list and revoke a party's API keys (a key is shown once and stored only hashed)."""


@api_keys_group.command("issue")
@db_option
@click.argument("party_id")
@click.option("--label", default="", help="what the key is for (shown in listings)")
@click.option(
    "--expires-at",
    default=None,
    help="ISO 8601 time with a UTC offset (e.g. 2025-06-30T00:00:00Z); refused from then on",
)
@_json_opt
def issue_cmd(db_path: str | None, party_id: str, label: str, expires_at: str | None, as_json: bool) -> None:
    """Issue a further API key for PARTY_ID and print it (shown once)."""
    expires = None
    if expires_at is not None:
        try:
            expires = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
        except ValueError:
            raise AccessRefused(f"--expires-at {expires_at!r} is not an ISO 8601 time") from None
    with _database(db_path) as (db, dbp):
        try:
            record, key = issue_key(db, party_id, label=label, expires_at=expires)
        except (StorageError, ValueError) as exc:
            raise AccessRefused(str(exc)) from exc
        record_changes(dbp, [AccessChange("api_key.issued", party_id, record.key_id)])
    _echo(as_json, {**record.to_dict(), "api_key": key}, f"{_key_line(record)}\nAPI key (shown once): {key}")


@api_keys_group.command("list")
@db_option
@click.argument("party_id")
@_json_opt
def list_cmd(db_path: str | None, party_id: str, as_json: bool) -> None:
    """List PARTY_ID's keys: id, state, label, created, expires, revoked (never a key or its hash)."""
    with _database(db_path) as (db, _):
        try:
            keys = list_keys(db, party_id)
        except StorageError as exc:
            raise AccessRefused(str(exc)) from exc
    _echo(as_json, [k.to_dict() for k in keys], "\n".join(_key_line(k) for k in keys) or "no keys")


@api_keys_group.command("revoke")
@db_option
@click.argument("party_id")
@click.argument("key_id")
@_json_opt
def revoke_cmd(db_path: str | None, party_id: str, key_id: str, as_json: bool) -> None:
    """Revoke PARTY_ID's key KEY_ID; a running gateway refuses it from its next request."""
    with _database(db_path) as (db, dbp):
        try:
            record, changed = revoke_key(db, party_id, key_id)
        except StorageError as exc:
            raise AccessRefused(str(exc)) from exc
        if changed:
            record_changes(dbp, [AccessChange("api_key.revoked", party_id, key_id)])
    _echo(as_json, record.to_dict(), _key_line(record) + ("" if changed else "  (was already revoked)"))


@click.group("grants")
def grants_group() -> None:
    """Add, withdraw and list a party's pool grants."""


@grants_group.command("add")
@db_option
@click.argument("party_id")
@click.argument("pool_id")
def grant_add_cmd(db_path: str | None, party_id: str, pool_id: str) -> None:
    """Grant POOL_ID to PARTY_ID."""
    with _database(db_path) as (db, dbp):
        try:
            added = add_grant(db, party_id, pool_id)
        except (StorageError, ValueError) as exc:
            raise AccessRefused(str(exc)) from exc
        if added:
            record_changes(dbp, [AccessChange("grant.added", party_id, pool_id=pool_id)])
    click.echo(f"{party_id} holds {pool_id}" + ("" if added else " (already granted)"))


@grants_group.command("remove")
@db_option
@click.argument("party_id")
@click.argument("pool_id")
def grant_remove_cmd(db_path: str | None, party_id: str, pool_id: str) -> None:
    """Withdraw PARTY_ID's grant of POOL_ID; a running gateway refuses its next request for the pool."""
    with _database(db_path) as (db, dbp):
        try:
            withdraw_grant(db, party_id, pool_id)
        except StorageError as exc:
            raise AccessRefused(str(exc)) from exc
        record_changes(dbp, [AccessChange("grant.withdrawn", party_id, pool_id=pool_id)])
    click.echo(f"{party_id} no longer holds {pool_id}")


@grants_group.command("list")
@db_option
@click.argument("party_id")
@_json_opt
def grant_list_cmd(db_path: str | None, party_id: str, as_json: bool) -> None:
    """List the pools granted to PARTY_ID."""
    with _database(db_path) as (db, _):
        try:
            grants = list_grants(db, party_id)
        except StorageError as exc:
            raise AccessRefused(str(exc)) from exc
    text = "\n".join(f"{g['pool_id']}  granted={g['granted_at']}" for g in grants) or "no grants"
    _echo(as_json, grants, text)
