"""Streaming readers for loan tapes in JSON (an array of objects), JSONL and CSV.

Each reader consumes a binary stream chunk by chunk through :class:`HashingReader`, which hashes the exact
bytes received (SHA-256, the content hash that idempotency and the platform signature bind to) and
enforces the size cap. Rows are yielded one at a time, so a tape is never held in memory as a whole.

Every reader numbers rows the way the sender can find them in the file: CSV and JSONL by the source
line on which the record starts (a CSV header is line 1, so the first loan of a CSV is line 2; blank
lines count), a JSON array by the row's 1-based position in the array. That number is the ``row`` of
every error report. The loan's ``index`` (tape order, 1-based, without gaps) is counted separately.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, ClassVar, cast

import orjson

from ..errors import GatewayError
from .bounded_json import MAX_TAPE_ROW_NESTING, HugeInteger, JsonLimitError, loads_tape_row, value_end

CHUNK = 1 << 20
MAX_RECORD_BYTES = 1 << 20  # one row larger than this is malformed
FORMATS = {
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/csv": "csv",
}
_INT_RE = re.compile(r"^-?\d{1,16}$")  # longer digit strings stay text: validation says integer_size
UTF8_BOM = b"\xef\xbb\xbf"
BOM_MESSAGE = (
    "starts with a UTF-8 byte-order mark (U+FEFF), which JSON text must not carry (RFC 8259 §8.1); "
    "save the tape as UTF-8 without a BOM"
)


class TapeTooLarge(GatewayError):
    """The body exceeded the configured maximum tape size."""

    http_status: ClassVar[int] = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"tape exceeds the maximum size of {limit} bytes")
        self.limit = limit


class TapeMalformed(GatewayError):
    """The body cannot be parsed as the declared format; ``row`` as the readers number it (0 = no row)."""

    http_status: ClassVar[int] = 400

    def __init__(self, row: int, message: str) -> None:
        super().__init__(f"row {row}: {message}")
        self.row = row
        self.message = message


class HashingReader:
    """Reads a binary stream, hashing every byte and refusing more than ``limit`` bytes."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._hash = hashlib.sha256()
        self.bytes_read = 0

    def read(self, n: int = CHUNK) -> bytes:
        """Up to ``n`` bytes (``b""`` at the end); raises :class:`TapeTooLarge` past the limit."""
        data = self._stream.read(n)
        if data:
            self.bytes_read += len(data)
            if self.bytes_read > self._limit:
                raise TapeTooLarge(self._limit)
            self._hash.update(data)
        return data

    def chunks(self) -> Iterator[bytes]:
        """Every remaining chunk of the stream."""
        while True:
            data = self.read(CHUNK)
            if not data:
                return
            yield data

    def hexdigest(self) -> str:
        """SHA-256 of the bytes read so far."""
        return self._hash.hexdigest()


def media_format(content_type: str | None) -> str | None:
    """``"json"``, ``"jsonl"`` or ``"csv"`` for a Content-Type header (parameters ignored), else ``None``."""
    if not content_type:
        return None
    return FORMATS.get(content_type.split(";")[0].strip().lower())


def first_long_line(first_line: int, lines: list[bytes]) -> TapeMalformed | None:
    """The error for the first of ``lines`` (numbered from ``first_line``) longer than a row may be."""
    if not lines or max(map(len, lines)) <= MAX_RECORD_BYTES:  # one C-level pass in the common case
        return None
    return line_too_long(first_line + next(i for i, x in enumerate(lines) if len(x) > MAX_RECORD_BYTES))


def line_too_long(line_number: int) -> TapeMalformed:
    """The error for a line longer than one row may be."""
    message = f"line {line_number} is longer than {MAX_RECORD_BYTES} bytes, a row's limit"
    return TapeMalformed(line_number, message)


