"""The API's one error handler: any :class:`gateway.errors.GatewayError` becomes the standard error body.

The body is flask-smorest's shape, ``{code, status, message, errors?}`` (``ErrorSchema`` in
:mod:`gateway.api.schemas`), with the status the error class carries (``http_status``); a route raises
the error and maps nothing by hand. Key material that cannot be read answers 503 through the handler of
:mod:`gateway.keys.unavailable`, registered here with it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask

from ..errors import GatewayError
from ..keys.unavailable import install_key_error_handler


def error_body(status: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    """The standard error body for ``status`` (``errors`` only when there is structured detail)."""
    body: dict[str, Any] = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    if errors:
        body["errors"] = errors
    return body


def install_error_handlers(app: Flask) -> None:
    """Answer every ``GatewayError`` with its own status and the standard body; key errors with 503."""

    @app.errorhandler(GatewayError)
    def _gateway_error(exc: GatewayError) -> tuple[dict[str, Any], int]:
        message = getattr(exc, "message", None) or str(exc)
        return error_body(exc.http_status, message, getattr(exc, "errors", None)), exc.http_status

    install_key_error_handler(app)
