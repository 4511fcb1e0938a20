from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway import create_app

from .helpers import Instance, Platform, make_instance


@pytest.fixture
def inst(tmp_path: Path) -> Instance:
    return make_instance(tmp_path)


@pytest.fixture
def client(inst: Instance) -> Iterator[FlaskClient]:
    app = create_app(inst.config(MAX_TAPE_BYTES=2_000_000))
    with app.test_client() as c:
        yield c


@pytest.fixture
def plat(inst: Instance) -> Platform:
    return inst.add_platform("plat1")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def cn_pool(client: FlaskClient, plat: Platform) -> str:
    r = client.post(
        "/platform/pools",
        json={"pool_id": "P1", "settings": {"preset": "CN_CONSUMER"}},
        headers=bearer(plat.api_key),
    )
    assert r.status_code == 201, r.json
    return "P1"


def snapshot(inst: Instance) -> dict[str, Any]:
    from gateway.storage.records import table_digest

    db = inst.db()
    try:
        return table_digest(db)
    finally:
        db.conn.close()
