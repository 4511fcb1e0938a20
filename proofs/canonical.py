"""Canonical JSON bytes for hashing and signing: RFC 8785 (JCS) restricted to what PoolProof uses.

Accepted values: objects (``dict`` with ``str`` keys), arrays (``list`` or ``tuple``), strings,
integers, booleans and ``null``. Output follows RFC 8785 §3.2: no insignificant whitespace,
object members sorted by the UTF-16 code units of their names (§3.2.3), strings escaped as in
§3.2.2.2 (only ``"``, ``\\`` and control characters; everything else as UTF-8), UTF-8 output.

Restrictions, chosen so that every accepted document has exactly one encoding and survives
any I-JSON (RFC 7493) parser unchanged:

- **No floats** (nor NaN/Infinity): money is integer fen and rates integer basis points, so a float
  in a signed document is a bug, not a value.
- **Integers only within ±(2^53 − 1)** (RFC 7493 §2.2; RFC 8785 §3.2.2.3 serialises numbers as
  IEEE 754 doubles, so larger ones would silently change). Larger values — scalars, big sums —
  must be carried as strings (hex or decimal) by the schema that uses them; they are rejected here.
- **No lone surrogates** in strings (they have no UTF-8 encoding).
- On parsing (:func:`parse_json`): duplicate member names, floats, NaN/Infinity, out-of-range
  integers and invalid UTF-8 are rejected.

Every violation raises :class:`~proofs.errors.EncodingError` naming the JSON path (``$.a[3].b``).
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from itertools import accumulate, count
from typing import Any

from proofs.errors import EncodingError

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer magnitude accepted (RFC 7493 §2.2, I-JSON)."""

_DOMAIN_RE = re.compile(r"[a-z0-9][a-z0-9._/-]{0,127}")
DOMAIN_PREFIX = b"poolproof/v1/"
"""Prefix of every domain-separation tag: ``poolproof/v1/<domain>``."""

# Escapes exactly what RFC 8785 §3.2.2.2 requires: quote, backslash, C0 controls (short forms, else \u00xx).
_encode_string = json.encoder.encode_basestring


def _sort_key(name: str) -> bytes:
    # UTF-16BE bytes compare exactly like the UTF-16 code units RFC 8785 §3.2.3 sorts by.
    return name.encode("utf-16-be", "surrogatepass")


#: Deepest array/object nesting :func:`parse_json` and :func:`canonical_json` accept (``[[1]]`` is two
#: levels). Deeper input is refused before parsing: the C JSON scanner recurses per level, and hostile
#: input must not be able to exhaust the stack.
MAX_NESTING = 256


def _too_deep(path: str) -> EncodingError:
    return EncodingError(f"{path[:40]}...: nesting is too deep (more than {MAX_NESTING} levels)")


def _write(value: Any, path: str, out: list[str], depth: int = 0) -> None:
    # ``depth`` counts the containers around ``value``; a container at depth MAX_NESTING would be the
    # (MAX_NESTING + 1)-th level, which parse_json refuses, so it is refused here too, even when empty.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise EncodingError(f"{path}: integer outside ±(2^53-1); carry it as a string")
        out.append(str(int(value)))
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, dict):
        if depth >= MAX_NESTING:
            raise _too_deep(path)
        for key in value:
            if not isinstance(key, str):
                raise EncodingError(f"{path}: object key {key!r} is not a string")
        out.append("{")
        for i, key in enumerate(sorted(value, key=_sort_key)):
            if i:
                out.append(",")
            out.append(_encode_string(key))
            out.append(":")
            _write(value[key], f"{path}.{key}", out, depth + 1)
        out.append("}")
    elif isinstance(value, list | tuple):
        if depth >= MAX_NESTING:
            raise _too_deep(path)
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, f"{path}[{i}]", out, depth + 1)
        out.append("]")
    elif isinstance(value, float):
        raise EncodingError(f"{path}: floats are not allowed in canonical documents")
    else:
        raise EncodingError(f"{path}: {type(value).__name__} is not a JSON value")


