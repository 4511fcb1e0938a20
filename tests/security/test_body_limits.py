"""Authentication before the body, through a real server (waitress on 127.0.0.1).

Every route accepts at most ``BODY_LIMIT_BYTES`` (1 MiB); only a tape submission by the platform that
owns the pool, with a live key, may send up to ``MAX_TAPE_BYTES``. An oversized body from anyone else is
refused from the request head: the 413 arrives before a byte of the body was sent, and waitress never
opens a temporary file for it.
"""

from __future__ import annotations

import json
import select
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import create_app
from gateway.access.admin import create_party
from gateway.keys.tape_signatures import public_key_bytes
from gateway.snapshots.demo import DemoInstance, LiveServer, init_instance
from gateway.storage.db import connect
from tests.gateway.helpers import CUTOFF, Platform, cn_row, jsonl

GIB = 1 << 30
MIB = 1 << 20
TAPE_URL = "/platform/pools/BL1/cutoffs/" + CUTOFF + "/tapes"


@dataclass
class Site:
    inst: DemoInstance
    server: LiveServer
    owner_key: str
    other_platform_key: str
    investor_key: str
    signing_key: Ed25519PrivateKey


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    inst = init_instance(tmp_path_factory.mktemp("body-limits"))
    sk = Ed25519PrivateKey.generate()
    db = connect(inst.db_path)
    try:
        _, owner = create_party(db, "bl-plat", "platform", public_key=public_key_bytes(sk))
        _, other = create_party(db, "bl-plat2", "platform", public_key=public_key_bytes(sk))
        _, investor = create_party(db, "bl-inv", "investor")
    finally:
        db.conn.close()
    app = create_app(inst.config(TESTING=True, SEAL_WORKERS=0, RATE_LIMIT_PER_SECOND=0))
    server = LiveServer(app)
    r = requests.post(
        f"{server.url}/platform/pools",
        json={"pool_id": "BL1", "settings": {"preset": "CN_CONSUMER"}},
        headers={"Authorization": f"Bearer {owner}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    try:
        yield Site(inst, server, owner, other, investor, sk)
    finally:
        server.close()


@pytest.fixture
def spooled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every temporary file opened in this process while the test runs (waitress spools bodies to one)."""
    opened: list[str] = []
    real = tempfile.TemporaryFile

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append("TemporaryFile")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", counting)
    return opened


def send_head(url: str, method: str, path: str, headers: dict[str, str]) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def refused_from_the_head(url: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """Send only the head of a 1 GiB request; the answer must come without any body being sent."""
    sock = send_head(
        url, "POST", path, {"Content-Length": str(GIB), "Content-Type": "application/json", **headers}
    )
    try:
        status, resp_headers, body = read_response(sock)
    finally:
        sock.close()
    assert status == 413
    assert resp_headers["content-type"] == "application/json"
    assert resp_headers["x-content-type-options"] == "nosniff"
    out: dict[str, Any] = json.loads(body)
    assert out["code"] == 413
    assert "1048576 bytes" in out["message"]
    return out


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "path",
    [
        "/investor/pools/BL1/snapshots/" + CUTOFF + "/claims",
        "/admin/parties",
        "/platform/pools",
        "/no/such/route",
        TAPE_URL,
    ],
)
def test_an_unauthenticated_gigabyte_is_refused_before_its_body_is_sent(
    site: Site, spooled: list[str], path: str
) -> None:
    refused_from_the_head(site.server.url, path, {})
    assert spooled == []


@pytest.mark.parametrize("who", ["wrong_key", "other_platform", "investor", "bad_scheme"])
def test_a_tape_body_from_anyone_but_the_pools_platform_is_refused_from_the_head(
    site: Site, spooled: list[str], who: str
) -> None:
    headers = {
        "wrong_key": bearer("ppk_" + "W" * 43),
        "other_platform": bearer(site.other_platform_key),
        "investor": bearer(site.investor_key),
        "bad_scheme": {"Authorization": "Basic " + site.owner_key},
    }[who]
    refused_from_the_head(site.server.url, TAPE_URL, headers)
    assert spooled == []


def test_the_pools_platform_is_told_to_continue_with_a_large_tape(site: Site) -> None:
    sock = send_head(
        site.server.url,
        "POST",
        TAPE_URL,
        {"Content-Length": str(GIB), "Expect": "100-continue", **bearer(site.owner_key)},
    )
    try:
        first_line = sock.recv(64).split(b"\r\n", 1)[0]
    finally:
        sock.close()
    assert first_line == b"HTTP/1.1 100 Continue"


def test_an_unauthenticated_chunked_body_is_cut_off_at_the_limit(site: Site, spooled: list[str]) -> None:
    sock = send_head(
        site.server.url,
        "POST",
        TAPE_URL,
        {"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
    )
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
    sent = 0
    try:
        while sent < GIB and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(chunk)
            except OSError:  # the server answered and closed
                break
            sent += len(chunk)
        status, _, body = read_response(sock)
    finally:
        sock.close()
    assert status == 413
    assert json.loads(body)["code"] == 413
    assert sent < 64 * MIB  # the server's 1 MiB plus what socket buffers took in flight
    assert spooled == []


def test_the_pools_platform_may_send_a_tape_over_the_default_limit(site: Site) -> None:
    body = jsonl([cn_row(i) for i in range(1, 1001)])
    assert len(body) > MIB
    r = requests.post(
        f"{site.server.url}{TAPE_URL}",
        data=body,
        headers=Platform("bl-plat", site.owner_key, site.signing_key).headers("BL1", CUTOFF, body),
        timeout=300,
    )
    assert r.status_code == 201, r.text
    assert r.json()["rows"] == 1000


def test_any_other_body_over_the_default_limit_is_refused_even_for_the_operator(
    site: Site, spooled: list[str]
) -> None:
    payload = {"party_id": "x", "role": "investor", "display_name": "y" * (2 * MIB)}
    r = requests.post(
        f"{site.server.url}/admin/parties", json=payload, headers=bearer(site.inst.admin_key), timeout=60
    )
    assert r.status_code == 413
    assert "1048576 bytes" in r.json()["message"]
    assert spooled == []


def test_the_flask_app_applies_the_same_limit_without_waitress(site: Site) -> None:
    client = create_app(site.inst.config(RATE_LIMIT_PER_SECOND=0)).test_client()
    r = client.post(
        "/platform/pools",
        data=b"{" + b" " * (2 * MIB) + b"}",
        headers={**bearer(site.owner_key), "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.get_json()["message"].startswith("request body larger than 1048576 bytes")


def test_wrong_keys_on_the_tape_head_count_as_failed_authentications(site: Site) -> None:
    app = create_app(site.inst.config(TESTING=True, AUTH_FAILURE_BURST=3))
    server = LiveServer(app)
    try:
        for i in range(3):
            refused_from_the_head(server.url, TAPE_URL, bearer(f"ppk_wrong{i}"))
        r = requests.get(f"{server.url}/platform/pools", headers=bearer(site.owner_key), timeout=30)
    finally:
        server.close()
    assert r.status_code == 429


def test_a_revoked_key_loses_the_tape_limit_at_once(site: Site, spooled: list[str]) -> None:
    from gateway.access.admin import issue_key, revoke_key

    db = connect(site.inst.db_path)
    try:
        record, key = issue_key(db, "bl-plat", label="short-lived")
        sock = send_head(
            site.server.url,
            "POST",
            TAPE_URL,
            {"Content-Length": str(GIB), "Expect": "100-continue", **bearer(key)},
        )
        try:
            assert sock.recv(64).split(b"\r\n", 1)[0] == b"HTTP/1.1 100 Continue"
        finally:
            sock.close()
        revoke_key(db, "bl-plat", record.key_id)
    finally:
        db.conn.close()
    refused_from_the_head(site.server.url, TAPE_URL, bearer(key))
    assert spooled == []


def test_a_small_tape_request_with_a_wrong_key_counts_as_one_failure(site: Site) -> None:
    app = create_app(site.inst.config(TESTING=True, AUTH_FAILURE_BURST=3))
    server = LiveServer(app)
    try:
        codes = [
            requests.post(
                f"{server.url}{TAPE_URL}", data=b"[]", headers=bearer(f"ppk_wrong{i}"), timeout=30
            ).status_code
            for i in range(4)
        ]
    finally:
        server.close()
    assert codes == [401, 401, 401, 429]


def test_poolproof_serve_refuses_an_unauthenticated_gigabyte_from_the_head(site: Site) -> None:
    from tests.reliability.server import Server

    server = Server(site.inst.db_path, site.inst.master_key_file).start()
    try:
        refused_from_the_head(server.url, TAPE_URL, {})
        refused_from_the_head(server.url, TAPE_URL, bearer(site.other_platform_key))
        sock = send_head(
            server.url,
            "POST",
            TAPE_URL,
            {"Content-Length": str(GIB), "Expect": "100-continue", **bearer(site.owner_key)},
        )
        try:
            assert sock.recv(64).split(b"\r\n", 1)[0] == b"HTTP/1.1 100 Continue"
        finally:
            sock.close()
    finally:
        server.kill()
