"""Merlin-style Fiat–Shamir transcript over SHA-512 (hash chaining).

A :class:`Transcript` turns an interactive public-coin protocol into a non-interactive one
(Fiat–Shamir): every public input and every prover message is absorbed, in order, into a running
state, and every verifier challenge is derived from that state. Missing an input makes proofs
forgeable ("weak Fiat–Shamir", Bernhard–Pereira–Warinschi, ASIACRYPT 2012), so protocols in
``proofs`` absorb the protocol name and version, the generator set, the statement (commitments, bit
sizes) and every prover message before each challenge, and callers absorb their own context
(claim statement, snapshot header hash, requester nonce) before handing the transcript over.

The design follows Merlin (https://merlin.cool): labelled, length-prefixed messages and labelled
challenges. Instead of Merlin's STROBE duplex it uses a plain SHA-512 chain, so an auditor can
reimplement it with any SHA-512 library. Exact byte layout (``||`` is concatenation, ``u32``/``u64``
are big-endian unsigned integers of 4/8 bytes, ``lp(x) = u32(len(x)) || x`` for labels and
``lp64(x) = u64(len(x)) || x`` for data):

* initial state: ``s0 = SHA-512(lp(b"PoolProof transcript SHA-512 v1"))``, then
  ``append_message(b"dom-sep", protocol)``;
* ``append_message(label, data)``: ``s = SHA-512(s || 0x01 || lp(label) || lp64(data))``;
* ``challenge_scalar(label)``: repeat
  ``s = SHA-512(s || 0x02 || lp(label))``; ``out = SHA-512(s || 0x03)`` (64 bytes);
  ``k = int.from_bytes(out, "big") mod r`` until ``k != 0``; return ``k``. Reducing 512 bits mod
  the 255-bit ``r`` leaves a statistical bias below 2^-256. Zero is never returned: it would make
  inversions fail and can collapse a protocol's checks; the state is ratcheted and a new value
  derived instead (probability ~2^-255, so never seen in practice).

Typed helpers are encodings on top of :meth:`append_message`:

* ``append_u64(label, n)``: data = ``u64(n)``;
* ``append_point(label, P)``: data = the 48-byte compressed encoding of ``P``;
* ``append_points(label, Ps)``: data = the concatenated encodings (the length prefix fixes the count);
* ``append_scalar(label, k)``: data = the 32-byte big-endian canonical encoding of ``k``.

Every absorbed item is framed by an operation byte and explicit lengths, so the byte string fed to
SHA-512 determines the sequence of (operation, label, data) uniquely: ``("ab", "c")`` and
``("a", "bc")`` cannot collide without a SHA-512 collision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

from proofs.group import ORDER, Point, scalar_to_bytes

#: Absorbed first, so the chain is bound to this construction and its version.
TRANSCRIPT_DOMAIN: Final = b"PoolProof transcript SHA-512 v1"

_OP_APPEND: Final = b"\x01"
_OP_CHALLENGE: Final = b"\x02"
_OP_OUTPUT: Final = b"\x03"
_MAX_LABEL: Final = 2**32 - 1


def _lp(label: bytes) -> bytes:
    if len(label) > _MAX_LABEL:
        raise ValueError("transcript label longer than 2^32-1 bytes")
    return len(label).to_bytes(4, "big") + label


class Transcript:
    """A Fiat–Shamir transcript (see the module docstring for the byte layout).

    Not thread-safe; a transcript is used by one prover or one verifier at a time. Use
    :meth:`clone` to check a proof without consuming the caller's transcript.
    """

    __slots__ = ("_state",)

    def __init__(self, protocol: bytes) -> None:
        """Start a transcript for ``protocol`` (a name and version, e.g. ``b"poolproof/claim/v1"``)."""
        self._state = hashlib.sha512(_lp(TRANSCRIPT_DOMAIN)).digest()
        self.append_message(b"dom-sep", protocol)

    def append_message(self, label: bytes, data: bytes) -> None:
        """Absorb ``data`` under ``label`` (both length-prefixed)."""
        self._state = hashlib.sha512(
            self._state + _OP_APPEND + _lp(bytes(label)) + len(data).to_bytes(8, "big") + bytes(data)
        ).digest()

    def append_u64(self, label: bytes, n: int) -> None:
        """Absorb an unsigned 64-bit integer as 8 big-endian bytes.

        Raises:
            ValueError: ``n`` outside ``[0, 2^64)``.
        """
        if not 0 <= n < 2**64:
            raise ValueError("append_u64: value outside [0, 2^64)")
        self.append_message(label, n.to_bytes(8, "big"))

    def append_point(self, label: bytes, point: Point) -> None:
        """Absorb a group element by its 48-byte compressed encoding."""
        self.append_message(label, point.to_bytes())

    def append_points(self, label: bytes, points: Iterable[Point]) -> None:
        """Absorb a sequence of group elements as one message (concatenated encodings)."""
        self.append_message(label, b"".join(p.to_bytes() for p in points))

    def append_scalar(self, label: bytes, k: int) -> None:
        """Absorb a scalar by its 32-byte canonical encoding.

        Raises:
            EncodingError: ``k`` outside ``[0, r)``.
        """
        self.append_message(label, scalar_to_bytes(k))

    def challenge_scalar(self, label: bytes) -> int:
        """Derive a non-zero challenge in ``[1, r)`` from everything absorbed so far.

        The state is ratcheted, so two successive calls (even with the same label) give
        independent challenges.
        """
        lp_label = _lp(bytes(label))
        while True:
            self._state = hashlib.sha512(self._state + _OP_CHALLENGE + lp_label).digest()
            out = hashlib.sha512(self._state + _OP_OUTPUT).digest()
            k = int.from_bytes(out, "big") % ORDER
            if k:
                return k

    def clone(self) -> Transcript:
        """An independent copy in the same state."""
        twin = Transcript.__new__(Transcript)
        twin._state = self._state
        return twin

    def fork(self, label: bytes) -> Transcript:
        """A copy that is domain-separated from this transcript by ``label``.

        Useful to run several sub-protocols from one common prefix: each fork absorbs
        ``append_message(b"fork", label)`` first, so forks with different labels diverge.
        """
        twin = self.clone()
        twin.append_message(b"fork", label)
        return twin

    def state_digest(self) -> bytes:
        """The current 64-byte chaining state (for known-answer tests; it reveals nothing secret)."""
        return self._state