def canonical_json(obj: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``obj`` (restricted as described above).

    Deterministic: equal documents (regardless of key insertion order) give identical bytes.
    Raises :class:`EncodingError` naming the JSON path of the first unacceptable value.
    """
    out: list[str] = []
    _write(obj, "$", out)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as e:
        raise EncodingError("$: string contains a lone surrogate (not encodable as UTF-8)") from e


def _reject_float(text: str) -> Any:
    raise EncodingError(f"number {text} is not an integer; floats are not allowed")


def _reject_constant(text: str) -> Any:
    raise EncodingError(f"{text} is not allowed")


def _checked_int(text: str) -> int:
    if len(text) > 20:  # cheap guard before int(): huge digit strings cannot be in range anyway
        raise EncodingError(f"integer {text[:20]}... is outside ±(2^53-1)")
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise EncodingError(f"integer {text} is outside ±(2^53-1)")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise EncodingError(f"duplicate object member name {key!r}")
        result[key] = value
    return result


def parse_json(data: bytes | str) -> Any:
    """Parse JSON strictly into the value space :func:`canonical_json` accepts.

    Rejects invalid UTF-8, floats, NaN/Infinity, integers outside ±(2^53 − 1), duplicate member
    names and lone surrogate escapes, raising :class:`EncodingError`. Whitespace and member order
    in the input are free; use :func:`canonical_json` to get the one canonical form back.
    """
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise EncodingError(f"JSON is not valid UTF-8 at byte {e.start}") from e
    elif isinstance(data, str):
        text = data
    else:
        raise EncodingError(f"expected JSON bytes or text, got {type(data).__name__}")
    if nesting_exceeds(text, MAX_NESTING):
        raise EncodingError(f"JSON nesting is too deep (more than {MAX_NESTING} levels)")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_reject_float,
            parse_int=_checked_int,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as e:
        raise EncodingError(f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    except RecursionError as e:
        raise EncodingError("JSON nesting is too deep") from e
    # A "\ud800" escape parses to a lone surrogate; canonical_json would reject it later, so do it now.
    canonical_json(value)
    return value


# A JSON string token as the nesting scan delimits it: a quote, then plain characters or backslash
# escapes, then a quote (the unrolled form of "(?:[^"\\]|\\.)*", which matches the same tokens).
_STRING_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# Step per bracket, offset by one so it fits a byte: 2 for an opener, 0 for a closer.
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def _outside_strings(text: str) -> str:
    """``text`` with its string tokens (as :data:`_STRING_TOKEN` delimits them) removed."""
    if "\\" in text:
        return _STRING_TOKEN.sub("", text)
    # Without backslashes a string token runs from a quote to the next quote: the pieces between
    # quotes alternate outside / inside, and after an unmatched last quote the rest is outside too.
    pieces = text.split('"')
    outside = pieces[0::2]
    if len(pieces) % 2 == 0:
        outside.append(pieces[-1])
    return "".join(outside)


def nesting_exceeds(text: str, limit: int) -> bool:
    """True if brackets outside strings nest deeper than ``limit`` at some point, reading left to right.

    The depth after each bracket is the number of openers (``[``, ``{``) minus closers so far. Every
    step runs in C (split/join or one regex pass to drop strings, one to keep brackets, then a running
    sum over bytes), never a Python loop per token. Text with at most ``limit`` openers in all cannot
    exceed it, which is checked first.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _outside_strings(text))
    if brackets.count("[") + brackets.count("{") <= limit:
        return False
    # With step 2 per opener and 0 per closer, depth after k brackets = (sum of the first k steps) - k.
    running = accumulate(brackets.encode("ascii").translate(_BRACKET_STEP))
    deepest: int = max(map(operator.sub, running, count(1)))
    return deepest > limit


def domain_tag(domain: str) -> bytes:
    """Return the domain-separation tag ``b"poolproof/v1/" + domain``.

    ``domain`` must match ``[a-z0-9][a-z0-9._/-]{0,127}`` (for example ``"bundle/snapshot-header"``);
    anything else raises :class:`EncodingError`.
    """
    if not isinstance(domain, str) or not _DOMAIN_RE.fullmatch(domain):
        raise EncodingError(f"invalid domain {domain!r}: expected [a-z0-9][a-z0-9._/-]{{0,127}}")
    return DOMAIN_PREFIX + domain.encode("ascii")


def domain_separated(domain: str, obj: Any) -> bytes:
    """Return ``len(tag) as 8-byte big-endian || tag || canonical_json(obj)``.

    This is the exact byte string that is hashed by :func:`document_hash` and signed by
    :mod:`proofs.signing`. The length prefix makes the split between tag and document
    unambiguous, so bytes meant for one domain can never be read as another's.
    """
    tag = domain_tag(domain)
    return len(tag).to_bytes(8, "big") + tag + canonical_json(obj)


def document_hash(domain: str, obj: Any) -> bytes:
    """Return ``SHA-256(domain_separated(domain, obj))``, 32 bytes."""
    return hashlib.sha256(domain_separated(domain, obj)).digest()
