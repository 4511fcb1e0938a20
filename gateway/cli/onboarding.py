"""``poolproof pools create|list|show`` and ``poolproof parties add|list|show``: the operator's
onboarding commands, working on the instance's database directly (mounted by :mod:`gateway.cli`).

Each command is atomic (:mod:`gateway.access.onboarding`), says what to do next, and takes ``--json``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from proofs.exit_codes import ExitCode

from ..ingest.pool_settings import PRESETS, PoolConfig
from ..storage.records import ROLES, Conflict, NotFound, PartyRecord, StorageError
from ..units import Currency, bps, currency, money
from ._common import CliFailure, database_and_key, db_option, emit, json_option, master_key_option

F = TypeVar("F", bound=Callable[..., Any])


def _open_db(db_path: str | None) -> Any:
    from ..storage.db import connect, migrate

    dbp, _ = database_and_key(db_path, None)
    if not dbp.exists():
        raise CliFailure(ExitCode.UNUSABLE, f"no database at {dbp} (run 'poolproof init' first)")
    db = connect(dbp)
    migrate(db)
    return db


def _master_key(db_path: str | None, master_key_file: str | None) -> bytes:
    from ..keys.keyring import KeyringError, load_master_key

    _, kp = database_and_key(db_path, master_key_file)
    try:
        return load_master_key(key_file=kp)
    except KeyringError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{exc} (run 'poolproof init' first)") from None


def _int_list(value: str | None, option: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(x) for x in value.split(",") if x.strip())
    except ValueError:
        raise CliFailure(
            ExitCode.UNUSABLE, f"{option} {value!r}: expected integers separated by commas"
        ) from None


def pool_settings_options(f: F) -> F:
    """The pool settings the HTTP API accepts on creation: a preset plus overrides."""
    options = [
        click.option(
            "--preset",
            type=click.Choice(sorted(PRESETS)),
            default=None,
            help="jurisdiction preset: CN_CONSUMER (CNY, fen, PRC identity fields) "
            "or US_CONSUMER (USD, cents)",
        ),
        click.option("--dpd-edges", default=None, help="DPD bucket upper bounds, e.g. 0,30,60,90"),
        click.option("--dpd-labels", default=None, help="one label per bucket, e.g. M0,M1,M2,M3,M3+"),
        click.option("--apr-reject-bps", type=int, default=None, help="reject loans above this APR (bps)"),
        click.option("--apr-flag-bps", type=int, default=None, help="flag loans above this APR (bps)"),
        click.option("--default-days", type=int, default=None, help="days past due counted as default"),
        click.option(
            "--max-original-principal",
            type=int,
            default=None,
            help="cap on original principal, in minor units of the currency (fen, cents)",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def pool_config(settings: dict[str, Any]) -> PoolConfig:
    """The pool settings from the options; raises :class:`CliFailure` (UNUSABLE) naming the bad one."""
    preset = settings.pop("preset")
    if preset is None:
        raise CliFailure(ExitCode.UNUSABLE, f"--preset: give one of {', '.join(sorted(PRESETS))}")
    changes: dict[str, Any] = {}
    edges = _int_list(settings.pop("dpd_edges"), "--dpd-edges")
    if edges is not None:
        changes["dpd_edges"] = edges
    labels = settings.pop("dpd_labels")
    if labels is not None:
        changes["dpd_labels"] = tuple(x.strip() for x in labels.split(","))
    for name, value in settings.items():
        if value is not None:
            changes[name] = value
    try:
        return PRESETS[preset].with_overrides(**changes)
    except (ValueError, TypeError) as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"pool settings: {exc}") from None


def _currency(cfg: PoolConfig) -> Currency:
    return currency(cfg.currency, cfg.minor_unit, cfg.minor_per_major)


def _pool_lines(pool: Any) -> list[str]:
    cfg: PoolConfig = pool.config
    cur = _currency(cfg)
    cap = (
        f"{money(cfg.max_original_principal, cur)} ({cfg.max_original_principal:,} {cur.minor_unit})"
        if cfg.max_original_principal
        else "none"
    )
    buckets = ", ".join(
        f"{label} = {days} days" for label, days in zip(cfg.dpd_labels, cfg.dpd_ranges, strict=True)
    )
    return [
        f"pool {pool.id}: preset {cfg.name}, owned by platform {pool.platform_id}, created {pool.created_at}",
        f"  currency {cfg.currency}; money fields (*_fen) are in {cur.minor_unit} "
        f"({cfg.currency} minor units, {cur.minor_per_major} per {cfg.currency})",
        f"  DPD buckets {buckets}; default at {cfg.default_days} days",
        f"  APR: flagged above {bps(cfg.apr_flag_bps)}, rejected above {bps(cfg.apr_reject_bps)}",
        f"  original principal cap: {cap}",
    ]


def _pool_document(pool: Any) -> dict[str, Any]:
    doc: dict[str, Any] = pool.to_dict()
    doc["currency"] = pool.config.currency
    doc["money_unit"] = f"{pool.config.minor_unit} ({pool.config.currency} minor units)"
    return doc


# --- pools -------------------------------------------------------------------------------------------------
@click.group("pools")
def pools_group() -> None:
    """Create and inspect pools (on the instance's database)."""


@pools_group.command("create")
@click.argument("pool_id")
@click.option("--platform", "platform_id", required=True, help="the platform party that owns the pool")
@pool_settings_options
@db_option
@master_key_option
@json_option
def pools_create(
    pool_id: str,
    platform_id: str,
    db_path: str | None,
    master_key_file: str | None,
    as_json: bool,
    **settings: Any,
) -> None:
    """Create POOL_ID for an existing platform (for a new one, 'parties add --pool' does both at once)."""
    from ..access.onboarding import OnboardingError, check_identifier
    from ..storage.records import create_pool

    try:
        check_identifier("pool id", pool_id)
    except OnboardingError as exc:
        raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
    cfg = pool_config(settings)
    master = _master_key(db_path, master_key_file)
    db = _open_db(db_path)
    try:
        pool = create_pool(db, master, pool_id, platform_id, cfg)
    except NotFound:
        raise CliFailure(
            ExitCode.UNUSABLE,
            f"no platform {platform_id!r}: register it with "
            f"'poolproof parties add {platform_id} --role platform "
            f"--public-key-from KEY.pem --pool {pool_id} --preset {cfg.name}' (that creates the pool too)",
        ) from None
    except (Conflict, ValueError) as exc:
        raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
    finally:
        db.conn.close()
    emit(
        as_json,
        _pool_document(pool),
        [
            *_pool_lines(pool),
            f"next: poolproof submit TAPE --api-key $API_KEY --pool {pool_id} --cutoff YYYY-MM-DD "
            f"--signing-key {platform_id}.pem   ($API_KEY: the key 'parties add {platform_id}' printed)",
        ],
    )


@pools_group.command("list")
@db_option
@master_key_option
@json_option
def pools_list(db_path: str | None, master_key_file: str | None, as_json: bool) -> None:
    """Every pool with its owner, preset and currency."""
    from ..storage.records import get_pool, pool_ids

    db = _open_db(db_path)
    try:
        pools = [get_pool(db, p) for p in pool_ids(db)]
    finally:
        db.conn.close()
    lines = [f"{'pool':<16} {'platform':<16} {'preset':<12} currency (unit)"]
    lines += [
        f"{p.id:<16} {p.platform_id:<16} {p.config.name:<12} {p.config.currency} ({p.config.minor_unit})"
        for p in pools
    ]
    if not pools:
        lines = ["no pools yet; next: poolproof parties add NAME --role platform --public-key-from KEY.pem "
                 "--pool POOL --preset CN_CONSUMER"]  # fmt: skip
    emit(as_json, [_pool_document(p) for p in pools], lines)


@pools_group.command("show")
@click.argument("pool_id")
@db_option
@master_key_option
@json_option
def pools_show(pool_id: str, db_path: str | None, master_key_file: str | None, as_json: bool) -> None:
    """One pool: settings with their units, tapes and snapshots, and who may see it."""
    from ..storage.parties import grantees_of
    from ..storage.records import get_pool, list_tapes

    db = _open_db(db_path)
    try:
        try:
            pool = get_pool(db, pool_id)
        except NotFound:
            raise CliFailure(ExitCode.UNUSABLE, f"no pool {pool_id!r} (see 'poolproof pools list')") from None
        tapes = list_tapes(db, pool_id)
        access = [{"party_id": party_id, "role": role} for party_id, role in grantees_of(db, pool_id)]
    finally:
        db.conn.close()
    lines = _pool_lines(pool)
    lines.append(f"  tapes: {len(tapes)}")
    lines += [
        f"    tape {t['tape_id']} cut-off {t['cutoff_date']}: {t['rows']:,} loans, {t['status']}, "
        f"snapshot {t['snapshot_status']}"
        for t in tapes
    ]
    lines.append(
        "  access: " + (", ".join(f"{a['party_id']} ({a['role']})" for a in access) or "none granted yet")
    )
    emit(as_json, {**_pool_document(pool), "tapes": tapes, "access": access}, lines)


# --- parties -----------------------------------------------------------------------------------------------
_NEXT = {
    "platform": "poolproof submit TAPE --api-key {key} --pool {pool} --cutoff YYYY-MM-DD "
    "--signing-key KEY.pem",
    "investor": "poolproof claim --api-key {key} --pool {pool} --cutoff YYYY-MM-DD --key gateway.pub "
    "--statement '{{...}}'",
    "auditor": "poolproof get /auditor/pools/{pool}/snapshots/YYYY-MM-DD/bundle --api-key {key} "
    "--out snapshot.json",
    "borrower": "poolproof get '/borrower/pools/{pool}/snapshots/YYYY-MM-DD/inclusion?platform_loan_id=ID' "
    "--api-key {key} --pick inclusion --out inclusion.json",
}


def _party_lines(party: PartyRecord) -> list[str]:
    pools = ", ".join(party.pools) or "none"
    relation = "owns pools" if party.role == "platform" else "may see pools"
    lines = [f"party {party.id} ({party.role}), created {party.created_at}; {relation}: {pools}"]
    if party.public_key:
        lines.append(f"  tape-signing public key {party.public_key.hex()}")
    if party.obligor_keys:
        lines.append(f"  obligor keys: {', '.join(party.obligor_keys)}")
    return lines


@click.group("parties")
def parties_group() -> None:
    """Register and inspect parties (on the instance's database)."""


@parties_group.command("add")
@click.argument("party_id")
@click.option("--role", required=True, type=click.Choice(ROLES), help="the party's role")
@click.option("--name", "display_name", default="", help="display name")
@click.option("--public-key", default=None, help="Ed25519 public key, 64 hex digits (platforms)")
@click.option(
    "--public-key-from",
    type=click.Path(dir_okay=False),
    default=None,
    help="read the public key from an Ed25519 private key PEM (from 'poolproof keygen')",
)
@click.option(
    "--pool",
    "pools",
    multiple=True,
    help="platform: a new pool it owns (settings from --preset ...); others: an existing pool it may see "
    "(repeatable)",
)
@click.option(
    "--obligor-key", "obligor_keys", multiple=True, help="borrower's obligor_pseudo_id (repeatable)"
)
@pool_settings_options
@db_option
@master_key_option
@json_option
def parties_add(
    party_id: str,
    role: str,
    display_name: str,
    public_key: str | None,
    public_key_from: str | None,
    pools: tuple[str, ...],
    obligor_keys: tuple[str, ...],
    db_path: str | None,
    master_key_file: str | None,
    as_json: bool,
    **settings: Any,
) -> None:
    """Register a party with its pools in one step and print its API key (shown once, stored hashed).

    The API key is what '--api-key' means in this party's own commands (submit, get, claim). A refusal
    leaves nothing behind.
    """
    from ..access.admin import creation_changes
    from ..access.onboarding import OnboardingError, register_party
    from ..keys.tape_signatures import load_private_key, public_key_bytes
    from .access import record_changes

    pk: bytes | None = None
    try:
        if public_key_from:
            pk = public_key_bytes(load_private_key(public_key_from))
        elif public_key:
            pk = bytes.fromhex(public_key)
    except OSError as exc:
        raise CliFailure(
            ExitCode.UNUSABLE, f"--public-key-from {public_key_from}: {exc.strerror or exc}"
        ) from None
    except ValueError as exc:
        option = "--public-key-from" if public_key_from else "--public-key"
        raise CliFailure(ExitCode.UNUSABLE, f"{option}: {exc}") from None
    if role == "platform" and pk is None:
        raise CliFailure(
            ExitCode.UNUSABLE, "a platform needs --public-key-from KEY.pem (or --public-key HEX)"
        )
    new_pools: list[tuple[str, PoolConfig]] = []
    master: bytes | None = None
    if role == "platform" and pools:
        cfg = pool_config(settings)
        new_pools = [(p, cfg) for p in pools]
        master = _master_key(db_path, master_key_file)
    elif any(v is not None for v in settings.values()):
        raise CliFailure(ExitCode.UNUSABLE, "pool settings (--preset ...) go with a platform's new --pool")
    db = _open_db(db_path)
    try:
        party, record, key = register_party(
            db,
            party_id,
            role,
            display_name=display_name,
            public_key=pk,
            obligor_keys=obligor_keys,
            grant_pools=() if role == "platform" else pools,
            new_pools=new_pools,
            master_key=master,
        )
    except (OnboardingError, StorageError, ValueError) as exc:
        raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
    finally:
        db.conn.close()
    record_changes(database_and_key(db_path, None)[0], creation_changes(party, record))
    pool = party.pools[0] if party.pools else "POOL"
    lines = [
        *_party_lines(party),
        f"API key for {party_id} (shown once; it is what --api-key means in {party_id}'s commands): {key}",
    ]
    if role == "platform" and not party.pools:
        lines.append(f"next: poolproof pools create POOL --platform {party_id} --preset CN_CONSUMER")
    elif role in _NEXT:
        lines.append("next: " + _NEXT[role].format(key="$API_KEY", pool=pool))
    else:
        prefix = role.replace("_", "-")
        lines.append(
            f"next: poolproof get /{prefix}/pools --api-key $API_KEY   (the pools {party_id} may see)"
        )
    emit(as_json, {**party.to_dict(), "api_key": key}, lines)


@parties_group.command("list")
@db_option
@master_key_option
@json_option
def parties_list(db_path: str | None, master_key_file: str | None, as_json: bool) -> None:
    """Every party with its role and pools (never key material)."""
    from ..storage.records import list_parties

    db = _open_db(db_path)
    try:
        parties = list_parties(db)
    finally:
        db.conn.close()
    lines = [f"{'party':<16} {'role':<14} pools"]
    lines += [f"{p.id:<16} {p.role:<14} {', '.join(p.pools) or '-'}" for p in parties]
    if not parties:
        lines = ["no parties yet; next: poolproof parties add NAME --role platform --public-key-from KEY.pem "
                 "--pool POOL --preset CN_CONSUMER"]  # fmt: skip
    emit(as_json, [p.to_dict() for p in parties], lines)


@parties_group.command("show")
@click.argument("party_id")
@db_option
@master_key_option
@json_option
def parties_show(party_id: str, db_path: str | None, master_key_file: str | None, as_json: bool) -> None:
    """One party: role, pools, public key, obligor keys (never API keys)."""
    from ..storage.records import get_party

    db = _open_db(db_path)
    try:
        try:
            party = get_party(db, party_id)
        except NotFound:
            raise CliFailure(
                ExitCode.UNUSABLE, f"no party {party_id!r} (see 'poolproof parties list')"
            ) from None
    finally:
        db.conn.close()
    emit(as_json, {**party.to_dict(), "obligor_keys": list(party.obligor_keys)}, _party_lines(party))


@click.group("witnesses")
def witnesses_group() -> None:
    """Register the witnesses whose cosignatures of snapshot headers the gateway accepts and relays."""


@witnesses_group.command("add")
@click.argument("name")
@click.option(
    "--public-key-from",
    type=click.Path(dir_okay=False),
    default=None,
    help="the witness's public key file (KEYFILE.pub from 'poolproof-audit new-witness-key KEYFILE')",
)
@click.option("--public-key", default=None, help="the witness's Ed25519 public key, PEM or 64 hex digits")
@db_option
@master_key_option
@json_option
def witnesses_add(
    name: str,
    public_key_from: str | None,
    public_key: str | None,
    db_path: str | None,
    master_key_file: str | None,
    as_json: bool,
) -> None:
    """Register witness NAME: from now on the gateway accepts that key's cosignatures and hands them out.

    The witness keeps its private key; the gateway never sees it and cannot cosign for it.
    """
    from proofs.errors import EncodingError
    from proofs.signing import parse_public_key

    from ..storage.witnesses import register_witness

    if (public_key_from is None) == (public_key is None):
        raise CliFailure(ExitCode.UNUSABLE, "give exactly one of --public-key-from FILE and --public-key KEY")
    option = "--public-key-from" if public_key_from else "--public-key"
    try:
        text = Path(public_key_from).read_bytes() if public_key_from else str(public_key)
        key = parse_public_key(text)
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{option} {public_key_from}: {exc.strerror or exc}") from None
    except (EncodingError, ValueError) as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{option}: not an Ed25519 public key ({exc})") from None
    db = _open_db(db_path)
    try:
        record = register_witness(db, name, key)
    except StorageError as exc:
        raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
    finally:
        db.conn.close()
    emit(
        as_json,
        record.summary(),
        [
            f"witness {name} registered, key id {record.key_id}",
            "next: the witness runs 'poolproof-audit verify-snapshot BUNDLE --key gateway.pub "
            "--cosign KEYFILE' and posts the cosignature with "
            "'poolproof post .../snapshots/CUTOFF/cosignatures FILE'",
        ],
    )


@witnesses_group.command("list")
@db_option
@master_key_option
@json_option
def witnesses_list(db_path: str | None, master_key_file: str | None, as_json: bool) -> None:
    """Every registered witness with its key id."""
    from ..storage.witnesses import list_witnesses

    db = _open_db(db_path)
    try:
        witnesses = list_witnesses(db)
    finally:
        db.conn.close()
    lines = [f"{'witness':<16} {'key id':<20} registered"]
    lines += [f"{w.name:<16} {w.key_id[:16] + '…':<20} {w.registered_at}" for w in witnesses]
    if not witnesses:
        lines = ["no witnesses yet; next: poolproof witnesses add NAME --public-key-from KEYFILE.pub"]
    emit(as_json, [w.summary() for w in witnesses], lines)
