"""Every expected failure of ``poolproof``'s own commands exits with its code from proofs/exit_codes.py and
one ``Error:`` line, never a traceback: against a real gateway on 127.0.0.1, a closed port and a server
that answers 500."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from proofs.exit_codes import ExitCode

from .helpers import Instance, cli_add_platform
from .helpers import cli_ok as _ok
from .test_e2e import Server

CUTOFF = "2024-06-30"


@dataclass
class World:
    """An initialised instance with a platform (pool P1), an investor, a running gateway and two
    addresses that fail: a closed port and a server answering 500 to everything."""

    tmp: Path
    db: Path
    key: Path
    url: str
    platform_key: str
    investor_key: str
    pem: Path
    tape: Path
    closed_url: str
    broken_url: str

    def local(self) -> list[str]:
        return ["--db", str(self.db), "--master-key-file", str(self.key)]


class _Answers500(BaseHTTPRequestHandler):
    def _fail(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"code": 500, "status": "Internal Server Error", "message": "storage failed"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _fail

    def log_message(self, format: str, *args: object) -> None:
        pass


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("exit-codes")
    db, key, pem = tmp / "pp.db", tmp / "master.key", tmp / "plat.pem"
    local = ["--db", str(db), "--master-key-file", str(key)]
    admin = json.loads(_ok("init", *local, "--json"))["operator_api_key"]
    _ok("keygen", str(pem))
    platform = json.loads(cli_add_platform(pem, *local, "--json"))["api_key"]
    investor = json.loads(
        _ok("parties", "add", "inv1", "--role", "investor", "--pool", "P1", *local, "--json")
    )["api_key"]
    tape = tmp / "tape.jsonl"
    _ok("synth", "--loans", "20", "--cutoff", CUTOFF, "--pool-id", "P1", "--out", str(tape))
    srv = Server(Instance(db, key, admin))
    broken = HTTPServer(("127.0.0.1", 0), _Answers500)
    threading.Thread(target=broken.serve_forever, daemon=True).start()
    try:
        yield World(
            tmp=tmp,
            db=db,
            key=key,
            url=srv.url,
            platform_key=platform,
            investor_key=investor,
            pem=pem,
            tape=tape,
            closed_url=f"http://127.0.0.1:{_closed_port()}",
            broken_url=f"http://127.0.0.1:{broken.server_address[1]}",
        )
    finally:
        broken.shutdown()
        srv.close()


def _bad_tape(w: World) -> Path:
    rows = [json.loads(line) for line in w.tape.read_text(encoding="utf-8").splitlines()]
    rows[3]["term_months"] = -1
    path = w.tmp / "bad-tape.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _not_a_key(w: World) -> Path:
    path = w.tmp / "not-a-key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    return path


def _submit(w: World, url: str, api_key: str, tape: Path | None = None, pem: Path | None = None) -> list[str]:
    return [
        "submit",
        str(tape or w.tape),
        "--url",
        url,
        "--api-key",
        api_key,
        "--pool",
        "P1",
        "--cutoff",
        CUTOFF,
        "--signing-key",
        str(pem or w.pem),
    ]


def _get(url: str, api_key: str, path: str = "/investor/pools") -> list[str]:
    return ["get", path, "--url", url, "--api-key", api_key]


def _post(w: World, url: str, api_key: str, body: str) -> list[str]:
    path = w.tmp / "body.json"
    path.write_text(body, encoding="utf-8")
    target = f"/auditor/pools/P1/snapshots/{CUTOFF}/cosignatures"
    return ["post", target, str(path), "--url", url, "--api-key", api_key]


Case = Callable[[World], list[str]]
CASES: list[tuple[str, Case, ExitCode, str]] = [
    ("get, good key", lambda w: _get(w.url, w.investor_key), ExitCode.OK, ""),
    ("submit, wrong key", lambda w: _submit(w, w.url, "ppk_wrong"), ExitCode.AUTH, "HTTP 401"),
    ("get, wrong key", lambda w: _get(w.url, "ppk_wrong"), ExitCode.AUTH, "HTTP 401"),
    (
        "get, refused by role",
        lambda w: _get(w.url, w.investor_key, "/platform/pools"),
        ExitCode.REFUSED,
        "HTTP 403",
    ),
    (
        "submit, bad tape",
        lambda w: _submit(w, w.url, w.platform_key, tape=_bad_tape(w)),
        ExitCode.UNUSABLE,
        "field term_months",
    ),
    (
        "submit, not a signing key",
        lambda w: _submit(w, w.url, w.platform_key, pem=_not_a_key(w)),
        ExitCode.UNUSABLE,
        "--signing-key",
    ),
    (
        "submit, server down",
        lambda w: _submit(w, w.closed_url, w.platform_key),
        ExitCode.UNREACHABLE,
        "cannot reach the gateway",
    ),
    (
        "get, server down",
        lambda w: _get(w.closed_url, w.investor_key),
        ExitCode.UNREACHABLE,
        "cannot reach the gateway",
    ),
    (
        "post, body not JSON",
        lambda w: _post(w, w.url, w.investor_key, "{not json"),
        ExitCode.UNUSABLE,
        "not a JSON document",
    ),
    ("post, wrong key", lambda w: _post(w, w.url, "ppk_wrong", "{}"), ExitCode.AUTH, "HTTP 401"),
    (
        "post, server down",
        lambda w: _post(w, w.closed_url, w.investor_key, "{}"),
        ExitCode.UNREACHABLE,
        "cannot reach the gateway",
    ),
    ("submit, server error", lambda w: _submit(w, w.broken_url, w.platform_key), ExitCode.SERVER, "HTTP 500"),
    ("get, server error", lambda w: _get(w.broken_url, w.investor_key), ExitCode.SERVER, "HTTP 500"),
    (
        "parties add, unknown pool",
        lambda w: ["parties", "add", "inv2", "--role", "investor", "--pool", "NOPE", *w.local()],
        ExitCode.UNUSABLE,
        "no pool 'NOPE'",
    ),
    (
        "parties add, existing party",
        lambda w: ["parties", "add", "inv1", "--role", "investor", *w.local()],
        ExitCode.UNUSABLE,
        "already exists",
    ),
    (
        "pools create, unknown platform",
        lambda w: ["pools", "create", "P9", "--platform", "nobody", "--preset", "CN_CONSUMER", *w.local()],
        ExitCode.UNUSABLE,
        "no platform 'nobody'",
    ),
    (
        "pools create, bad DPD edges",
        lambda w: [
            "pools",
            "create",
            "P9",
            "--platform",
            "plat1",
            "--preset",
            "CN_CONSUMER",
            "--dpd-edges",
            "0,60,30,90",
            *w.local(),
        ],
        ExitCode.UNUSABLE,
        "edges must be strictly increasing (60 then 30)",
    ),
    (
        "pools show, unknown pool",
        lambda w: ["pools", "show", "NOPE", *w.local()],
        ExitCode.UNUSABLE,
        "no pool 'NOPE'",
    ),
    (
        "seal, unknown pool",
        lambda w: ["seal", "--pool", "NOPE", "--cutoff", CUTOFF, *w.local()],
        ExitCode.UNUSABLE,
        "NOPE",
    ),
    ("keygen, existing file", lambda w: ["keygen", str(w.pem)], ExitCode.UNUSABLE, "never overwritten"),
    (
        "synth, bad cut-off",
        lambda w: ["synth", "--loans", "5", "--cutoff", "30/06/2024", "--out", "x.jsonl"],
        ExitCode.UNUSABLE,
        "--cutoff",
    ),
    (
        "serve, port in use",
        lambda w: ["serve", "--port", w.url.rsplit(":", 1)[1], *w.local()],
        ExitCode.UNUSABLE,
        "cannot listen on 127.0.0.1",
    ),
    (
        "serve, no master key",
        lambda w: ["serve", "--db", str(w.db), "--master-key-file", str(w.tmp / "missing.key")],
        ExitCode.UNUSABLE,
        "poolproof init",
    ),
    (
        "submit, missing option",
        lambda w: ["submit", str(w.tape), "--pool", "P1"],
        ExitCode.UNUSABLE,
        "Missing option",
    ),
]


@pytest.mark.parametrize(("args", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_expected_failure_has_its_exit_code_and_one_message(
    world: World, args: Case, code: ExitCode, message: str
) -> None:
    res = CliRunner().invoke(cli, args(world), env={"POOLPROOF_API_KEY": None})
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    if code != ExitCode.OK:
        assert message in res.stderr
        first = res.stderr.strip().splitlines()
        assert first[0].startswith("Error:") or "Usage:" in first[0]


def test_a_refused_party_registration_leaves_nothing_behind(world: World) -> None:
    res = CliRunner().invoke(
        cli,
        ["parties", "add", "inv3", "--role", "investor", "--pool", "P1", "--pool", "NOPE", *world.local()],
    )
    assert res.exit_code == ExitCode.UNUSABLE
    shown = CliRunner().invoke(cli, ["parties", "show", "inv3", *world.local()])
    assert shown.exit_code == ExitCode.UNUSABLE
    assert "no party 'inv3'" in shown.stderr
