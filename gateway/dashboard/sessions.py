"""Server-side sessions of the dashboard: a random id in a cookie, everything else kept in the server.

OWASP Session Management Cheat Sheet: the cookie holds only an unguessable id (256 bits from
``secrets``); it is ``Secure``, ``HttpOnly``, ``SameSite=Strict`` and ``__Host-`` prefixed (RFC 6265bis
§4.1.3.2: no ``Domain``, ``Path=/``, set over a secure origin only). The id is replaced at sign-in (no
session fixation), a session ends after ``DASHBOARD_IDLE_SECONDS`` without a request and after
``DASHBOARD_MAX_SECONDS`` in all, and sign-out forgets it. Each session has its own CSRF token
(synchronizer-token pattern), which every POST must send back.

A session remembers the SHA-256 of the API key it was opened with, never the key: every request checks
again that the key is neither revoked nor expired (:func:`principal_for_key_hash`), so revoking a key
ends its dashboard sessions at once. Sessions live in the server process, like the rate-limit buckets
(one gateway process, as ``poolproof serve`` runs); a restart signs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import sqlite_utils

from ..storage.records import NotFound, Principal, get_party, valid_key_holder

COOKIE_NAME = "__Host-poolproof-dashboard"
DEFAULT_IDLE_SECONDS = 15 * 60
DEFAULT_MAX_SECONDS = 8 * 60 * 60
#: The store forgets the longest-idle sessions beyond this many.
MAX_SESSIONS = 10_000


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


class SessionStore:
    """Sessions by id, thread-safe (waitress serves requests on several threads)."""

    def __init__(
        self,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if idle_seconds <= 0 or max_seconds <= 0:
            raise ValueError("session lifetimes must be positive")
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, DashboardSession] = OrderedDict()

    def _new(self, key_hash: str, party_id: str) -> DashboardSession:
        t = self.clock()
        s = DashboardSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32), key_hash, party_id, t, t)
        with self._lock:
            self._sessions[s.session_id] = s
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return s

    def start_anonymous(self) -> DashboardSession:
        """A session before sign-in: it carries the CSRF token of the sign-in form."""
        return self._new("", "")

    def sign_in(self, old_id: str | None, key_hash: str, party_id: str) -> DashboardSession:
        """Forget ``old_id`` and open a signed-in session under a fresh id and a fresh CSRF token."""
        if old_id:
            self.end(old_id)
        return self._new(key_hash, party_id)

    def get(self, session_id: str | None) -> DashboardSession | None:
        """The live session ``session_id`` (its idle clock restarted), or None if unknown or expired."""
        if not session_id:
            return None
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None:
                return None
            t = self.clock()
            if t - s.last_seen > self.idle_seconds or t - s.created > self.max_seconds:
                del self._sessions[session_id]
                return None
            s = replace(s, last_seen=t)
            self._sessions[session_id] = s
            self._sessions.move_to_end(session_id)
            return s

    def end(self, session_id: str) -> None:
        """Forget a session (sign-out); unknown ids are ignored."""
        with self._lock:
            self._sessions.pop(session_id, None)


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
