"""Request-body limits decided from the request head, before a byte of the body is read.

waitress reads a request's whole body, spooling anything beyond ``inbuf_overflow`` to a temporary file,
before it calls the application; a limit checked in Flask therefore comes after the disk was filled.
Here the limit is chosen by waitress's own parser the moment the head is complete:

* every request may carry at most ``BODY_LIMIT_BYTES`` (default 1 MiB);
* ``POST /platform/pools/<pool_id>/cutoffs/<cutoff>/tapes`` may carry up to ``MAX_TAPE_BYTES``, but only
  when its bearer key authenticates (not revoked, not expired) a platform that owns ``<pool_id>``.

A declared ``Content-Length`` over the limit is answered 413 before the body is read; a chunked body
(no ``Content-Length``) is cut off with 413 as soon as it passes the limit. Bodies within the small
limit stay in memory (``inbuf_overflow`` is the limit plus one socket read), so an unauthenticated
caller never causes a temporary file. A wrong key presented here counts against the client address's
failed-authentication allowance (:mod:`gateway.access.ratelimit`), and a throttled address gets only the small
limit, so the head check is not a way around key-guessing limits.

The Flask side (:func:`install_body_limits`) applies the same two limits through
``request.max_content_length``, for servers other than :func:`create_server` and for the test client.
"""

from __future__ import annotations

import copy
import functools
import json
import sqlite3
import threading
from typing import Any

from flask import Flask, request
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.utilities import RequestEntityTooLarge
from werkzeug.exceptions import HTTPException

from .credentials import bearer_token
from .security_headers import API_CSP, BASE_HEADERS

DEFAULT_BODY_LIMIT = 1 << 20
#: URL rules (Flask syntax) whose body may be as large as ``MAX_TAPE_BYTES`` for the pool's platform.
TAPE_RULES = frozenset({("POST", "/platform/pools/<pool_id>/cutoffs/<cutoff>/tapes")})


def body_limit(app: Flask) -> int:
    """The default request-body limit of ``app`` in bytes (``BODY_LIMIT_BYTES``)."""
    return int(app.config.get("BODY_LIMIT_BYTES") or DEFAULT_BODY_LIMIT)


def tape_limit(app: Flask) -> int:
    """The tape-submission body limit of ``app`` in bytes (``MAX_TAPE_BYTES``)."""
    return int(app.config["MAX_TAPE_BYTES"])


def too_large_message(limit: int) -> str:
    """The one text of a 413 for a body over ``limit`` bytes."""
    return (
        f"request body larger than {limit} bytes; only a platform's own tape submission, "
        "with valid credentials, may be larger"
    )


class BodyLimits:
    """Chooses the body limit of one request from its method, path, credentials and client address."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.default = body_limit(app)
        self.tape = max(tape_limit(app), self.default)
        # One connection, reused: opening one costs ~6 ms of the server's I/O thread. Each lookup is its
        # own read transaction, so a key revoked a moment ago is seen revoked.
        self._db: Any = None
        self._lock = threading.Lock()

    def limit_for(
        self, method: str, path: str, authorization: str | None, peer: str, declared: int | None = 0
    ) -> int:
        """``MAX_TAPE_BYTES`` for an authorised tape submission, else the default limit. Never raises.

        ``declared`` is the ``Content-Length`` (None for a chunked body). A wrong key counts as a failed
        authentication here only when the body may exceed the default limit: a smaller request reaches
        the application, whose 401 is counted there.
        """
        pool_id = self._tape_pool(method, path)
        if pool_id is None:
            return self.default
        refused_here = declared is None or declared > self.default
        if not self._may_submit(authorization, pool_id, peer, count_failure=refused_here):
            return self.default
        return self.tape

    def _tape_pool(self, method: str, path: str) -> str | None:
        try:
            decoded = path.encode("latin-1").decode("utf-8")
            rule, args = self.app.url_map.bind("gateway").match(decoded, method=method, return_rule=True)
        except (HTTPException, UnicodeError):
            return None
        if (method, rule.rule) not in TAPE_RULES:
            return None
        pool = args.get("pool_id")
        return pool if isinstance(pool, str) else None

    def _may_submit(self, authorization: str | None, pool_id: str, peer: str, *, count_failure: bool) -> bool:
        from ..storage.db import connect
        from ..storage.records import StorageError, authenticate, get_pool

        failures = self.app.extensions.get("poolproof_auth_failures")
        address = "addr:" + peer
        if failures is not None and failures.wait(address) > 0:
            return False
        token = bearer_token(authorization)
        if token is None:
            return False
        with self._lock:
            try:
                if self._db is None:
                    self._db = connect(self.app.config["DATABASE"])
                who = authenticate(self._db, token)
                if who is None:
                    if failures is not None and count_failure:
                        failures.take(address)
                    return False
                if who.party is None or who.party.role != "platform":
                    return False
                return get_pool(self._db, pool_id).platform_id == who.party.id
            except StorageError:
                return False
            except sqlite3.Error:
                self._close()
                return False

    def _close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None


class BodyTooLarge(RequestEntityTooLarge):
    """waitress's 413, answered with the gateway's JSON error body and security headers."""

    def __init__(self, limit: int) -> None:
        super().__init__(too_large_message(limit))

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status line, headers and body of the 413."""
        body = json.dumps({"code": 413, "status": "Payload Too Large", "message": self.body}).encode()
        headers = [("Content-Type", "application/json"), *BASE_HEADERS.items()]
        headers.append(("Content-Security-Policy", API_CSP))
        return f"{self.code} {self.reason}", headers, body


