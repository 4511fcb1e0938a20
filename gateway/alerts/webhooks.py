"""Webhook delivery: the alert as JSON, signed with HMAC-SHA256 (RFC 2104), retried with back-off.

The receiver recomputes ``HMAC-SHA256(secret, timestamp + "." + body)`` and compares it, in constant
time, with the ``X-PoolProof-Signature`` header (``sha256=<hex>``); the timestamp header lets it
refuse replays of old deliveries (:func:`verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import requests

SIGNATURE_HEADER: Final = "X-PoolProof-Signature"
TIMESTAMP_HEADER: Final = "X-PoolProof-Timestamp"
#: Attempts per delivery, and the pause before each retry (seconds, doubled each time).
ATTEMPTS: Final = 3
FIRST_PAUSE: Final = 0.5
TIMEOUT: Final = 10.0

#: ``send(url, body, headers)`` → HTTP status; raises ``requests.RequestException`` when unreachable.
Sender = Callable[[str, bytes, dict[str, str]], int]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-PoolProof-Signature`` value of a delivery."""
    mac = hmac.new(bytes.fromhex(secret), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, header: str, *, now: float, max_age: float = 300
) -> bool:
    """True iff ``header`` is the signature of ``body`` at ``timestamp``, no older than ``max_age`` s."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > max_age:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """The default sender: one HTTP POST (redirects are not followed)."""
    r = requests.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    return r.status_code


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt: its number, the status (``None``: unreachable) and whether it was accepted."""

    number: int
    status: int | None
    ok: bool
    error: str = ""


def deliver(
    url: str,
    secret: str,
    body: bytes,
    *,
    send: Sender = post,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    attempts: int = ATTEMPTS,
) -> list[Attempt]:
    """POST ``body`` until a 2xx answer or ``attempts`` are spent; return every attempt.

    A 4xx other than 408 and 429 is final (the receiver refuses the alert; retrying cannot help).
    """
    out: list[Attempt] = []
    pause = FIRST_PAUSE
    for n in range(1, attempts + 1):
        stamp = str(int(clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: signature(secret, stamp, body),
        }
        try:
            status = send(url, body, headers)
        except requests.RequestException as exc:
            out.append(Attempt(n, None, False, type(exc).__name__))
        else:
            ok = 200 <= status < 300
            out.append(Attempt(n, status, ok))
            if ok or (400 <= status < 500 and status not in (408, 429)):
                return out
        if n < attempts:
            sleep(pause)
            pause *= 2
    return out
