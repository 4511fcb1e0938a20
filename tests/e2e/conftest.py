"""A real gateway (waitress on 127.0.0.1) shared by the end-to-end snapshot tests, with helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.keys.tape_signatures import public_key_bytes
from gateway.snapshots.demo import (
    Client,
    DemoInstance,
    LiveServer,
    add_party,
    expect,
    init_instance,
    load_gateway_public,
    running_gateway,
    seal_and_wait,
    submit_tape,
)
from proofs.signing import public_key_to_pem


@dataclass
class Gateway:
    """The running gateway and one client per party role."""

    inst: DemoInstance
    server: LiveServer
    key: Ed25519PublicKey
    key_file: Path
    signing_key: Ed25519PrivateKey
    clients: dict[str, Client] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def add(self, name: str, party_id: str, role: str, prefix: str, **extra: Any) -> Client:
        client = Client(self.url, add_party(self.url, self.inst.admin_key, party_id, role, **extra), prefix)
        self.clients[name] = client
        return client

    def create_pool(self, pool_id: str, preset: str, **settings: Any) -> None:
        body = {"pool_id": pool_id, "settings": {"preset": preset, **settings}}
        expect(self.clients["platform"].post("/pools", json=body), 201, f"create pool {pool_id}")

    def submit(self, pool_id: str, cutoff: str, rows: list[dict[str, Any]]) -> Any:
        body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
        return submit_tape(self.clients["platform"], self.signing_key, pool_id, cutoff, body)

    def seal(self, pool_id: str, cutoff: str) -> dict[str, Any]:
        return seal_and_wait(self.clients["platform"], pool_id, cutoff)

    def grant(self, party_id: str, pool_id: str) -> None:
        import requests

        r = requests.post(
            f"{self.url}/admin/parties/{party_id}/pools",
            json={"pool_id": pool_id},
            headers={"Authorization": f"Bearer {self.inst.admin_key}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text


@pytest.fixture(scope="session")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("e2e-snapshots")
    inst = init_instance(root / "instance")
    key = load_gateway_public(inst.gateway_key_file)
    key_file = root / "gateway.pub"
    key_file.write_bytes(public_key_to_pem(key))
    signing_key = Ed25519PrivateKey.generate()
    # Small chunks so that test pools span several chunks (and pieces); inline sealing (no workers).
    with running_gateway(inst, TESTING=True, SEAL_WORKERS=0, SEAL_CHUNK_LOG2=4) as server:
        g = Gateway(inst, server, key, key_file, signing_key)
        g.add(
            "platform",
            "e2e-platform",
            "platform",
            "/platform",
            public_key=public_key_bytes(signing_key).hex(),
        )
        yield g


def audit(*args: str | Path) -> tuple[int, dict[str, Any]]:
    """Run ``poolproof-audit ... --json`` as a subprocess; returns (exit code, parsed output)."""
    proc = subprocess.run(
        [sys.executable, "-m", "proofs.audit_cli", *map(str, args), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=False,
    )
    return proc.returncode, json.loads(proc.stdout)
