"""The answer when key material is unavailable: 503 with ``Retry-After``, never a 500.

:func:`install_key_error_handler` is registered on the app by :func:`gateway.create_app`; it belongs
with the API's error handling, which may register it (or answer :class:`~gateway.keys.keyring.KeyringError`
itself, with this body and header) instead.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from .keyring import KeyringError


def install_key_error_handler(app: Flask) -> None:
    """Answer 503 (not 500) when key material is missing or does not unwrap (e.g. mid-rotation)."""

    @app.errorhandler(KeyringError)
    def _keys_unavailable(exc: KeyringError) -> Any:
        body = {
            "code": 503,
            "status": "Service Unavailable",
            "message": "key material is unavailable (a key rotation may be in progress); retry later",
        }
        return body, 503, {"Retry-After": "30"}

