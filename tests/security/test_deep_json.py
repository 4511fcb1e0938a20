"""Deeply nested JSON from any sender is refused before a decoder recurses into it.

``py_ecc`` raises the interpreter's recursion limit to 100,000 when imported, and every PoolProof process
imports it; at that limit the C decoder overflows the thread's stack on a value ~90,000 deep and the
process dies with no exception. Each reader here runs in its own process, so a regression shows as a
crashed child (a failed assertion), not a crashed test run.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

DEPTH = 99_000


def _run(script: str) -> str:
    prelude = "import sys, py_ecc\nassert sys.getrecursionlimit() >= 100000\n"
    argv = [sys.executable, "-c", prelude + script]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the reader's process died ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def test_a_snapshot_bundle_with_a_deep_header_line_is_an_encoding_error(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    head = '{"format":"poolproof/snapshot/v1","header":' + "[" * DEPTH + "]" * DEPTH + ',"chunks":[\n'
    path.write_text(head + "]}\n", encoding="utf-8")
    out = _run(
        "from proofs.errors import EncodingError\n"
        "from proofs.snapshot._bundle_io import read_snapshot_parts\n"
        f"try:\n    read_snapshot_parts(open({str(path)!r}, encoding='utf-8'))\n"
        "except EncodingError as exc:\n    print('refused:', exc)\n"
    )
    assert out.startswith("refused:")
    assert "nesting is too deep" in out


class _Deep(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"[" * DEPTH + b"]" * DEPTH
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def deep_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Deep)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_gateway_answer_nested_past_the_stack_is_a_fetch_error(deep_server: str) -> None:
    out = _run(
        "from proofs.report.fetch import FetchError, _request\n"
        f"try:\n    _request({deep_server + '/pools'!r}, 'k')\n"
        "except FetchError as exc:\n    print('refused:', exc.exit_code.name, exc)\n"
    )
    assert out.startswith("refused: SERVER")
    assert "nests deeper than" in out


def test_the_command_line_clients_refuse_a_deep_gateway_answer() -> None:
    out = _run(
        "from types import SimpleNamespace\n"
        "from gateway.cli._common import answer_json\n"
        f"resp = SimpleNamespace(text='[' * {DEPTH} + ']' * {DEPTH})\n"
        "try:\n    answer_json(resp)\n"
        "except ValueError as exc:\n    print('refused:', exc)\n"
    )
    assert out.startswith("refused:")
    assert "nests deeper than" in out
