"""Limits on what a JSON text may hold before the gateway reads it: integer size and nesting depth.

Python's decoder turns a 5000-digit integer into a ``ValueError`` (the 4300-digit conversion guard) and a
value nested 50,000 deep into a ``RecursionError``; neither is a clear answer to the sender. Here both
become a :class:`JsonLimitError` that names the rule:

* ``integer_size``: an integer beyond ±(2^53 - 1). Integers past 2^53 are not exactly representable in
  the IEEE 754 doubles most JSON readers use (RFC 8259 §6; I-JSON, RFC 7493 §2.2), so an amount that
  large would be read differently by a spreadsheet or a browser than by the gateway.
* ``nesting_depth``: arrays/objects nested deeper than :data:`MAX_BODY_NESTING` levels (request bodies
  of the API are at most three levels deep).

The depth is always measured *before* a decoder sees the text: importing ``py_ecc`` raises the
interpreter's recursion limit to 100,000, and at that limit the C decoder exhausts the thread's stack on
a value nested some 90,000 deep (the process dies; no ``RecursionError`` is raised). A depth check that
waits for the decoder's ``RecursionError`` is therefore no check at all in the gateway's processes.

For tape rows, which must stay cheap on the fast path, :func:`loads_tape_row` is only the fallback for a
row the fast parser (orjson) refused: it keeps huge integer literals as :class:`HugeInteger` markers, so
the row's validation can name the field that carries one.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from ..errors import GatewayError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_BODY_NESTING = 32
MAX_TAPE_ROW_NESTING = 64  # a tape row is one flat object; deeper than this is reported as nesting_depth
_MAX_INT_CHARS = 17  # "-9007199254740991": longer literals are beyond 2^53 whatever their digits
# A JSON string (skipped whole, so brackets inside it do not count) or one bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
# A flat object (strings and scalars, no bracket outside a string), matched without backtracking.
_FLAT_OBJECT = re.compile(r'\{(?:"[^"\\]*+(?:\\.[^"\\]*+)*+"|[^"\[\]{}]++)*+\}', re.DOTALL)
# A string, closed or cut off by the end of the text (then the row is not complete yet), or a bracket.
_ROW_TOKENS = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


class JsonLimitError(GatewayError, ValueError):
    """A JSON text exceeds a limit; ``rule`` is ``integer_size`` or ``nesting_depth``."""

    http_status: ClassVar[int] = 400

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


class HugeInteger:
    """Stands for an integer literal too large to convert, in a tape row that is being diagnosed."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<integer of {self.digits} digits>"


def nesting_depth(text: str, stop: int) -> int:
    """The deepest array/object nesting of ``text`` (counting stops a level past ``stop``).

    Brackets inside strings are not counted; the text need not be valid JSON.
    """
    depth = deepest = 0
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop:
                    return deepest
        elif tok in "]}":
            depth -= 1
    return deepest


def value_end(text: str, pos: int, limit: int) -> int | None:
    """Where the array or object opening at ``text[pos]`` ends, if it nests at most ``limit`` deep.

    Returns the index just past its closing bracket, or ``None`` when ``text`` ends first (read more and
    ask again). Raises :class:`JsonLimitError` (``nesting_depth``) as soon as the brackets outside
    strings go deeper than ``limit``, before the rest is read. A flat object, the tape rows' shape, is
    one regular-expression match; anything else is scanned token by token. The text from ``pos`` need not
    be valid JSON; the decoder that reads it afterwards says what else is wrong.
    """
    flat = _FLAT_OBJECT.match(text, pos)
    if flat is not None:
        return flat.end()
    depth = 0
    for m in _ROW_TOKENS.finditer(text, pos):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > limit:
                raise JsonLimitError("nesting_depth", f"nests arrays/objects deeper than {limit} levels")
        elif tok in "]}":
            depth -= 1
            if depth <= 0:
                return m.end()
        elif m.end() == len(text):
            return None  # a string at the very end may be cut off: the value is not complete yet
    return None


def _bounded_int(literal: str) -> int:
    if len(literal) > _MAX_INT_CHARS:
        raise JsonLimitError("integer_size", _integer_message(len(literal.lstrip("-"))))
    value = int(literal)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise JsonLimitError("integer_size", _integer_message(len(literal.lstrip("-"))))
    return value


def _integer_message(digits: int) -> str:
    return (
        f"an integer of {digits} digits is beyond 2^53 - 1 = {MAX_SAFE_INTEGER}, the largest integer "
        "JSON carries exactly (RFC 7493 §2.2)"
    )


def _refuse_constant(name: str) -> Any:
    raise JsonLimitError("not_json", f"{name} is not a JSON number (RFC 8259 §6)")


def loads_body(text: str) -> Any:
    """Decode a request body: plain JSON within the integer and nesting limits.

    Raises :class:`JsonLimitError` (``nesting_depth``, ``integer_size``, ``not_json`` for NaN and
    Infinity) or :class:`json.JSONDecodeError` for a syntax error.
    """
    depth = nesting_depth(text, MAX_BODY_NESTING)
    if depth > MAX_BODY_NESTING:
        raise JsonLimitError(
            "nesting_depth", f"the body nests arrays/objects deeper than {MAX_BODY_NESTING} levels"
        )
    return json.loads(text, parse_int=_bounded_int, parse_constant=_refuse_constant)


def _marked_int(literal: str) -> Any:
    if len(literal) > _MAX_INT_CHARS:
        return HugeInteger(len(literal.lstrip("-")))
    return int(literal)


def loads_tape_row(text: str) -> Any:
    """Decode one tape row that the fast parser refused, to say precisely why.

    Integer literals too long for 2^53 come back as :class:`HugeInteger` (the row's validation names the
    field). Raises :class:`JsonLimitError` (``nesting_depth``) for a row nested deeper than
    :data:`MAX_TAPE_ROW_NESTING` levels, :class:`json.JSONDecodeError` for a syntax error.
    """
    depth = nesting_depth(text, MAX_TAPE_ROW_NESTING)
    if depth > MAX_TAPE_ROW_NESTING:
        raise JsonLimitError(
            "nesting_depth",
            f"the row nests arrays/objects deeper than {MAX_TAPE_ROW_NESTING} levels; "
            "a tape row is one flat object of scalar values",
        )
    return json.loads(text, parse_int=_marked_int)
