"""Per-API-key request rate limit: a token bucket per caller, answered with 429 and ``Retry-After``.

Each caller (the SHA-256 of the presented bearer token, or the client address when none is sent) owns a
bucket of ``RATE_LIMIT_BURST`` tokens refilled at ``RATE_LIMIT_PER_SECOND``; a request takes one token,
and a request that finds the bucket empty gets ``429 Too Many Requests`` with ``Retry-After`` (RFC 6585
§4; RFC 9110 §10.2.3) naming the whole seconds until a token is back. The limit is checked before the
key is looked up, so guessing keys is throttled too. Buckets live in the server process (one gateway
process, as ``poolproof serve`` runs); the table is bounded and forgets the longest-idle callers first.

Configuration (``create_app`` config or ``POOLPROOF_<KEY>``): ``RATE_LIMIT_PER_SECOND`` (default 50;
0 turns the limit off) and ``RATE_LIMIT_BURST`` (default 200).
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flask import Flask, request

DEFAULT_PER_SECOND = 50.0
DEFAULT_BURST = 200
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


def caller_id() -> str:
    """Who is asking, without looking anything up: a digest of the bearer token, else the peer address."""
    auth = request.headers.get("Authorization", "")
    if auth:
        return "key:" + hashlib.sha256(auth.encode("utf-8", "surrogateescape")).hexdigest()
    return "addr:" + (request.remote_addr or "unknown")


def _setting(app: Flask, name: str, default: float) -> float:
    value: Any = app.config.get(name)
    if value is None:
        value = os.environ.get(f"POOLPROOF_{name}", default)
    return float(value)


def install_rate_limit(app: Flask) -> TokenBuckets | None:
    """Check every request of ``app`` against the caller's bucket; returns the buckets (None when off)."""
    per_second = _setting(app, "RATE_LIMIT_PER_SECOND", DEFAULT_PER_SECOND)
    burst = int(_setting(app, "RATE_LIMIT_BURST", DEFAULT_BURST))
    if per_second <= 0:
        return None
    buckets = TokenBuckets(per_second, burst)
    app.extensions["poolproof_rate_limit"] = buckets

    @app.before_request
    def _limit() -> Any:
        if request.path == "/healthz":
            return None
        wait = buckets.take(caller_id())
        if wait <= 0:
            return None
        body = {
            "code": 429,
            "status": "Too Many Requests",
            "message": f"rate limit of {per_second:g} requests per second exceeded; retry later",
        }
        return body, 429, {"Retry-After": str(max(1, math.ceil(wait)))}

    return buckets
