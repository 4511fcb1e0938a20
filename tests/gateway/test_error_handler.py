"""The API's one error handler: a GatewayError raised anywhere answers its own status, standard body."""

from __future__ import annotations

from typing import ClassVar

import pytest
from flask import Flask

from gateway import create_app
from gateway.api.schemas import ErrorSchema
from gateway.errors import GatewayError

from .helpers import Instance


class _PoolClosed(GatewayError):
    http_status: ClassVar[int] = 409


class _TapeUnreadable(GatewayError):
    http_status: ClassVar[int] = 422


def _app_raising(inst: Instance, exc: Exception) -> Flask:
    app = create_app(inst.config())

    def probe() -> str:
        raise exc

    app.add_url_rule("/probe", "probe", probe)
    return app


@pytest.mark.parametrize(
    ("exc", "status", "phrase"),
    [
        (_PoolClosed("pool 'P1' is closed to new tapes"), 409, "Conflict"),
        (_TapeUnreadable("row 3, field principal_minor: not an integer"), 422, "Unprocessable Entity"),
        (GatewayError("an error without a status of its own"), 500, "Internal Server Error"),
    ],
)
def test_a_gateway_error_answers_its_status_with_the_standard_body(
    inst: Instance, exc: GatewayError, status: int, phrase: str
) -> None:
    r = _app_raising(inst, exc).test_client().get("/probe")
    assert r.status_code == status
    assert r.get_json() == {"code": status, "status": phrase, "message": exc.message}
    assert ErrorSchema().validate(r.get_json()) == {}


def test_a_gateway_errors_structured_detail_is_its_errors_member(inst: Instance) -> None:
    row = {"row": 3, "field": "principal_minor", "rule": "integer", "message": "not an integer"}
    detail = {"tape": [row]}
    app = _app_raising(inst, _TapeUnreadable("tape rejected: 1 error", errors=detail))
    r = app.test_client().get("/probe")
    assert r.status_code == 422
    assert r.get_json() == {
        "code": 422,
        "status": "Unprocessable Entity",
        "message": "tape rejected: 1 error",
        "errors": detail,
    }


def test_an_error_outside_the_gateway_root_is_not_answered_by_it(inst: Instance) -> None:
    app = _app_raising(inst, RuntimeError("boom"))
    r = app.test_client().get("/probe")
    assert r.status_code == 500
    assert "boom" not in r.get_data(as_text=True)
