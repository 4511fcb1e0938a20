"""The gateway's one error root.

:class:`GatewayError` covers every expected failure that comes from the gateway side: a refused or
malformed tape, an unknown pool, a key that cannot be read, a refused disclosure. Each subclass carries
the HTTP status it answers with (``http_status``), so the API has one handler that turns any
``GatewayError`` into the standard error body ``{code, status, message, errors?}``, instead of each
route mapping exceptions by hand; the CLI maps the same classes to exit codes.

Verification failures are not here: they are :class:`proofs.errors.VerificationError`, raised by the
auditor's package, which knows nothing of HTTP.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    """An expected failure on the gateway side; ``http_status`` is the status the API answers with.

    ``errors`` (optional) is the structured detail of the standard error body, e.g. per-row, per-field
    messages of a rejected tape. The message never holds a secret or a C2/C3 value. ``str()`` of an
    error is the message it was raised with, as for any exception; a subclass may keep a shorter
    ``message`` beside it (:class:`gateway.ingest.tape_formats.TapeMalformed` keeps the text without its
    row number).

    The classes, with the status each answers with: ``StorageError`` (404) with ``NotFound`` (404) and
    ``Conflict`` (409); ``TapeRejected`` (422; a malformed body is answered 400), ``TapeMalformed``
    (400), ``TapeTooLarge`` (413), ``ContentHashMismatch`` (400), ``TapeSuperseded`` (409),
    ``JsonLimitError`` (400), ``PoolSettingsError`` (422), ``OnboardingError`` (422),
    ``TapeSignatureError`` (403), ``KeyringError`` (503: key material unavailable, e.g. mid-rotation),
    ``GatewayKeyError`` (503), ``KeyManagementError`` (500), ``SealError`` (422), ``NotLinked`` (422),
    ``ClaimRefused``
    (403), ``DemoFailed`` (500) and ``ConfigError`` (500: a ``POOLPROOF_*`` variable that does not
    parse). Each stays importable from the module that raises it.
    """

    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
