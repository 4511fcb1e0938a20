"""The gateway's settings from the environment: one frozen dataclass, the only reader of ``os.environ``.

Every field of :class:`GatewayConfig` is read from one variable, ``POOLPROOF_`` followed by the field
name in capitals (``sqlite_busy_ms`` from ``POOLPROOF_SQLITE_BUSY_MS``); :meth:`GatewayConfig.variable`
spells it. :meth:`GatewayConfig.from_environment` parses and checks them all at once, and a value that
does not parse raises :class:`ConfigError` naming the variable and what it expects.

A field holds what the environment says, not the final setting: the places that use a setting apply its
precedence. The Flask app config key wins over the variable (``create_app``, the rate limits, the
``SEAL_*`` settings, ``GATEWAY_KEY_FILE``), a command-line option wins over it (``--db``,
``--master-key-file``, ``--url``), and the instance folder comes last (:mod:`gateway.instance`). Callers
read the environment when they need a setting, not once at import, so a setting changed before a call
is the one that call sees.

The one write is :func:`use_one_msm_thread`: seal worker processes set the proofs' MSM thread count for
themselves (see ``proofs/_parallel.py``). docs/configuration.md lists the variables.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Literal

from .errors import GatewayError

ENV_PREFIX = "POOLPROOF_"
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_SQLITE_CACHE_KIB = 65536
MSM_THREADS_ENV = "POOLPROOF_MSM_THREADS"


class ConfigError(GatewayError, ValueError):
    """A ``POOLPROOF_*`` variable holds a value that does not parse; the message names the variable.

    It is a ``ValueError`` too: a bad number is a bad value, wherever a caller catches one.
    """


@dataclass(frozen=True)
class GatewayConfig:
    """The ``POOLPROOF_*`` environment of the gateway; ``None`` means the variable is not set.

    Attributes:
        database: ``POOLPROOF_DATABASE``, the SQLite file (unset: ``instance/poolproof.db`` for
            ``create_app``, the instance folder's ``poolproof.db`` for the command line).
        master_key: ``POOLPROOF_MASTER_KEY``, the master key itself, base64.
        master_key_file: ``POOLPROOF_MASTER_KEY_FILE``, the file holding the master key (unset: beside
            the database).
        body_limit_bytes: ``POOLPROOF_BODY_LIMIT_BYTES``, largest request body on every route but tape
            submission (default 1 MiB).
        max_tape_bytes: ``POOLPROOF_MAX_TAPE_BYTES``, largest accepted tape body (default 4 GiB).
        max_reported_errors: ``POOLPROOF_MAX_REPORTED_ERRORS``, errors listed in a rejected tape's
            report (default 100).
        policy_path: ``POOLPROOF_POLICY_PATH``, the policy TOML (unset: the packaged default policy).
        decision_log_database: ``POOLPROOF_DECISION_LOG_DATABASE``, the decision log's SQLite file
            (unset: ``<database stem>-decisions.db``).
        gateway_key_file: ``POOLPROOF_GATEWAY_KEY_FILE``, the gateway's signing key (unset: beside the
            master key file, else beside the database).
        instance: ``POOLPROOF_INSTANCE``, the instance folder (kept for existing set-ups; wins over
            ``home``).
        home: ``POOLPROOF_HOME``, the instance folder (unset: the platform's user data folder).
        url: ``POOLPROOF_URL``, the gateway's base URL for the client commands (default
            ``http://127.0.0.1:8080``).
        shared: ``POOLPROOF_SHARED``, the folder holding the shared data sets (unset: ``../shared``
            beside the checkout).
        fault_at: ``POOLPROOF_FAULT_AT``, the fault point at which the process kills itself (tests).
        rate_limit_per_second: ``POOLPROOF_RATE_LIMIT_PER_SECOND``, refill rate of each API key's
            bucket (default 50; 0 turns all throttling off).
        rate_limit_burst: ``POOLPROOF_RATE_LIMIT_BURST``, size of each API key's bucket (default 200).
        auth_failures_per_minute: ``POOLPROOF_AUTH_FAILURES_PER_MINUTE``, failed authentications a
            client address is allowed a minute (default 10; 0 turns this limit off).
        auth_failure_burst: ``POOLPROOF_AUTH_FAILURE_BURST``, size of each address's failure bucket
            (default 20).
        sqlite_busy_ms: ``POOLPROOF_SQLITE_BUSY_MS``, how long a write waits for a locked database
            (default 30,000 ms).
        sqlite_cache_kib: ``POOLPROOF_SQLITE_CACHE_KIB``, the page cache in KiB (unset: 64 MiB, raised
            for a large ingest; set, it is kept for every connection).
        seal_chunk_log2: ``POOLPROOF_SEAL_CHUNK_LOG2``, leaves per chunk = 2^k (unset or empty: by pool
            size).
        seal_ipa_rounds: ``POOLPROOF_SEAL_IPA_ROUNDS``, inner-product rounds, or ``"full"`` (unset or
            empty: the lane set's default).
        seal_lane_set: ``POOLPROOF_SEAL_LANE_SET``, the lane set of new seals (unset or empty: by the
            tape, a tape schema v2 tape under the pool statement v2 and a v1 tape under the proofs
            default ``dpd5-v3``; ``pool-v2``: the pool statement v2 with each pool's own widths and cap).
        seal_workers: ``POOLPROOF_SEAL_WORKERS``, worker processes of a seal (unset or empty: one per
            core; 0: inline).
        seal_scheduler: ``POOLPROOF_SEAL_SCHEDULER``, a Dask scheduler for the gateway's seal jobs only.
        scheduler: ``POOLPROOF_SCHEDULER`` (``proofs.executors.SCHEDULER_ENV``), a Dask scheduler for
            every chunked job, read when ``seal_scheduler`` is not set.
    """

    database: str | None = None
    master_key: str | None = dataclasses.field(default=None, repr=False)  # a secret: never printed
    master_key_file: str | None = None
    body_limit_bytes: int = 1 << 20
    max_tape_bytes: int = 4 << 30
    max_reported_errors: int = 100
    policy_path: str | None = None
    decision_log_database: str | None = None
    gateway_key_file: str | None = None
    instance: str | None = None
    home: str | None = None
    url: str = DEFAULT_URL
    shared: str | None = None
    fault_at: str | None = None
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 200
    auth_failures_per_minute: float = 10.0
    auth_failure_burst: int = 20
    sqlite_busy_ms: int = 30_000
    sqlite_cache_kib: int | None = None
    seal_chunk_log2: int | None = None
    seal_ipa_rounds: int | Literal["full"] | None = None
    seal_lane_set: str | None = None
    seal_workers: int | None = None
    seal_scheduler: str | None = None
    scheduler: str | None = None

    @staticmethod
    def variable(field: str) -> str:
        """The environment variable of ``field`` (``"sqlite_busy_ms"`` -> ``POOLPROOF_SQLITE_BUSY_MS``).

        Raises ``ValueError`` for a name that is not a field.
        """
        if field not in _FIELD_NAMES:
            raise ValueError(f"{field!r} is not a GatewayConfig field")
        return ENV_PREFIX + field.upper()

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> GatewayConfig:
        """The settings ``env`` holds (default: this process's environment), parsed and checked.

        Raises :class:`ConfigError` naming the first variable whose value does not parse.
        """
        reader = _Reader(env)
        return cls(
            database=reader.text("database"),
            master_key=reader.text("master_key"),
            master_key_file=reader.text("master_key_file"),
            body_limit_bytes=reader.integer("body_limit_bytes", cls.body_limit_bytes),
            max_tape_bytes=reader.integer("max_tape_bytes", cls.max_tape_bytes),
            max_reported_errors=reader.integer("max_reported_errors", cls.max_reported_errors),
            policy_path=reader.text("policy_path"),
            decision_log_database=reader.text("decision_log_database"),
            gateway_key_file=reader.text("gateway_key_file"),
            instance=reader.text("instance"),
            home=reader.text("home"),
            url=reader.text_or("url", cls.url),
            shared=reader.text("shared"),
            fault_at=reader.text("fault_at"),
            rate_limit_per_second=reader.number("rate_limit_per_second", cls.rate_limit_per_second),
            rate_limit_burst=reader.count("rate_limit_burst", cls.rate_limit_burst),
            auth_failures_per_minute=reader.number("auth_failures_per_minute", cls.auth_failures_per_minute),
            auth_failure_burst=reader.count("auth_failure_burst", cls.auth_failure_burst),
            sqlite_busy_ms=reader.integer("sqlite_busy_ms", cls.sqlite_busy_ms),
            sqlite_cache_kib=reader.optional_integer("sqlite_cache_kib", empty_is_unset=False),
            seal_chunk_log2=reader.optional_integer("seal_chunk_log2"),
            seal_ipa_rounds=reader.ipa_rounds("seal_ipa_rounds"),
            seal_lane_set=reader.text("seal_lane_set") or None,
            seal_workers=reader.optional_integer("seal_workers"),
            seal_scheduler=reader.text("seal_scheduler"),
            scheduler=reader.text("scheduler"),
        )

    @property
    def sqlite_cache_kib_or_default(self) -> int:
        """The page cache every connection starts with: ``sqlite_cache_kib``, else 64 MiB."""
        return DEFAULT_SQLITE_CACHE_KIB if self.sqlite_cache_kib is None else self.sqlite_cache_kib


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(GatewayConfig))


class _Reader:
    """Reads one field's variable from ``env``; every parse failure names the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, field: str) -> str | None:
        return self._env.get(GatewayConfig.variable(field))

    def text_or(self, field: str, default: str) -> str:
        value = self.text(field)
        return default if value is None else value

    def integer(self, field: str, default: int) -> int:
        value = self.optional_integer(field, empty_is_unset=False)
        return default if value is None else value

    def optional_integer(self, field: str, *, empty_is_unset: bool = True) -> int | None:
        value = self.text(field)
        if value is None or (empty_is_unset and value == ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise _bad(field, value, "an integer") from None

    def number(self, field: str, default: float) -> float:
        value = self.text(field)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise _bad(field, value, "a number") from None

    def count(self, field: str, default: int) -> int:
        """A bucket size: any finite number, its fraction dropped."""
        value = self.text(field)
        if value is None:
            return default
        try:
            return int(float(value))
        except (ValueError, OverflowError):
            raise _bad(field, value, "a number") from None

    def ipa_rounds(self, field: str) -> int | Literal["full"] | None:
        value = self.text(field)
        if value == "full":
            return "full"
        try:
            return self.optional_integer(field)
        except ConfigError:
            raise _bad(field, str(value), "an integer or 'full'") from None


def _bad(field: str, value: str, expected: str) -> ConfigError:
    return ConfigError(f"{GatewayConfig.variable(field)}={value!r}: expected {expected}")


def use_one_msm_thread(env: MutableMapping[str, str] = os.environ) -> None:
    """Make the proofs in this process (and its children) run one MSM thread (``POOLPROOF_MSM_THREADS=1``).

    Seal worker processes call it: each already occupies a core (see ``proofs/_parallel.py``).
    """
    env[MSM_THREADS_ENV] = "1"
