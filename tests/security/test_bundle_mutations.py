"""Mutated bundles: random byte flips and structural edits are rejected with the library's errors.

The bundles are real ones served by the security world's gateway (a claim, an inclusion proof and a
whole snapshot). Every mutation must either leave the parsed document unchanged (and then verify) or
raise :class:`proofs.errors.EncodingError` / :class:`~proofs.errors.VerificationError` -- never another
exception -- and must finish (a watchdog alarm turns a hang into a failure). The auditor CLI turns every
such input into exit code 1 (failed check) or 2 (unusable input), never a traceback.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import audit_cli
from proofs.bundle import dump_bundle, load_bundle
from proofs.claim_bundle import ExpectedClaim
from proofs.claim_bundle import verify_claim_bundle as _verify_claim_bundle
from proofs.claims import ClaimStatement
from proofs.errors import EncodingError, VerificationError
from proofs.inclusion import verify_inclusion_bundle
from proofs.signing import parse_public_key, public_key_to_pem
from proofs.snapshot import verify_snapshot
from proofs.witness import WitnessPolicy
from tests.gateway.helpers import CUTOFF
from tests.json_paths import json_paths
from tests.watchdog import watchdog

from .world import CLAIM, POOL, World, bearer, nonce

REJECTIONS = (EncodingError, VerificationError)
SETTINGS = settings(
    max_examples=60, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def verify_claim_bundle(doc: Any, key: Ed25519PublicKey, **kw: Any) -> ClaimStatement:
    """The claim's proof checks alone: no question pinned, no witness required (said explicitly)."""
    kw.setdefault("expected", ExpectedClaim())
    kw.setdefault("witnesses", WitnessPolicy.unwitnessed())
    return _verify_claim_bundle(doc, key, **kw)


@pytest.fixture(scope="module")
def served(world: World) -> dict[str, Any]:
    """The gateway key and one bundle of each kind, as the gateway serves them."""
    c = world.client
    key = parse_public_key(c.get("/public/gateway-key").get_json()["public_key_hex"])
    claim = c.post(
        f"/trustee/pools/{POOL}/snapshots/{CUTOFF}/claims",
        json={"statement": CLAIM, "nonce": nonce()},
        headers=bearer(world.keys["trustee"]),
    )
    assert claim.status_code == 200, claim.get_json()
    incl = c.get(
        f"/borrower/pools/{POOL}/snapshots/{CUTOFF}/inclusion",
        query_string={"platform_loan_id": world.borrower_loan},
        headers=bearer(world.keys["borrower"]),
    )
    assert incl.status_code == 200, incl.get_json()
    snap = c.get(f"/auditor/pools/{POOL}/snapshots/{CUTOFF}/bundle", headers=bearer(world.keys["auditor"]))
    assert snap.status_code == 200
    return {
        "key": key,
        "claim": claim.get_json(),
        "inclusion": incl.get_json()["inclusion"],
        "snapshot": snap.get_data(as_text=True),
    }


def _verifier(kind: str) -> Callable[[Any, Ed25519PublicKey], object]:
    return {"claim": verify_claim_bundle, "inclusion": verify_inclusion_bundle}[kind]


def test_the_served_bundles_verify(served: dict[str, Any]) -> None:
    verify_claim_bundle(served["claim"], served["key"])
    verify_inclusion_bundle(served["inclusion"], served["key"])
    verify_snapshot(io.StringIO(served["snapshot"]), served["key"])


# --- byte flips -----------------------------------------------------------------------------------------
def _flip(data: bytes, positions: list[int], masks: list[int]) -> bytes:
    out = bytearray(data)
    for pos, mask in zip(positions, masks, strict=False):
        out[pos % len(out)] ^= mask
    return bytes(out)


flips = st.tuples(
    st.lists(st.integers(min_value=0), min_size=1, max_size=4),
    st.lists(st.integers(min_value=1, max_value=255), min_size=1, max_size=4),
)


@pytest.mark.parametrize("kind", ["claim", "inclusion"])
def test_byte_flipped_bundles_are_rejected_with_encoding_or_verification_errors(
    served: dict[str, Any], kind: str
) -> None:
    original = dump_bundle(served[kind])
    verify = _verifier(kind)

    @SETTINGS
    @given(flip=flips)
    def check(flip: tuple[list[int], list[int]]) -> None:
        data = _flip(original, *flip)
        with watchdog():
            try:
                doc = load_bundle(data)
                verify(doc, served["key"])
            except REJECTIONS:
                return
        assert doc == served[kind], "a changed bundle verified"

    check()


