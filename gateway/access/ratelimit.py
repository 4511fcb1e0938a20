"""Throttling: a token bucket per API key, and one per client address for failed authentications.

Each caller owns a bucket of ``RATE_LIMIT_BURST`` tokens refilled at ``RATE_LIMIT_PER_SECOND``; a request
takes one token, and a request that finds the bucket empty gets ``429 Too Many Requests`` with
``Retry-After`` (RFC 6585 §4; RFC 9110 §10.2.3) naming the whole seconds until a token is back. The
caller is the SHA-256 of the API key as authentication reads it
(:func:`gateway.access.credentials.bearer_token`, so re-spelling the header does not make a new caller),
or the client address when no bearer token is sent. The limit is checked before the key is looked up.

A fresh wrong key would get a fresh bucket, so failed authentications are counted apart: every 401
takes a token from the client address's failure bucket (``AUTH_FAILURE_BURST`` tokens, refilled at
``AUTH_FAILURES_PER_MINUTE``); while that bucket is empty every request from the address is answered
429 before its credentials are read, right or wrong (a right key must not tell itself apart while keys
are being guessed). The address is the TCP peer (``REMOTE_ADDR``); forwarding headers are not trusted.

Buckets live in the server process (one gateway process, as ``poolproof serve`` runs); the tables are
bounded and forget the longest-idle callers first.

Configuration (``create_app`` config or ``POOLPROOF_<KEY>``): ``RATE_LIMIT_PER_SECOND`` (default 50),
``RATE_LIMIT_BURST`` (default 200), ``AUTH_FAILURES_PER_MINUTE`` (default 10), ``AUTH_FAILURE_BURST``
(default 20). ``RATE_LIMIT_PER_SECOND = 0`` turns all throttling off; ``AUTH_FAILURES_PER_MINUTE = 0``
only the failure limit.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from ..config import GatewayConfig
from .credentials import bearer_token

MAX_TRACKED_CALLERS = 100_000


class TokenBuckets:
    """Token buckets keyed by caller; thread-safe (waitress serves requests on several threads)."""

    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = MAX_TRACKED_CALLERS,
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a rate limit needs per_second > 0 and burst >= 1")
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._max = max_callers
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # caller -> (tokens, at)

    def take(self, caller: str) -> float:
        """Take one token for ``caller``: 0.0 if granted, else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[caller] = (tokens, now)
                wait = (1.0 - tokens) / self.per_second
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            return wait

    def wait(self, caller: str) -> float:
        """Seconds until ``caller`` has a token (0.0 if it has one now); takes nothing."""
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.per_second


def caller_id() -> str:
    """Who is asking, without looking anything up: a digest of the presented API key, else the address."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        return "key:" + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
    return client_address()


def client_address() -> str:
    """The TCP peer of the request (``REMOTE_ADDR``); proxy headers are not trusted."""
    return "addr:" + (request.remote_addr or "unknown")


def _too_many(message: str, wait: float) -> tuple[dict[str, Any], int, dict[str, str]]:
    body = {"code": 429, "status": "Too Many Requests", "message": message}
    return body, 429, {"Retry-After": str(max(1, math.ceil(wait)))}


def _setting(app: Flask, name: str, environment_value: float) -> float:
    value: Any = app.config.get(name)
    return environment_value if value is None else float(value)


def install_rate_limit(app: Flask) -> TokenBuckets | None:
    """Throttle every request of ``app`` (see the module text); returns the per-key buckets (None when off).

    The failure buckets, when on, are ``app.extensions["poolproof_auth_failures"]``.
    """
    env = GatewayConfig.from_environment()
    per_second = _setting(app, "RATE_LIMIT_PER_SECOND", env.rate_limit_per_second)
    burst = int(_setting(app, "RATE_LIMIT_BURST", env.rate_limit_burst))
    if per_second <= 0:
        return None
    buckets = TokenBuckets(per_second, burst)
    app.extensions["poolproof_rate_limit"] = buckets
    failures_per_minute = _setting(app, "AUTH_FAILURES_PER_MINUTE", env.auth_failures_per_minute)
    failures: TokenBuckets | None = None
    if failures_per_minute > 0:
        failure_burst = int(_setting(app, "AUTH_FAILURE_BURST", env.auth_failure_burst))
        failures = TokenBuckets(failures_per_minute / 60.0, failure_burst)
        app.extensions["poolproof_auth_failures"] = failures

    @app.before_request
    def _limit() -> Any:
        if request.path == "/healthz":
            return None
        if failures is not None:
            wait = failures.wait(client_address())
            if wait > 0:
                return _too_many("too many failed authentications from this address; retry later", wait)
        wait = buckets.take(caller_id())
        if wait > 0:
            return _too_many(f"rate limit of {per_second:g} requests per second exceeded; retry later", wait)
        return None

    if failures is not None:

        @app.after_request
        def _count_failure(resp: Response) -> Response:
            if resp.status_code == 401:
                failures.take(client_address())
            return resp

    return buckets
