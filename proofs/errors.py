"""The one error hierarchy of ``proofs``.

Verification functions return ``None`` on success and raise :class:`VerificationError` naming the
check that failed. Malformed input (bytes that do not decode, wrong lengths, unknown formats) raises
:class:`EncodingError`. A prover asked to prove something false raises :class:`ProvingError`.
"""

from __future__ import annotations


class Error(Exception):
    """Root of every error raised by ``proofs``."""


class EncodingError(Error, ValueError):
    """Bytes or a document that cannot be decoded: wrong length, off-curve point, scalar >= r, ..."""


class VerificationError(Error):
    """A proof, signature or bundle did not verify.

    ``check`` names the failed check in a stable, machine-readable form (for example
    ``"rangeproof.ipa"`` or ``"header.signature"``); the message says it for people.
    """

    def __init__(self, check: str, message: str | None = None) -> None:
        self.check = check
        self.detail = message
        super().__init__(f"{check}: {message}" if message else check)

    def __reduce__(self) -> tuple[type[VerificationError], tuple[str, str | None]]:
        # Keep ``check`` when the error crosses a process boundary (verification on workers).
        return (type(self), (self.check, self.detail))


class ProvingError(Error, ValueError):
    """The prover refuses: the witness does not satisfy the statement (value out of range, false claim)."""
