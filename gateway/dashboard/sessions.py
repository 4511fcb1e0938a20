"""Server-side sessions of the dashboard: a random id in a cookie, everything else kept in the database.

OWASP Session Management Cheat Sheet: the cookie holds only an unguessable id (256 bits from
``secrets``); it is ``Secure``, ``HttpOnly``, ``SameSite=Strict`` and ``__Host-`` prefixed (RFC 6265bis
§4.1.3.2: no ``Domain``, ``Path=/``, set over a secure origin only). The id is replaced at sign-in (no
session fixation), a session ends after ``DASHBOARD_IDLE_SECONDS`` without a request and after
``DASHBOARD_MAX_SECONDS`` in all, and sign-out deletes it. Each session has its own CSRF token
(synchronizer-token pattern), which every POST must send back.

Sessions are rows of the gateway database (migration 9, :mod:`gateway.storage.sessions`), so every
gateway process on one database file shares them and a restart signs nobody out. Only the SHA-256 of
the session id is stored: a copy of the database opens no session. The CSRF token is not stored either:
it is ``HMAC-SHA256(session id, "poolproof-dashboard-csrf/v1")``, which only the holder of the id can
compute. The clock is UNIX time (``time.time``), the one clock every process shares.

A session remembers the SHA-256 of the API key it was opened with, never the key: every request checks
again that the key is neither revoked nor expired (:func:`principal_for_key_hash`), so revoking a key
ends its dashboard sessions at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from ..errors import GatewayError
from ..storage import sessions as rows
from ..storage.db import connect
from ..storage.records import NotFound, Principal, get_party, valid_key_holder

COOKIE_NAME = "__Host-poolproof-dashboard"
DEFAULT_IDLE_SECONDS = 15 * 60
DEFAULT_MAX_SECONDS = 8 * 60 * 60
#: The store forgets the longest-idle sessions beyond this many.
MAX_SESSIONS = 10_000
_CSRF_CONTEXT = b"poolproof-dashboard-csrf/v1"


class SessionsUnavailable(GatewayError):
    """The database has no session table (migration 9 not applied): 503 naming the fix."""

    http_status = 503


@dataclass(frozen=True)
class DashboardSession:
    """One browser's session. ``key_hash`` is empty until sign-in (a session then only carries CSRF)."""

    session_id: str
    csrf_token: str
    key_hash: str
    party_id: str
    created: float
    last_seen: float

    @property
    def signed_in(self) -> bool:
        """Whether an API key was presented and accepted for this session."""
        return bool(self.key_hash)


def session_id_hash(session_id: str) -> str:
    """What the database keeps of a session id: its SHA-256 (hex)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token_for(session_id: str) -> str:
    """The session's CSRF token, derived from its id (never stored)."""
    mac = hmac.new(session_id.encode(), _CSRF_CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class SessionStore:
    """Sessions in the database file ``database``; each call opens its own connection (thread-safe,
    and safe across processes: SQLite serialises the writers)."""

    def __init__(
        self,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        *,
        database: str | Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if idle_seconds <= 0 or max_seconds <= 0:
            raise ValueError("session lifetimes must be positive")
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.database = database
        self.clock = clock

    @contextmanager
    def _db(self) -> Iterator[sqlite_utils.Database]:
        db = connect(self.database)
        try:
            yield db
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise SessionsUnavailable(
                    "the database has no dashboard session table: apply migration 9 "
                    "(poolproof init on the instance migrates its database)"
                ) from None
            raise
        finally:
            db.conn.close()

    def _new(self, key_hash: str, party_id: str) -> DashboardSession:
        t = self.clock()
        session_id = secrets.token_urlsafe(32)
        with self._db() as db:
            rows.prune_sessions(db, t, self.idle_seconds, self.max_seconds, MAX_SESSIONS - 1)
            rows.insert_session(db, rows.SessionRow(session_id_hash(session_id), key_hash, party_id, t, t))
        return DashboardSession(session_id, csrf_token_for(session_id), key_hash, party_id, t, t)

    def start_anonymous(self) -> DashboardSession:
        """A session before sign-in: it carries the CSRF token of the sign-in form."""
        return self._new("", "")

    def sign_in(self, old_id: str | None, key_hash: str, party_id: str) -> DashboardSession:
        """Forget ``old_id`` and open a signed-in session under a fresh id and a fresh CSRF token."""
        if old_id:
            self.end(old_id)
        return self._new(key_hash, party_id)

    def get(self, session_id: str | None) -> DashboardSession | None:
        """The live session ``session_id`` (its idle clock restarted), or None if unknown or expired
        (an expired session is deleted)."""
        if not session_id:
            return None
        with self._db() as db:
            row = rows.touch_live_session(
                db, session_id_hash(session_id), self.clock(), self.idle_seconds, self.max_seconds
            )
        if row is None:
            return None
        return DashboardSession(
            session_id, csrf_token_for(session_id), row.key_hash, row.party_id, row.created, row.last_seen
        )

    def end(self, session_id: str) -> None:
        """Delete a session (sign-out); unknown ids are ignored."""
        with self._db() as db:
            rows.delete_session(db, session_id_hash(session_id))

    def count(self) -> int:
        """Sessions stored (live, or expired and not yet pruned)."""
        with self._db() as db:
            return rows.session_count(db)


def csrf_matches(session: DashboardSession, sent: str | None) -> bool:
    """Whether ``sent`` is the session's CSRF token (compared in constant time)."""
    return bool(sent) and hmac.compare_digest(session.csrf_token.encode(), (sent or "").encode())


def principal_for_key_hash(db: sqlite_utils.Database, key_hash: str) -> Principal | None:
    """The party holding the API key whose SHA-256 is ``key_hash``, if that key is still valid.

    The same conditions as :func:`gateway.storage.records.authenticate` (both read
    :func:`gateway.storage.records.valid_key_holder`): not revoked, not expired.
    """
    holder = valid_key_holder(db, key_hash)
    if holder is None:
        return None
    party_id, is_admin = holder
    if party_id is None:
        return None
    try:
        return Principal(party=get_party(db, party_id), is_admin=is_admin)
    except NotFound:
        return None
