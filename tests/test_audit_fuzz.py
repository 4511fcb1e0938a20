"""Fuzzing ``poolproof-audit``: every subcommand over mutated real bundles exits 0, 1 or 2, never with a
traceback, and a mutated input that still verifies (exit 0) verifies exactly what the original did.

The bundles are real: a snapshot sealed by ``proofs``, a claim and an inclusion bundle on it carrying a
witness cosignature, and a two-header chain. Mutations are structural (a node of the parsed JSON
replaced by a hostile value, removed, or a member added) or textual (bytes flipped, inserted, cut).
Hypothesis runs a fixed number of derandomised examples per subcommand (bounded time in CI); a
watchdog turns a hang into a failure.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import audit_cli, bundle, merkle
from proofs.claim_bundle import metric_opening, prove_claim_bundle
from proofs.claims import BoundClaim
from proofs.group import get_group
from proofs.inclusion import make_inclusion_bundle
from proofs.lanes import get_lane_set
from proofs.signing import private_key_to_pem, public_key_to_pem
from proofs.snapshot import header_hash, loan_blindings, verify_header
from proofs.witness import cosign_header
from tests.json_paths import json_paths
from tests.snapshot_util import Sealed, make_loans, seal_in_memory
from tests.watchdog import watchdog

EXAMPLES = 60
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**32, 2**53 - 1, -1, 0, 1 << 40]),
    st.text(max_size=12),
    st.sampled_from(
        ["２０２６-１０-３１", "2026-02-30", "00" * 48, "ff" * 32, "", "dpd5-v1", "\u202e", "0" * 200]
    ),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fuzz")
    sealed: Sealed = seal_in_memory(make_loans(6, seed=9), chunk_log2=2)
    group = get_group()
    header = verify_header(sealed.header, sealed.key.public_key())
    witness = Ed25519PrivateKey.generate()
    cosignature = cosign_header(witness, header, "2026-11-02T00:00:00Z")
    statement = BoundClaim("pool_balance", 1, None)
    openings = {
        m: metric_opening(header.lanes, m, sealed.outcome.lane_value_sums, sealed.outcome.lane_blinding_sums)
        for m in statement.metrics
    }
    claim = prove_claim_bundle(group, header, statement, openings, b"f" * 32, cosignatures=[cosignature])
    lanes = get_lane_set(sealed.params.lane_set)
    loan = sealed.loans[2]
    leaves = [h for r in sealed.results for h in r.leaf_hashes]
    inclusion = make_inclusion_bundle(
        sealed.header,
        2,
        loan.exposure_id,
        lanes.lane_values(loan.principal, loan.bucket),
        loan_blindings(sealed.seed, loan.exposure_id, lanes),
        merkle.MerkleTree(leaves).inclusion_proof(2),
        cosignatures=[cosignature],
    )
    second = bundle.sign_document(
        sealed.key,
        "snapshot-header",
        {
            **bundle.unsigned_body(sealed.header),
            "cutoff_date": "2026-11-30",
            "sequence": 2,
            "previous_header_hash": header_hash(sealed.header).hex(),
        },
    )
    (root / "gateway.pub").write_bytes(public_key_to_pem(sealed.key.public_key()))
    (root / "witness.pub").write_bytes(public_key_to_pem(witness.public_key()))
    (root / "witness.key").write_bytes(private_key_to_pem(witness))
    return {
        "root": root,
        "claim": claim,
        "inclusion": inclusion,
        "header": sealed.header,
        "second": second,
        "snapshot": sealed.bundle_text,
    }


SEEN: dict[str, dict[int, int]] = {}


def _run(argv: list[str]) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    with watchdog(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = audit_cli.main([*argv, "--json"])
    assert "Traceback" not in err.getvalue()
    counts = SEEN.setdefault(argv[0], {})
    counts[int(code)] = counts.get(int(code), 0) + 1
    return int(code), json.loads(out.getvalue())


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _is_hex(value: object) -> bool:
    return isinstance(value, str) and len(value) >= 2 and set(value) <= set("0123456789abcdef")


@st.composite
def mutated(draw: st.DrawFn, original: dict[str, Any]) -> bytes:
    """A hex-digit, structural or textual mutation of ``original`` (bytes as written to the file)."""
    mode = draw(st.sampled_from(["hex", "structure", "text"]))
    if mode == "hex":
        # A well-formed value that says something else: reaches the cryptographic checks.
        doc = copy.deepcopy(original)
        path = draw(st.sampled_from([p for p in json_paths(doc, max_items=8) if p and _is_hex(_get(doc, p))]))
        value = _get(doc, path)
        pos = draw(st.integers(min_value=0, max_value=len(value) - 1))
        digit = draw(st.sampled_from([d for d in "0123456789abcdef" if d != value[pos]]))
        _get(doc, path[:-1])[path[-1]] = value[:pos] + digit + value[pos + 1 :]
        return json.dumps(doc).encode()
    if mode == "structure":
        doc = copy.deepcopy(original)
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            paths = [p for p in json_paths(doc, max_items=8) if p]
            path = draw(st.sampled_from(paths))
            parent = _get(doc, path[:-1])
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace" or not isinstance(parent, dict | list):
                parent[path[-1]] = draw(HOSTILE)
            elif action == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=6))] = draw(HOSTILE)
            else:
                parent.append(draw(HOSTILE))
        return json.dumps(doc).encode()
    data = bytearray(bundle.dump_bundle(original))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        pos = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "insert", "cut"]))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(min_value=1, max_value=255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        else:
            del data[pos : pos + draw(st.integers(min_value=1, max_value=64))]
    return bytes(data)


def _same_result(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keep = (
        *("statement", "header_hash", "snapshot_id", "pool_id", "cutoff_date", "leaf_index", "exposure_id"),
        *("outstanding_principal", "dpd_bucket", "merkle_root", "leaf_count", "head", "entries"),
    )
    return all(a.get(k) == b.get(k) for k in keep)


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("claim", ["--require-witness", "witness.pub"]),
        ("claim", ["--no-witness"]),
        ("inclusion", ["--require-witness", "witness.pub"]),
    ],
    ids=["verify-claim witnessed", "verify-claim --no-witness", "verify-inclusion"],
)
def test_a_mutated_claim_or_inclusion_bundle_exits_1_or_2_or_verifies_the_same(
    files: dict[str, Any], kind: str, extra: list[str]
) -> None:
    root: Path = files["root"]
    command = f"verify-{kind}"
    args = [a if not a.endswith(".pub") else str(root / a) for a in extra]
    target = root / f"{kind}.json"
    target.write_bytes(bundle.dump_bundle(files[kind]))
    code, reference = _run([command, str(target), "--key", str(root / "gateway.pub"), *args])
    assert code == 0, reference

    @FUZZ
    @given(data=mutated(files[kind]))
    def check(data: bytes) -> None:
        target.write_bytes(data)
        code, result = _run([command, str(target), "--key", str(root / "gateway.pub"), *args])
        assert code in (0, 1, 2), result
        if code == 0:
            assert _same_result(result, reference), result
        else:
            assert result["ok"] is False
            assert result["error"]

    check()


def test_mutated_headers_make_verify_log_exit_1_or_2_or_verify_the_same(files: dict[str, Any]) -> None:
    root: Path = files["root"]
    first, second = root / "h1.json", root / "h2.json"
    first.write_bytes(bundle.dump_bundle(files["header"]))
    second.write_bytes(bundle.dump_bundle(files["second"]))
    key = str(root / "gateway.pub")
    code, reference = _run(["verify-log", str(first), str(second), "--key", key])
    assert code == 0, reference

    @FUZZ
    @given(which=st.sampled_from(["header", "second"]), data=st.data())
    def check(which: str, data: st.DataObject) -> None:
        first.write_bytes(bundle.dump_bundle(files["header"]))
        second.write_bytes(bundle.dump_bundle(files["second"]))
        (first if which == "header" else second).write_bytes(data.draw(mutated(files[which])))
        code, result = _run(["verify-log", str(first), str(second), "--key", key])
        assert code in (0, 1, 2), result
        if code == 0:
            assert _same_result(result, reference), result

    check()


@st.composite
def mutated_snapshot(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    i = draw(st.integers(min_value=0, max_value=len(lines) - 2))
    line = lines[i]
    if draw(st.booleans()) and line.startswith("{") and line.rstrip(",").endswith("}"):
        trailer = "," if line.endswith(",") else ""
        body = line[: -len(trailer)] if trailer else line
        try:
            doc = json.loads(
                body if i else body[len('{"format":"poolproof/snapshot/v1","header":') : -len(',"chunks":[')]
            )
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            paths = [p for p in json_paths(doc, max_items=8) if p]
            path = draw(st.sampled_from(paths))
            parent = doc
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = draw(HOSTILE)
            encoded = json.dumps(doc, separators=(",", ":"))
            lines[i] = (
                encoded + trailer
                if i
                else '{"format":"poolproof/snapshot/v1","header":' + encoded + ',"chunks":['
            )
            return "\n".join(lines)
    pos = draw(st.integers(min_value=0, max_value=max(len(line) - 1, 0)))
    kind = draw(st.sampled_from(["char", "cut", "dup-line", "drop-line"]))
    if kind == "char":
        lines[i] = line[:pos] + draw(st.characters()) + line[pos + 1 :]
    elif kind == "cut":
        lines[i] = line[:pos]
    elif kind == "dup-line":
        lines.insert(i, line)
    else:
        del lines[i]
    return "\n".join(lines)


@pytest.mark.parametrize("cosign", [False, True], ids=["verify-snapshot", "verify-snapshot --cosign"])
def test_a_mutated_snapshot_bundle_exits_1_or_2_or_verifies_the_same(
    files: dict[str, Any], cosign: bool
) -> None:
    root: Path = files["root"]
    target = root / "snapshot.json"
    extra = ["--quiet", "--workers", "0"]
    if cosign:
        extra += ["--cosign", str(root / "witness.key"), "--witness-state", str(root / "state.json")]
    target.write_text(files["snapshot"], encoding="utf-8")
    code, reference = _run(["verify-snapshot", str(target), "--key", str(root / "gateway.pub"), *extra])
    assert code == 0, reference

    @settings(FUZZ, max_examples=EXAMPLES // 2)
    @given(text=mutated_snapshot(files["snapshot"]))
    def check(text: str) -> None:
        target.write_text(text, encoding="utf-8", errors="surrogatepass")
        code, result = _run(["verify-snapshot", str(target), "--key", str(root / "gateway.pub"), *extra])
        assert code in (0, 1, 2), result
        if code == 0:
            assert _same_result(result, reference), result

    check()


def test_zz_the_fuzzing_reached_both_kinds_of_rejection() -> None:
    """Over all examples, every subcommand was driven to failed checks (1) and unusable input (2)."""
    if not SEEN:
        pytest.skip("run with the fuzz tests above")
    for command, counts in SEEN.items():
        assert counts.get(1, 0) > 0, (command, counts)
        assert counts.get(2, 0) > 0, (command, counts)