class LimitedRequestParser(HTTPRequestParser):
    """waitress's parser with the body limit chosen per request once the head is parsed."""

    adj: Adjustments
    error: Any

    def __init__(self, adj: Adjustments, *, limits: BodyLimits, peer: str) -> None:
        super().__init__(adj)
        self._limits = limits
        self._peer = peer
        self._limit = limits.default

    def parse_header(self, header_plus: bytes) -> None:
        """Parse the head, then fix this request's body limit (``received`` enforces it)."""
        super().parse_header(header_plus)
        self._limit = self._limits.limit_for(
            self.command,
            self.path,
            self.headers.get("AUTHORIZATION"),
            self._peer,
            None if self.chunked else self.content_length,
        )
        adj = copy.copy(self.adj)
        adj.max_request_body_size = self._limit + 1  # waitress refuses sizes >= max_request_body_size
        self.adj = adj

    def received(self, data: bytes) -> int:
        """As waitress, with its 413 replaced by the gateway's."""
        consumed: int = super().received(data)
        if isinstance(self.error, RequestEntityTooLarge) and not isinstance(self.error, BodyTooLarge):
            self.error = BodyTooLarge(self._limit)
        return consumed


def _channel_factory(limits: BodyLimits) -> Any:
    def channel(server: Any, sock: Any, addr: Any, adj: Adjustments, map: Any = None) -> HTTPChannel:
        ch = HTTPChannel(server, sock, addr, adj, map=map)
        peer = addr[0] if isinstance(addr, tuple) and addr else "unknown"
        ch.parser_class = functools.partial(LimitedRequestParser, limits=limits, peer=peer)
        return ch

    return channel


def create_server(app: Flask, **adjustments: Any) -> Any:
    """``waitress.create_server`` for the gateway, with the per-request body limits above.

    ``max_request_body_size`` and ``inbuf_overflow`` are set here (passing them raises ``TypeError``).
    """
    import waitress

    for name in ("max_request_body_size", "inbuf_overflow"):
        if name in adjustments:
            raise TypeError(f"{name} is set from the app's BODY_LIMIT_BYTES and MAX_TAPE_BYTES")
    limits = BodyLimits(app)
    # A chunked body is checked after each read, so it may pass the limit by one read before it is cut off.
    in_memory = limits.default + int(adjustments.get("recv_bytes", Adjustments.recv_bytes)) + 1
    srv = waitress.create_server(
        app, max_request_body_size=limits.tape + 1, inbuf_overflow=in_memory, **adjustments
    )
    dispatchers = list(srv.map.values()) if isinstance(srv, MultiSocketServer) else [srv]
    for d in dispatchers:
        if isinstance(d, BaseWSGIServer):
            d.channel_class = _channel_factory(limits)
    return srv


def serve(app: Flask, **adjustments: Any) -> None:
    """Serve ``app`` with :func:`create_server` until interrupted (``waitress.serve`` with the limits)."""
    import logging

    logging.basicConfig()
    server = create_server(app, **adjustments)
    server.print_listen("Serving on http://{}:{}")
    server.run()


def install_body_limits(app: Flask) -> None:
    """Flask side: ``BODY_LIMIT_BYTES`` for every request (``MAX_CONTENT_LENGTH``).

    :func:`allow_tape_body` raises it for the current request once the caller is authorised.
    """
    app.config["MAX_CONTENT_LENGTH"] = body_limit(app)

    @app.errorhandler(413)
    def _too_large(exc: HTTPException) -> Any:
        data = getattr(exc, "data", None) or {}
        message = data.get("message") or too_large_message(request.max_content_length or body_limit(app))
        return {"code": 413, "status": "Payload Too Large", "message": message}, 413


def is_tape_submission() -> bool:
    """True when the current request is a tape submission (the one route with the large limit)."""
    rule = request.url_rule
    return rule is not None and (request.method, rule.rule) in TAPE_RULES


def allow_tape_body(app: Flask) -> None:
    """Raise the current request's body limit to ``MAX_TAPE_BYTES`` (call only after authorisation)."""
    request.max_content_length = max(tape_limit(app), body_limit(app))
