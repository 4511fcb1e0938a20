"""poolproof-audit: claim, inclusion, snapshot and log verification, with exit codes and --json."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bundle
from proofs.audit_cli import main
from proofs.claim_bundle import ExpectedClaim, metric_opening, prove_claim_bundle
from proofs.claim_bundle import verify_claim_bundle as _verify_claim_bundle
from proofs.claims import BoundClaim, ClaimStatement, Disclosure, RatioBetweenClaim, RatioClaim
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.group import get_group
from proofs.inclusion import verify_inclusion_bundle
from proofs.lanes import DPD5_V1
from proofs.signing import public_key_to_pem
from proofs.snapshot import verify_header
from proofs.witness import WitnessPolicy
from tests.snapshot_util import Sealed, inclusion_bundle_for, make_loans, seal_in_memory


def verify_claim_bundle(doc: Any, key: Ed25519PublicKey, **kw: Any) -> ClaimStatement:
    """The claim's proof checks alone: no question pinned, no witness required (said explicitly)."""
    kw.setdefault("expected", ExpectedClaim())
    kw.setdefault("witnesses", WitnessPolicy.unwitnessed())
    return _verify_claim_bundle(doc, key, **kw)


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return seal_in_memory(make_loans(24, seed=3), chunk_log2=3)


