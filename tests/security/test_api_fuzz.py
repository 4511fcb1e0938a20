"""Property-based API fuzzing (schemathesis) of every operation in the committed OpenAPI document.

For each operation, hypothesis generates valid requests (positive mode) and requests that break the
schema (negative mode: wrong types, missing fields, extra headers, garbage credentials); half of them
use the world's real pool, cut-off, job and party ids so that they reach the code behind the access
checks. Each generated request is sent in-process (WSGI) once as generated and once with each
principal's API key. Every response must: not be a 5xx, have a status the document lists for the
operation, match the documented content type, body schema and headers, carry the security headers,
and (for 4xx) use the standard error body. ``POOLPROOF_FUZZ_EXAMPLES`` raises the per-mode budget for
a longer run (the last long run is recorded in docs/reliability.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from gateway.access.admin import create_party_with_grants
from gateway.storage.db import connect
from tests.gateway.helpers import CUTOFF

from .world import POOL, World

SPEC_PATH = Path(__file__).resolve().parents[2] / "gateway" / "openapi.json"
LABELS = sorted(
    f"{m.upper()} {p}"
    for p, item in json.loads(SPEC_PATH.read_text())["paths"].items()
    for m in item
    if m in ("get", "post", "put", "patch", "delete")
)
EXAMPLES = int(os.environ.get("POOLPROOF_FUZZ_EXAMPLES", "6"))
PRINCIPALS = (
    "admin",
    "platform",
    "other_platform",
    "trustee",
    "rating_agency",
    "investor",
    "outsider_investor",
    "auditor",
    "regulator",
    "borrower",
)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


@pytest.fixture(scope="module")
def schema(world: World) -> Any:
    loaded = schemathesis.openapi.from_path(SPEC_PATH)
    loaded.app = world.app
    return loaded


def _operation(schema: Any, label: str) -> Any:
    for result in schema.get_all_operations():
        op = result.ok()
        if op.label == label:
            return op
    raise AssertionError(f"{label} is not in the document")


def _send(case: Any, auth: str | None, seen: dict[int, int]) -> None:
    if auth is not None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {auth}"}
    resp = case.call()
    seen[resp.status_code] = seen.get(resp.status_code, 0) + 1
    case.validate_response(resp, checks=CHECKS)
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name.lower()) == [value], (name, resp.headers)
    if 400 <= resp.status_code < 500:
        body = resp.json()
        assert body["code"] == resp.status_code, body
        assert isinstance(body["status"], str), body  # routing 404s carry no message; others do


@pytest.mark.parametrize("label", LABELS)
def test_fuzzed_requests_get_documented_answers_and_never_a_server_error(
    world: World, schema: Any, label: str
) -> None:
    op = _operation(schema, label)
    real = {
        "pool_id": POOL,
        "cutoff": CUTOFF,
        "job_id": world.job_id,
        "party_id": "auditor1",
        "leaf_index": 0,
    }
    if label.startswith("DELETE "):
        # Revoking keys and withdrawing grants: of a party made for this test, not the world's parties.
        db = connect(world.inst.db_path)
        try:
            party_id = "fuzz-" + label.replace("/", "-").replace(" ", "").replace("{", "").replace("}", "")
            _, record, _ = create_party_with_grants(db, party_id[:64], "investor", pools=[POOL])
        finally:
            db.conn.close()
        real.update(party_id=party_id[:64], key_id=record.key_id)
    seen: dict[int, int] = {}

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy(generation_mode=mode), use_real_ids=st.booleans())
        def fuzz(case: Any, use_real_ids: bool) -> None:
            if use_real_ids and case.path_parameters:
                for name in case.path_parameters:
                    if name in real:
                        case.path_parameters[name] = real[name]
            _send(case, None, seen)  # credentials as generated (often none or garbage)
            for who in PRINCIPALS:
                _send(case, world.keys[who], seen)

        try:
            fuzz()
        except Unsatisfiable:
            # Nothing to break in an operation without parameters or body (negative mode only).
            assert mode is GenerationMode.NEGATIVE
    assert seen, "no request was sent"
