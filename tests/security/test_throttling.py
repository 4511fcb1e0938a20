"""Throttling that cannot be sidestepped: one bucket per API key however the header is spelled, and a
per-address limit on failed authentications (a stream of wrong keys is throttled, then everything from
that address is, until the bucket refills)."""

from __future__ import annotations

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from gateway import create_app
from gateway.access.credentials import bearer_token
from gateway.access.ratelimit import TokenBuckets
from gateway.snapshots.demo import LiveServer

from .world import World, bearer

SPELLINGS = ("Bearer {k}", "Bearer   {k}", "bearer {k}", "BEARER\t{k}", "Bearer {k}  ", "Bearer \t {k}\t")


def test_every_spelling_of_one_key_draws_from_one_bucket(world: World) -> None:
    app = create_app(world.inst.config(RATE_LIMIT_PER_SECOND=0.5, RATE_LIMIT_BURST=3))
    client = app.test_client()
    key = world.keys["investor"]
    codes = [
        client.get("/investor/pools", headers={"Authorization": s.format(k=key)}).status_code
        for s in SPELLINGS
    ]
    assert codes == [200, 200, 200, 429, 429, 429]


@given(
    token=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60),
    before=st.text(" \t", min_size=1, max_size=5),
    after=st.text(" \t", max_size=5),
    scheme=st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"]),
)
def test_bearer_token_reads_one_token_whatever_the_spacing(
    token: str, before: str, after: str, scheme: str
) -> None:
    assert bearer_token(f"{scheme}{before}{token}{after}") == token


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Basic dXNlcjpwYXNz",
        "Bearerkey",
        "Token k",
        "Bearer " + "k" * 300,
    ],
)
def test_a_header_that_is_not_one_bearer_token_presents_no_key(header: str | None) -> None:
    assert bearer_token(header) is None


def test_five_hundred_wrong_keys_in_a_row_are_throttled(world: World) -> None:
    # Per-key limit as in production (each wrong key would have a fresh bucket); default failure limit.
    app = create_app(world.inst.config(RATE_LIMIT_PER_SECOND=50, RATE_LIMIT_BURST=200))
    client = app.test_client()
    codes = [
        client.get("/investor/pools", headers=bearer(f"ppk_wrong{i:04d}")).status_code for i in range(500)
    ]
    assert codes[:20] == [401] * 20
    assert set(codes[20:]) == {429}
    resp = client.get("/investor/pools", headers=bearer(f"ppk_wrong{500}"))
    assert resp.status_code == 429
    assert "failed authentications" in resp.get_json()["message"]
    assert int(resp.headers["Retry-After"]) >= 1


def test_while_an_address_is_throttled_a_right_key_from_it_waits_too(world: World) -> None:
    app = create_app(world.inst.config(AUTH_FAILURE_BURST=3))
    client = app.test_client()
    for i in range(3):
        assert client.get("/investor/pools", headers=bearer(f"ppk_wrong{i}")).status_code == 401
    assert client.get("/investor/pools", headers=bearer(world.keys["investor"])).status_code == 429
    # Another address is not affected; liveness checks never are.
    other = client.get(
        "/investor/pools", headers=bearer(world.keys["investor"]), environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other.status_code == 200
    assert client.get("/healthz").status_code == 200


def test_missing_and_malformed_credentials_count_as_failures(world: World) -> None:
    app = create_app(world.inst.config(AUTH_FAILURE_BURST=4))
    client = app.test_client()
    headers = [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer a b"},
        {"Authorization": "x"},
    ]
    assert [client.get("/investor/pools", headers=h).status_code for h in headers] == [401] * 4
    assert client.get("/investor/pools").status_code == 429


def test_successful_requests_do_not_use_up_the_failure_allowance(world: World) -> None:
    app = create_app(world.inst.config(AUTH_FAILURE_BURST=2))
    client = app.test_client()
    for _ in range(50):
        assert client.get("/investor/pools", headers=bearer(world.keys["investor"])).status_code == 200
    assert client.get("/investor/pools", headers=bearer("ppk_wrong")).status_code == 401


def test_the_failure_limit_can_be_turned_off_alone(world: World) -> None:
    app = create_app(world.inst.config(AUTH_FAILURES_PER_MINUTE=0))
    assert "poolproof_auth_failures" not in app.extensions
    assert "poolproof_rate_limit" in app.extensions
    client = app.test_client()
    assert {client.get("/investor/pools", headers=bearer(f"ppk_w{i}")).status_code for i in range(60)} == {
        401
    }


def test_a_failure_bucket_refills_without_being_drawn_from() -> None:
    t = [0.0]
    buckets = TokenBuckets(1 / 6, 2, clock=lambda: t[0])
    assert buckets.wait("addr:a") == 0.0
    buckets.take("addr:a")
    buckets.take("addr:a")
    assert buckets.wait("addr:a") == pytest.approx(6.0)
    assert buckets.wait("addr:a") == pytest.approx(6.0)  # asking takes nothing
    t[0] = 6.0
    assert buckets.wait("addr:a") == 0.0


def test_wrong_keys_are_throttled_through_a_real_server(world: World) -> None:
    app = create_app(world.inst.config(AUTH_FAILURE_BURST=5))
    server = LiveServer(app)
    try:
        with requests.Session() as s:
            codes = [
                s.get(f"{server.url}/investor/pools", headers=bearer(f"ppk_wrong{i}"), timeout=30).status_code
                for i in range(30)
            ]
            respelled = s.get(
                f"{server.url}/investor/pools",
                headers={"Authorization": f"bearer   {world.keys['investor']}"},
                timeout=30,
            )
    finally:
        server.close()
    assert codes == [401] * 5 + [429] * 25
    assert respelled.status_code == 429
