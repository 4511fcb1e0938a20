"""How a request presents its API key: the one reading that authentication and throttling share.

RFC 6750 §2.1: ``Authorization: Bearer <token>``; the scheme name is case-insensitive (RFC 9110 §11.1)
and separated from the token by one or more spaces or tabs. Throttling keys its buckets on the token
this function returns, so ``Bearer   key`` and ``bearer key`` are the same caller as ``Bearer key``: a
client cannot earn a fresh bucket by re-spelling its header.
"""

from __future__ import annotations

import re

#: Longer headers are refused unread (an API key is ``ppk_`` + 43 characters).
MAX_AUTHORIZATION_LENGTH = 256
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+([^ \t]+)[ \t]*")


def bearer_token(header: str | None) -> str | None:
    """The API key of an ``Authorization`` header, or None when the header is absent or not a bearer token.

    Never raises; the token is returned exactly as sent, without the surrounding spaces and tabs.
    """
    if not header or len(header) > MAX_AUTHORIZATION_LENGTH:
        return None
    m = _BEARER.fullmatch(header)
    return m.group(1) if m else None
