"""Security headers on every response, and the per-key rate limit (429 with Retry-After)."""

from __future__ import annotations

import pytest

from gateway import create_app
from gateway.access.ratelimit import TokenBuckets
from tests.gateway.helpers import CUTOFF

from .world import POOL, World, bearer

PATHS = (
    ("GET", "/healthz", None),
    ("GET", "/docs", None),
    ("GET", "/openapi.json", None),
    ("GET", "/public/gateway-key", None),
    ("GET", "/no/such/route", None),
    ("GET", "/investor/pools", "investor"),
    ("GET", "/investor/pools", None),  # 401
    ("GET", f"/investor/pools/{POOL}/snapshots/{CUTOFF}/header", "investor"),
    ("GET", f"/auditor/pools/{POOL}/snapshots/{CUTOFF}/bundle", "auditor"),  # streamed
    ("POST", "/platform/pools", "platform"),  # 422
    ("GET", "/admin/parties", "trustee"),  # 403
)


@pytest.mark.parametrize(("method", "path", "who"), PATHS)
def test_every_response_carries_the_security_headers(
    world: World, method: str, path: str, who: str | None
) -> None:
    headers = bearer(world.keys[who]) if who else {}
    resp = world.client.open(path, method=method, headers=headers, json={} if method == "POST" else None)
    resp.get_data()
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Frame-Options"] == "DENY"
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp


def test_the_docs_page_may_run_only_its_own_inline_code(world: World) -> None:
    csp = world.client.get("/docs").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"].startswith("'sha256-")
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert directives["connect-src"] == "'self'"


def test_an_unexpected_server_error_still_carries_the_headers(world: World) -> None:
    app = create_app(world.inst.config(RATE_LIMIT_PER_SECOND=0))

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    resp = app.test_client().get("/boom")
    assert resp.status_code == 500
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_a_key_over_its_rate_gets_429_with_retry_after(world: World) -> None:
    app = create_app(world.inst.config(RATE_LIMIT_PER_SECOND=0.5, RATE_LIMIT_BURST=3))
    client = app.test_client()
    investor, auditor = bearer(world.keys["investor"]), bearer(world.keys["auditor"])
    codes = [client.get("/investor/pools", headers=investor).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    resp = client.get("/investor/pools", headers=investor)
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.get_json()["code"] == 429
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    # Another key has its own bucket; liveness checks are never limited.
    assert client.get("/auditor/pools", headers=auditor).status_code == 200
    assert all(client.get("/healthz").status_code == 200 for _ in range(10))


def test_guessing_keys_is_limited_too(world: World) -> None:
    app = create_app(world.inst.config(RATE_LIMIT_PER_SECOND=0.5, RATE_LIMIT_BURST=2))
    client = app.test_client()
    codes = [client.get("/investor/pools").status_code for _ in range(4)]
    assert codes == [401, 401, 429, 429]


def test_the_rate_limit_can_be_turned_off(world: World) -> None:
    app = create_app(world.inst.config(RATE_LIMIT_PER_SECOND=0))
    assert "poolproof_rate_limit" not in app.extensions
    client = app.test_client()
    assert {client.get("/investor/pools").status_code for _ in range(300)} == {401}


def test_a_token_bucket_refills_at_its_rate() -> None:
    t = [0.0]
    buckets = TokenBuckets(2.0, 2, clock=lambda: t[0])
    assert buckets.take("k") == 0.0
    assert buckets.take("k") == 0.0
    assert buckets.take("k") == pytest.approx(0.5)
    t[0] = 0.5
    assert buckets.take("k") == 0.0
    assert buckets.take("k") > 0


def test_the_bucket_table_is_bounded() -> None:
    buckets = TokenBuckets(1.0, 1, clock=lambda: 0.0, max_callers=3)
    for i in range(10):
        buckets.take(f"k{i}")
    assert len(buckets._buckets) == 3


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="per_second"):
        TokenBuckets(0, 1)
