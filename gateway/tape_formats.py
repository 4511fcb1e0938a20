"""Streaming readers for loan tapes in JSON (an array of objects), JSONL and CSV.

Each reader consumes a binary stream chunk by chunk through :class:`HashingReader`, which hashes the exact
bytes received (SHA-256, the content hash that idempotency and the platform signature bind to) and
enforces the size cap. Rows are yielded one at a time, so a tape is never held in memory as a whole.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import orjson

CHUNK = 1 << 20
MAX_RECORD_BYTES = 1 << 20  # one row larger than this is malformed
FORMATS = {
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/csv": "csv",
}
_INT_RE = re.compile(r"^-?\d{1,19}$")


class TapeTooLarge(Exception):
    """The body exceeded the configured maximum tape size."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"tape exceeds the maximum size of {limit} bytes")
        self.limit = limit


class TapeMalformed(Exception):
    """The body cannot be parsed as the declared format; ``row`` is 1-based (0 = before the first row)."""

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


def iter_jsonl(reader: HashingReader) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(row_number, row, problem)`` per non-blank line; ``problem`` names a malformed line."""
    row = 0
    pending = b""
    for chunk in reader.chunks():
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        if len(pending) > MAX_RECORD_BYTES:
            raise TapeMalformed(row + 1, f"line longer than {MAX_RECORD_BYTES} bytes")
        for line in lines:
            if not line.strip():
                continue
            row += 1
            yield _json_line(row, line)
    if pending.strip():
        row += 1
        yield _json_line(row, pending)


def _json_line(row: int, line: bytes) -> tuple[int, Any, str | None]:
    try:
        return row, orjson.loads(line), None
    except (orjson.JSONDecodeError, ValueError, UnicodeDecodeError):
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors; the text is not echoed back.
        return row, None, "line is not valid UTF-8 JSON"


def iter_json_array(reader: HashingReader) -> Iterator[tuple[int, Any, str | None]]:
    """Yield rows of a top-level JSON array of objects, decoding incrementally.

    Raises :class:`TapeMalformed` at the first syntax error (the rest of an array cannot be located).
    """
    decoder = json.JSONDecoder()
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

    row = 0
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
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                # A number at the buffer's edge may be cut short ("12" of "1234"): read on to be sure.
                if end == len(buf) and not eof and more():
                    continue
                break
            except json.JSONDecodeError:
                if len(buf) - pos > MAX_RECORD_BYTES or not more():
                    raise TapeMalformed(row + 1, "row is not valid JSON") from None
        row += 1
        pos = end
        yield row, value, None


def iter_csv(reader: HashingReader, int_fields: Iterable[str]) -> Iterator[tuple[int, Any, str | None]]:
    """Yield CSV records (header row first) as dicts; empty cells are absent, integer columns are ints.

    A cell of an integer column that is not a plain integer stays a string, so validation reports it
    (for money: a decimal is refused as not integer minor units). Raises :class:`TapeMalformed` for a
    missing or duplicated header, or a record with more cells than the header.
    """
    ints = frozenset(int_fields)
    # utf-8-sig: a leading byte order mark (spreadsheet exports) is not part of the first column's name.
    text = io.TextIOWrapper(_ReadableAdapter(reader), encoding="utf-8-sig", newline="")
    rdr = csv.reader(text, strict=True)
    try:
        header = next(rdr)
    except StopIteration:
        raise TapeMalformed(0, "empty CSV body: expected a header row") from None
    except (csv.Error, UnicodeDecodeError):
        raise TapeMalformed(0, "header row is not valid UTF-8 CSV") from None
    header = [h.strip() for h in header]
    if not header or any(not h for h in header) or len(set(header)) != len(header):
        raise TapeMalformed(0, "CSV header must name each column once")
    is_int = [h in ints for h in header]
    width = len(header)
    row = 0
    while True:
        try:
            cells = next(rdr)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError):
            raise TapeMalformed(row + 1, "record is not valid UTF-8 CSV") from None
        if not cells:
            continue
        row += 1
        if len(cells) != width:
            yield row, None, f"record has {len(cells)} cells, the header has {width}"
            continue
        out: dict[str, Any] = {}
        for name, cell, as_int in zip(header, cells, is_int, strict=True):
            if cell == "":
                continue
            out[name] = int(cell) if as_int and _INT_RE.match(cell) else cell
        yield row, out, None


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