@pytest.mark.parametrize("kind", ["claim", "inclusion"])
def test_byte_flipped_bundles_make_the_auditor_cli_exit_1_or_2(
    served: dict[str, Any], kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "gateway.pub"
    key_file.write_bytes(public_key_to_pem(served["key"]))
    original = dump_bundle(served[kind])
    command = {"claim": "verify-claim", "inclusion": "verify-inclusion"}[kind]

    @settings(SETTINGS, max_examples=25)
    @given(flip=flips)
    def check(flip: tuple[list[int], list[int]]) -> None:
        path = tmp_path / "bundle.json"
        data = _flip(original, *flip)
        path.write_bytes(data)
        with watchdog():
            code = audit_cli.main([command, str(path), "--key", str(key_file), "--json", "--no-witness"])
        out = json.loads(capsys.readouterr().out)
        if code == 0:
            assert load_bundle(data) == served[kind]
        else:
            assert code in (1, 2), out
            assert out["ok"] is False

    check()


# --- structural mutations -------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=20)
    | st.sampled_from(["", "00", "AA==", "f" * 64, "poolproof/claim/v1", "-1", "1e400"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _mutate(doc: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    if not path:
        return value if action == "replace" else doc
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    elif action == "add" and isinstance(parent, dict):
        parent[f"{last}_extra"] = value
    elif action == "retype":
        parent[last] = [parent[last]] if not isinstance(parent[last], list) else {"v": parent[last]}
    return doc


@pytest.mark.parametrize("kind", ["claim", "inclusion"])
def test_structurally_mutated_bundles_are_rejected(served: dict[str, Any], kind: str) -> None:
    original = served[kind]
    paths = json_paths(original)
    verify = _verifier(kind)

    @settings(SETTINGS, max_examples=120)
    @given(
        which=st.integers(min_value=0, max_value=len(paths) - 1),
        action=st.sampled_from(["replace", "delete", "duplicate", "add", "retype"]),
        value=json_values,
    )
    def check(which: int, action: str, value: Any) -> None:
        doc = _mutate(original, paths[which], action, value)
        with watchdog():
            try:
                verify(doc, served["key"])
            except REJECTIONS:
                return
        assert doc == original, f"{action} at {paths[which]} still verified"

    check()


# --- the whole snapshot ---------------------------------------------------------------------------------
def test_mutated_snapshot_bundles_are_rejected(served: dict[str, Any]) -> None:
    text: str = served["snapshot"]
    lines = text.splitlines(keepends=True)

    @settings(SETTINGS, max_examples=30)
    @given(
        action=st.sampled_from(["flip", "drop_line", "swap_lines", "duplicate_line", "truncate"]),
        a=st.integers(min_value=0),
        b=st.integers(min_value=0),
        ch=st.characters(codec="utf-8"),
    )
    def check(action: str, a: int, b: int, ch: str) -> None:
        if action == "flip":
            i = a % len(text)
            mutated = text[:i] + ch + text[i + 1 :]
        elif action == "drop_line":
            mutated = "".join(line for j, line in enumerate(lines) if j != a % len(lines))
        elif action == "swap_lines":
            i, j = a % len(lines), b % len(lines)
            ls = list(lines)
            ls[i], ls[j] = ls[j], ls[i]
            mutated = "".join(ls)
        elif action == "duplicate_line":
            i = a % len(lines)
            mutated = "".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
        else:
            mutated = text[: a % len(text)]
        with watchdog():
            try:
                verify_snapshot(io.StringIO(mutated), served["key"])
            except REJECTIONS:
                return
        assert json.loads(_as_document(mutated)) == json.loads(_as_document(text)), action

    check()


def _as_document(bundle_text: str) -> str:
    return "".join(line.rstrip("\n") for line in bundle_text.splitlines())


def test_a_snapshot_bundle_that_is_not_utf8_is_unusable_input(
    served: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "gateway.pub"
    key_file.write_bytes(public_key_to_pem(served["key"]))
    path = tmp_path / "snapshot.json"
    data = served["snapshot"].encode()
    path.write_bytes(data[:200] + b"\xff\xfe" + data[202:])
    code = audit_cli.main(["verify-snapshot", str(path), "--key", str(key_file), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2, out
    assert out["ok"] is False