@pytest.fixture(scope="module")
def keyfile(sealed: Sealed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "gateway.pub"
    path.write_bytes(public_key_to_pem(sealed.key.public_key()))
    return path


def _claim(sealed: Sealed, statement: Any, nonce: bytes = b"n" * 16) -> dict[str, Any]:
    group = get_group()
    header = verify_header(sealed.header, sealed.key.public_key())
    openings = {
        m: metric_opening(DPD5_V1, m, sealed.outcome.lane_value_sums, sealed.outcome.lane_blinding_sums)
        for m in statement.metrics
    }
    return prove_claim_bundle(group, header, statement, openings, nonce)


def _totals(sealed: Sealed) -> dict[str, int]:
    return dict(zip(DPD5_V1.lanes, sealed.outcome.lane_value_sums, strict=True))


def _delinquent_and_pool_balance(sealed: Sealed) -> tuple[int, int]:
    """The sealed pool's balance more than 30 days past due, and its whole balance."""
    totals = _totals(sealed)
    return DPD5_V1.metric_value("balance_dpd_31plus", totals), DPD5_V1.metric_value("pool_balance", totals)


def _write(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_bytes(bundle.dump_bundle(doc))
    return path


def _rejected(verify: Any, doc: dict[str, Any], sealed: Sealed) -> bool:
    try:
        verify(doc, sealed.key.public_key())
    except (VerificationError, EncodingError):
        return True
    return False


# -- claims ----------------------------------------------------------------------------------------


def test_true_ratio_claim_verifies(sealed: Sealed) -> None:
    bad, pool = _delinquent_and_pool_balance(sealed)
    # Claim a bound in tenths of a percent just above the true ratio.
    statement = RatioClaim("balance_dpd_31plus", "pool_balance", "<=", bad * 1000 // pool + 1, 1000)
    doc = _claim(sealed, statement)
    assert verify_claim_bundle(doc, sealed.key.public_key()) == statement


def test_false_claim_cannot_be_produced(sealed: Sealed) -> None:
    bad, pool = _delinquent_and_pool_balance(sealed)
    assert bad > 0
    just_below = -(-bad * 1000 // pool) - 1  # the largest p with p/1000 < bad/pool
    with pytest.raises(ProvingError):
        _claim(sealed, RatioClaim("balance_dpd_31plus", "pool_balance", "<=", just_below, 1000))


def test_bound_between_and_disclosure_claims_verify(sealed: Sealed) -> None:
    totals = _totals(sealed)
    pool = DPD5_V1.metric_value("pool_balance", totals)
    count = DPD5_V1.metric_value("count_dpd_90plus", totals)
    for statement in (
        BoundClaim("pool_balance", pool - 10, pool + 10),
        RatioBetweenClaim("count_dpd_90plus", "loan_count", max(count - 1, 0), 24, count + 1, 24),
        Disclosure("loan_count"),
    ):
        verify_claim_bundle(_claim(sealed, statement), sealed.key.public_key())


def _mutations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []

    def variant(name: str, fn: Any) -> None:
        d = copy.deepcopy(doc)
        fn(d)
        out.append((name, d))

    def flip(s: str, pos: int) -> str:
        return s[:pos] + ("0" if s[pos] != "0" else "1") + s[pos + 1 :]

    variant("nonce", lambda d: d.__setitem__("nonce", flip(d["nonce"], 0)))
    variant("statement p", lambda d: d["statement"].__setitem__("p", d["statement"]["p"] - 1))
    variant("statement q", lambda d: d["statement"].__setitem__("q", d["statement"]["q"] + 1))
    variant("statement op", lambda d: d["statement"].__setitem__("op", ">="))
    variant("statement metric", lambda d: d["statement"].__setitem__("metric_num", "balance_dpd_90plus"))
    variant("header cutoff", lambda d: d["header"].__setitem__("cutoff_date", "2026-10-30"))
    variant(
        "header aggregate",
        lambda d: d["header"]["aggregates"].__setitem__(
            "balance_M2", d["header"]["aggregates"]["balance_M3"]
        ),
    )
    variant(
        "header signature",
        lambda d: d["header"]["signatures"][0].__setitem__(
            "sig", flip(d["header"]["signatures"][0]["sig"], 3)
        ),
    )
    proof_hex = doc["proof"]["range_proof"]
    for pos in range(0, len(proof_hex), 96):
        variant(
            f"proof byte {pos // 2}",
            lambda d, pos=pos: d["proof"].__setitem__("range_proof", flip(d["proof"]["range_proof"], pos)),
        )
    return out


def test_every_tampered_part_of_a_claim_bundle_is_rejected(sealed: Sealed) -> None:
    bad, pool = _delinquent_and_pool_balance(sealed)
    statement = RatioClaim("balance_dpd_31plus", "pool_balance", "<=", bad * 1000 // pool + 5, 1000)
    doc = _claim(sealed, statement)
    for name, bad in _mutations(doc):
        assert _rejected(verify_claim_bundle, bad, sealed), f"tampered {name} verified"


def test_claim_with_too_small_value_bits_is_refused_by_the_verifier(sealed: Sealed) -> None:
    statement = BoundClaim("pool_balance", 0, None, value_bits=8)
    with pytest.raises(VerificationError, match=r"claim\.value_bits"):
        _claim(sealed, statement)


# -- inclusion -------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 7, 8, 23])
def test_every_borrower_can_verify_inclusion(sealed: Sealed, index: int) -> None:
    result = verify_inclusion_bundle(inclusion_bundle_for(sealed, index), sealed.key.public_key())
    assert result.principal == sealed.loans[index].principal
    assert result.bucket == sealed.loans[index].bucket
    assert result.exposure_id == sealed.loans[index].exposure_id


def test_tampered_inclusion_bundles_are_rejected(sealed: Sealed) -> None:
    doc = inclusion_bundle_for(sealed, 5)
    mutations = {
        "value": lambda d: d["lanes"][
            d["lanes"].index(next(e for e in d["lanes"] if e["value"] > 1))
        ].__setitem__("value", 1),
        "blinding": lambda d: d["lanes"][0].__setitem__("blinding", "00" * 31 + "01"),
        "index": lambda d: d.__setitem__("leaf_index", 6),
        "exposure": lambda d: d.__setitem__("exposure_id", "E999999"),
        "path": lambda d: d["path"].__setitem__(0, "00" * 32),
        "short path": lambda d: d["path"].pop(),
        "root": lambda d: d["header"].__setitem__("merkle_root", "11" * 32),
        "bucket moved": lambda d: (
            d["lanes"][5].__setitem__("value", 0),
            d["lanes"][9].__setitem__("value", 1),
        ),
    }
    for name, fn in mutations.items():
        bad = copy.deepcopy(doc)
        fn(bad)
        assert _rejected(verify_inclusion_bundle, bad, sealed), f"tampered {name} verified"


# -- the command line --------------------------------------------------------------------------------


def test_cli_exit_codes_and_json(
    sealed: Sealed, keyfile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    claim = _claim(sealed, Disclosure("pool_balance"))
    good = _write(tmp_path, "claim.json", claim)
    assert main(["verify-claim", str(good), "--key", str(keyfile), "--json", "--no-witness"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True
    assert out["statement"] == {"type": "disclosure", "metric": "pool_balance"}

    tampered = copy.deepcopy(claim)
    tampered["nonce"] = "ff" * 16
    bad = _write(tmp_path, "bad.json", tampered)
    assert main(["verify-claim", str(bad), "--key", str(keyfile), "--json", "--no-witness"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False
    assert out["check"].startswith("claim")

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert main(["verify-claim", str(garbage), "--key", str(keyfile)]) == 2
    assert "UNUSABLE" in capsys.readouterr().err
    assert main(["verify-claim", str(tmp_path / "missing.json"), "--key", str(keyfile)]) == 2
    assert main(["verify-claim", str(good), "--key", str(garbage)]) == 2


def test_cli_verifies_a_snapshot_and_names_a_failed_check(
    sealed: Sealed, keyfile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snap = tmp_path / "snapshot.json"
    snap.write_text(sealed.bundle_text)
    assert main(["verify-snapshot", str(snap), "--key", str(keyfile), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["leaf_count"] == 24
    broken = tmp_path / "broken.json"
    lines = sealed.bundle_text.split("\n")
    lines[1] = lines[1].replace(lines[1][30:34], "0000", 1)
    broken.write_text("\n".join(lines))
    code = main(["verify-snapshot", str(broken), "--key", str(keyfile), "--json"])
    assert code in (1, 2)
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False


def test_cli_verifies_inclusion(
    sealed: Sealed, keyfile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "inclusion.json", inclusion_bundle_for(sealed, 3))
    assert main(["verify-inclusion", str(path), "--key", str(keyfile)]) == 0
    assert "outstanding_principal" in capsys.readouterr().out


def test_cli_verify_log_checks_the_chain(sealed: Sealed, keyfile: Path, tmp_path: Path) -> None:
    first = bundle.unsigned_body(sealed.header)
    first_signed = bundle.sign_document(sealed.key, "snapshot-header", first)
    from proofs.snapshot import header_hash

    second = dict(
        first,
        sequence=2,
        cutoff_date="2026-11-30",
        snapshot_id="S-test-2",
        previous_header_hash=header_hash(first_signed).hex(),
    )
    second_signed = bundle.sign_document(sealed.key, "snapshot-header", second)
    a = _write(tmp_path, "h1.json", first_signed)
    b = _write(tmp_path, "h2.json", second_signed)
    assert main(["verify-log", str(a), str(b), "--key", str(keyfile)]) == 0
    assert main(["verify-log", str(b), str(a), "--key", str(keyfile)]) == 1
    forged = dict(second, previous_header_hash="00" * 32)
    c = _write(tmp_path, "h3.json", bundle.sign_document(sealed.key, "snapshot-header", forged))
    assert main(["verify-log", str(a), str(c), "--key", str(keyfile)]) == 1


def test_console_script_runs_without_the_gateway_installed(
    sealed: Sealed, keyfile: Path, tmp_path: Path
) -> None:
    """The auditor's CLI in a fresh interpreter that refuses to import Flask, sqlite or gateway/."""
    path = _write(tmp_path, "inclusion.json", inclusion_bundle_for(sealed, 1))
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        blocked = {'flask', 'sqlite3', 'sqlite_utils', 'marshmallow', 'gateway', 'policies'}\n"
        "        if name.split('.')[0] in blocked:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from proofs.audit_cli import main\n"
        f"sys.exit(main(['verify-inclusion', {str(path)!r}, '--key', {str(keyfile)!r}, '--json']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["verified"] == "inclusion"


def test_cli_version_and_the_shared_exit_code_table(
    keyfile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from proofs.exit_codes import ExitCode

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("poolproof-audit ")
    code = main(["verify-claim", str(tmp_path / "missing.json"), "--key", str(keyfile), "--no-witness"])
    assert code is ExitCode.UNUSABLE
