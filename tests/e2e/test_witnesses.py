"""Witnesses end to end through a real server: the auditor verifies and cosigns, the investor requires
that witness, an uncosigned snapshot is refused by the investor's own tool, a forked header is
refused by the witness; and ``poolproof claim`` exit codes."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from gateway.cli import cli
from gateway.keys.gateway_key import load_gateway_key
from gateway.synth import generate_tape
from proofs import bundle
from proofs.claims import Disclosure, RatioClaim
from proofs.snapshot import read_snapshot_bundle, write_snapshot_bundle

from .conftest import Gateway, audit
from .test_synthetic_pool import CUTOFF, FIRST, MONTH, N_LOANS

POOL = "E2E-WITNESS"
TRIGGER = RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 3, 100)  # registered: free of budget


@pytest.fixture(scope="module")
def world(gw: Gateway, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("witness")
    gw.create_pool(POOL, "CN_CONSUMER")
    investor = gw.add("wit-investor", "wit-investor", "investor", "/investor", pools=[POOL])
    auditor = gw.add("wit-auditor", "wit-auditor", "auditor", "/auditor", pools=[POOL])
    gw.submit(POOL, CUTOFF, list(generate_tape(N_LOANS, seed=11, cutoff=FIRST, pool_id=POOL, month=MONTH)))
    gw.server.app.config["SEAL_LANE_SET"] = "dpd5-v3"  # named: TRIGGER is a dpd5 metric
    try:
        gw.seal(POOL, CUTOFF)
    finally:
        gw.server.app.config.pop("SEAL_LANE_SET")
    code, made = audit("new-witness-key", tmp / "witness.key")
    assert code == 0, made
    pub = tmp / "witness.key.pub"
    registered = requests.post(
        f"{gw.url}/admin/witnesses",
        json={"name": "e2e-auditor", "public_key": pub.read_text()},
        headers={"Authorization": f"Bearer {gw.inst.admin_key}"},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    snapshot = tmp / "snapshot.json"
    snapshot.write_text(auditor.get(f"/pools/{POOL}/snapshots/{CUTOFF}/bundle").text, encoding="utf-8")
    return {
        "tmp": tmp,
        "investor": investor,
        "auditor": auditor,
        "witness_key": tmp / "witness.key",
        "witness_pub": pub,
        "witness_id": made["key_id"],
        "snapshot": snapshot,
    }


def _claim(
    gw: Gateway, world: dict[str, Any], *extra: str, api_key: str | None = None
) -> tuple[int, dict[str, Any]]:
    args = [
        "claim",
        "--url",
        gw.url,
        "--api-key",
        api_key or world["investor"].api_key,
        "--pool",
        POOL,
        "--cutoff",
        CUTOFF,
        "--statement",
        json.dumps(TRIGGER.to_dict()),
        "--key",
        str(gw.key_file),
        "--json",
        *extra,
    ]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, json.loads(result.stdout)


def _bearer(client: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.api_key}"}


def _cosignatures_url(gw: Gateway, prefix: str = "/auditor") -> str:
    return f"{gw.url}{prefix}/pools/{POOL}/snapshots/{CUTOFF}/cosignatures"


def test_1_an_uncosigned_snapshot_is_refused_by_the_investors_own_tool(
    gw: Gateway, world: dict[str, Any]
) -> None:
    code, out = _claim(gw, world, "--require-witness", str(world["witness_pub"]))
    assert code == 1, out
    assert out["check"] == "witness.missing"
    # Naming no witness at all is refused before anything is asked.
    code, out = _claim(gw, world)
    assert code == 2, out
    assert out["check"] == "witness.policy"


def test_2_the_auditor_verifies_cosigns_and_the_gateway_shows_who_cosigned(
    gw: Gateway, world: dict[str, Any]
) -> None:
    code, out = audit(
        "verify-snapshot",
        world["snapshot"],
        "--key",
        gw.key_file,
        "--cosign",
        world["witness_key"],
        "--quiet",
    )
    assert code == 0, out
    assert out["cosigned_by"] == world["witness_id"]
    cosignature = bundle.load_bundle(Path(out["cosignature"]))
    posted = requests.post(
        _cosignatures_url(gw), json=cosignature, headers=_bearer(world["auditor"]), timeout=30
    )
    assert posted.status_code == 201, posted.text
    listing = requests.get(
        _cosignatures_url(gw, "/investor"), headers=_bearer(world["investor"]), timeout=30
    ).json()
    assert [w["name"] for w in listing["cosigned_by"]] == ["e2e-auditor"]
    assert listing["header_hash"] == cosignature["header_hash"]


def test_3_the_investor_requiring_that_witness_gets_a_proven_claim(
    gw: Gateway, world: dict[str, Any], tmp_path: Path
) -> None:
    saved = tmp_path / "claim.json"
    code, out = _claim(gw, world, "--require-witness", str(world["witness_pub"]), "--out", str(saved))
    assert code == 0, out
    assert out["witnesses"] == [world["witness_id"]]
    assert out["unpacking_checked"] is True
    # The saved bundle carries the cosignature; poolproof-audit applies the same policy offline.
    key, pub = gw.key_file, world["witness_pub"]
    assert audit("verify-claim", saved, "--key", key, "--require-witness", pub)[0] == 0
    code, out = audit("verify-claim", saved, "--key", key)
    assert (code, out["check"]) == (1, "witness.policy")
    assert audit("verify-claim", saved, "--key", key, "--no-witness")[0] == 0
    nonce = bundle.load_bundle(saved)["nonce"]
    code, out = audit(
        "verify-claim", saved, "--key", key, "--require-witness", pub, "--expect-nonce", nonce,
        "--expect-cutoff", "2031-01-31",
    )  # fmt: skip
    assert (code, out["check"]) == (1, "claim.expected.cutoff")


def test_4_a_witness_refuses_to_cosign_a_forked_header(gw: Gateway, world: dict[str, Any]) -> None:
    """The gateway restates the cut-off (same leaves and proofs, another header, signed): the
    witness that cosigned the first header refuses the second."""
    with open(world["snapshot"], encoding="utf-8") as f:
        header, chunks = read_snapshot_bundle(f)
        body = {**bundle.unsigned_body(header), "sealed_at": "2031-01-01T00:00:00Z"}
        forked = bundle.sign_document(load_gateway_key(gw.inst.gateway_key_file), "snapshot-header", body)
        path = world["tmp"] / "forked.json"
        with open(path, "w", encoding="utf-8") as out:
            write_snapshot_bundle(out, forked, chunks)
    # Every check of the forked snapshot passes on its own ...
    assert audit("verify-snapshot", path, "--key", gw.key_file, "--quiet")[0] == 0
    # ... but this witness already cosigned another header for the pool and cut-off.
    code, out = audit(
        "verify-snapshot", path, "--key", gw.key_file, "--cosign", world["witness_key"], "--quiet"
    )
    assert (code, out["check"]) == (1, "witness.fork"), out
    assert not (world["tmp"] / "forked.json.cosignature.json").exists()


def test_5_the_gateway_accepts_only_registered_witnesses_over_its_own_header(
    gw: Gateway, world: dict[str, Any]
) -> None:
    good = bundle.load_bundle(Path(f"{world['snapshot']}.cosignature.json"))
    stranger_dir = world["tmp"] / "stranger"
    stranger_dir.mkdir()
    audit("new-witness-key", stranger_dir / "k")
    code, out = audit(
        "verify-snapshot", world["snapshot"], "--key", gw.key_file, "--cosign", stranger_dir / "k", "--quiet",
        "--cosignature-out", stranger_dir / "c.json",
    )  # fmt: skip
    assert code == 0, out
    headers = _bearer(world["auditor"])
    strange = requests.post(
        _cosignatures_url(gw), json=bundle.load_bundle(stranger_dir / "c.json"), headers=headers, timeout=30
    )
    assert strange.status_code == 403
    assert "not a registered witness" in strange.json()["message"]
    tampered = {**good, "header_hash": "00" * 32}
    bad = requests.post(_cosignatures_url(gw), json=tampered, headers=headers, timeout=30)
    assert bad.status_code == 422
    assert "witness.header" in bad.json()["message"]
    anonymous = requests.post(_cosignatures_url(gw), json=good, timeout=30)
    assert anonymous.status_code == 401


# --- exit codes of poolproof claim ------------------------------------------------------------------------


def test_a_bad_api_key_exits_4(gw: Gateway, world: dict[str, Any]) -> None:
    code, out = _claim(gw, world, "--no-witness", api_key="pp_not_a_key")
    assert code == 4, out


def test_a_policy_refusal_exits_3(gw: Gateway, world: dict[str, Any]) -> None:
    args = [
        "claim",
        "--url",
        gw.url,
        "--api-key",
        world["investor"].api_key,
        "--pool",
        POOL,
        "--cutoff",
        CUTOFF,
    ]
    result = CliRunner().invoke(
        cli,
        [
            *args,
            "--statement",
            # An exact opening of a figure no servicer report publishes: threshold claims only.
            json.dumps(Disclosure("balance_dpd_90plus").to_dict()),
            "--key",
            str(gw.key_file),
            "--no-witness",
            "--json",
        ],
    )
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["check"] == "http.403"


def test_an_unreachable_gateway_exits_5_without_a_traceback(gw: Gateway, world: dict[str, Any]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    args = [
        "claim",
        "--url",
        f"http://127.0.0.1:{port}",
        "--api-key",
        "x",
        "--pool",
        POOL,
        "--cutoff",
        CUTOFF,
    ]
    result = CliRunner().invoke(
        cli, [*args, "--statement", json.dumps(TRIGGER.to_dict()), "--key", str(gw.key_file), "--no-witness"]
    )
    assert result.exit_code == 5, result.output
    assert "Traceback" not in result.output
    assert "cannot reach the gateway" in result.output


@pytest.fixture
def broken_server() -> Iterator[str]:
    class Broken(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"message": "boom"}')

        def log_message(self, *args: object) -> None:
            return None

    srv = http.server.HTTPServer(("127.0.0.1", 0), Broken)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_gateway_error_exits_6(gw: Gateway, world: dict[str, Any], broken_server: str) -> None:
    args = ["claim", "--url", broken_server, "--api-key", "x", "--pool", POOL, "--cutoff", CUTOFF]
    result = CliRunner().invoke(
        cli, [*args, "--statement", json.dumps(TRIGGER.to_dict()), "--key", str(gw.key_file), "--no-witness"]
    )
    assert result.exit_code == 6, result.output
    assert "HTTP 500" in result.output