def iter_jsonl(reader: HashingReader) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(line_number, row, problem)`` per non-blank line; ``problem`` names a malformed line."""
    line_no = 0
    pending = b""
    for chunk in reader.chunks():
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        if len(pending) > MAX_RECORD_BYTES:
            raise line_too_long(line_no + len(lines) + 1)
        too_long = first_long_line(line_no + 1, lines)
        if too_long is not None:
            raise too_long
        for line in lines:
            line_no += 1
            if line.strip():
                yield (line_no, *parse_json_line(line))
    if len(pending) > MAX_RECORD_BYTES:
        raise line_too_long(line_no + 1)
    if pending.strip():
        yield (line_no + 1, *parse_json_line(pending))


def parse_json_line(line: bytes) -> tuple[Any, str | None]:
    """``(row, None)`` for a JSONL line, or ``(None, problem)`` saying what is wrong with it.

    orjson reads the line; only a line it refuses is read again
    (:func:`gateway.ingest.bounded_json.loads_tape_row`) to find out why: a byte-order mark, nesting too deep,
    an integer too large for a double (kept as a
    :class:`~gateway.ingest.bounded_json.HugeInteger`, so validation names its field), invalid UTF-8 or JSON.
    The line's text is never echoed back.
    """
    try:
        return orjson.loads(line), None
    except (orjson.JSONDecodeError, ValueError):
        pass
    if line.startswith(UTF8_BOM):
        return None, "the line " + BOM_MESSAGE
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None, "the line is not valid UTF-8"
    try:
        return loads_tape_row(text), None
    except JsonLimitError as exc:
        return None, exc.message
    except (ValueError, RecursionError):  # json.JSONDecodeError is a ValueError
        return None, "the line is not valid JSON"


def iter_json_array(reader: HashingReader) -> Iterator[tuple[int, Any, str | None]]:
    """Yield rows of a top-level JSON array of objects, decoding incrementally.

    Raises :class:`TapeMalformed` at the first syntax error (the rest of an array cannot be located).
    """
    decoder = json.JSONDecoder()
    diagnosing = json.JSONDecoder(parse_int=_huge_int_marker)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    buf = ""
    pos = 0
    eof = False
    chunks = reader.chunks()

    def more() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        try:
            data = next(chunks)
        except StopIteration:
            eof = True
            data = b""
        try:
            text = utf8.decode(data, final=eof)
        except UnicodeDecodeError:
            raise TapeMalformed(row + 1, "body is not valid UTF-8") from None
        buf = buf[pos:] + text
        pos = 0
        return bool(text) or not eof

    def skip_ws() -> bool:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf):
                return True
            if not more():
                return False

    def _check_row_nesting(number: int) -> None:
        # Before the decoder sees the row: it would recurse once per level (see bounded_json).
        if buf[pos] not in "[{":
            return
        while True:
            try:
                if value_end(buf, pos, MAX_TAPE_ROW_NESTING) is not None:
                    return
            except JsonLimitError:
                raise TapeMalformed(
                    number,
                    f"the row nests arrays/objects deeper than {MAX_TAPE_ROW_NESTING} levels; "
                    "a tape row is one flat object of scalar values",
                ) from None
            if len(buf) - pos > MAX_RECORD_BYTES:
                raise TapeMalformed(
                    number, f"row is not valid JSON within {MAX_RECORD_BYTES} bytes, a row's limit"
                )
            if not more():
                return  # the body ends inside the row: the decoder says so

    row = 0
    if skip_ws() and buf[pos] == "\ufeff":
        raise TapeMalformed(0, "the body " + BOM_MESSAGE)
    if not skip_ws() or buf[pos] != "[":
        raise TapeMalformed(0, "expected a JSON array of row objects")
    pos += 1
    first = True
    while True:
        if not skip_ws():
            raise TapeMalformed(row + 1, "unexpected end of body inside the array")
        if buf[pos] == "]":
            pos += 1
            if skip_ws():
                raise TapeMalformed(row, "data after the closing bracket")
            return
        if not first:
            if buf[pos] != ",":
                raise TapeMalformed(row + 1, "expected ',' between rows")
            pos += 1
            if not skip_ws():
                raise TapeMalformed(row + 1, "unexpected end of body inside the array")
        first = False
        # The common row, a flat object with no "}" inside its strings: the text up to the first "}" is
        # the whole row exactly when it is one valid object (a JSON value is never the prefix of
        # another). orjson bounds nesting itself (1,024 levels, whatever the recursion limit).
        close = buf.find("}", pos) if buf[pos] == "{" else -1
        if close != -1:
            try:
                flat = orjson.loads(buf[pos : close + 1])
            except orjson.JSONDecodeError:
                pass
            else:
                row += 1
                pos = close + 1
                yield row, flat, None
                continue
        _check_row_nesting(row + 1)
        dec = decoder
        while True:
            try:
                value, end = dec.raw_decode(buf, pos)
                # A number at the buffer's edge may be cut short ("12" of "1234"): read on to be sure.
                if end == len(buf) and not eof and more():
                    continue
                break
            except json.JSONDecodeError:
                if len(buf) - pos > MAX_RECORD_BYTES:
                    raise TapeMalformed(
                        row + 1, f"row is not valid JSON within {MAX_RECORD_BYTES} bytes, a row's limit"
                    ) from None
                if not more():
                    raise TapeMalformed(row + 1, "row is not valid JSON") from None
            except RecursionError:
                raise TapeMalformed(
                    row + 1,
                    f"the row nests arrays/objects deeper than {MAX_TAPE_ROW_NESTING} levels; "
                    "a tape row is one flat object of scalar values",
                ) from None
            except ValueError:
                # An integer literal past Python's 4300-digit conversion guard: read the row again,
                # keeping such literals as markers so that validation names the field.
                if dec is diagnosing:
                    raise TapeMalformed(row + 1, "row is not valid JSON") from None
                dec = diagnosing
        row += 1
        pos = end
        yield row, value, None


def _huge_int_marker(literal: str) -> Any:
    return HugeInteger(len(literal.lstrip("-"))) if len(literal) > 4000 else int(literal)


def iter_csv(reader: HashingReader, int_fields: Iterable[str]) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(line_number, record, problem)`` after the header (line 1); a record is a dict.

    Empty cells are absent, integer columns are ints. The line number is the source line on which the
    record starts (a quoted cell may span lines).

    A cell of an integer column that is not a plain integer stays a string, so validation reports it
    (for money: a decimal is refused as not integer minor units). Raises :class:`TapeMalformed` for a
    missing or duplicated header, a cell longer than the CSV reader's limit, or a broken record.
    """
    ints = frozenset(int_fields)
    # utf-8-sig: a leading byte order mark (spreadsheet exports) is not part of the first column's name.
    text = io.TextIOWrapper(cast(BinaryIO, _ReadableAdapter(reader)), encoding="utf-8-sig", newline="")
    rdr = csv.reader(text, strict=True)
    try:
        header = next(rdr)
    except StopIteration:
        raise TapeMalformed(0, "empty CSV body: expected a header row") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise _csv_problem(1, exc, "header row is not valid UTF-8 CSV") from None
    header = [h.strip() for h in header]
    if not header or any(not h for h in header) or len(set(header)) != len(header):
        raise TapeMalformed(1, "CSV header must name each column once")
    is_int = [h in ints for h in header]
    width = len(header)
    last = rdr.line_num
    while True:
        row = last + 1
        try:
            cells = next(rdr)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise _csv_problem(row, exc, "record is not valid UTF-8 CSV") from None
        last = rdr.line_num
        if not cells:
            continue
        if len(cells) != width:
            yield row, None, f"record has {len(cells)} cells, the header has {width}"
            continue
        out: dict[str, Any] = {}
        for name, cell, as_int in zip(header, cells, is_int, strict=True):
            if cell == "":
                continue
            out[name] = int(cell) if as_int and _INT_RE.match(cell) else cell
        yield row, out, None


def _csv_problem(line: int, exc: Exception, default: str) -> TapeMalformed:
    if isinstance(exc, csv.Error) and "field larger than field limit" in str(exc):
        return TapeMalformed(
            line, f"a cell of the record on line {line} is longer than {csv.field_size_limit()} characters"
        )
    return TapeMalformed(line, default)


class _ReadableAdapter(io.RawIOBase):
    """Lets :class:`io.TextIOWrapper` pull from a :class:`HashingReader`."""

    def __init__(self, reader: HashingReader) -> None:
        self._reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._reader.read(len(b))
        n = len(data)
        b[:n] = data
        return n


def iter_tape(
    fmt: str, reader: HashingReader, int_fields: Iterable[str]
) -> Iterator[tuple[int, Any, str | None]]:
    """Dispatch on the tape format (``json``, ``jsonl`` or ``csv``)."""
    if fmt == "jsonl":
        return iter_jsonl(reader)
    if fmt == "json":
        return iter_json_array(reader)
    if fmt == "csv":
        return iter_csv(reader, int_fields)
    raise ValueError(f"unknown tape format {fmt!r}")
