"""``poolproof-audit verify-link`` and ``verify-series`` through :func:`proofs.audit_cli.main`."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import bundle
from proofs.audit_cli import main
from proofs.exit_codes import ExitCode
from proofs.link import LINK_KIND, prove_link
from proofs.signing import public_key_to_pem
from proofs.snapshot import verify_header
from proofs.witness import cosign_header
from tests.link_chain import Month, first_facts, next_facts, seal_month


@pytest.fixture(scope="module")
def series(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Ed25519PrivateKey, list[Month], list[dict[str, Any]]]:
    key = Ed25519PrivateKey.generate()
    rng = random.Random(77)
    months = [seal_month(first_facts(10, rng), key, sequence=1, previous=None)]
    links = []
    for m in (2, 3):
        prev = months[-1]
        facts = next_facts(prev.facts, rng, new=1, first_id=100 * m)
        months.append(seal_month(facts, key, sequence=m, previous=prev.header))
        entries = [f.exposure_id for f in facts if f.exposure_id not in {p.exposure_id for p in prev.facts}]
        links.append(
            prove_link(key, prev.header, months[-1].header, prev.loans, months[-1].loans, entries=entries)
        )
    folder = tmp_path_factory.mktemp("series")
    for i, m in enumerate(months, start=1):
        (folder / f"snapshot-{i}.json").write_text(m.text)
    for i, doc in enumerate(links, start=1):
        (folder / f"link-{i}-{i + 1}.json").write_bytes(bundle.dump_bundle(doc))
    keyfile = folder.parent / f"{folder.name}-gateway.pub"
    keyfile.write_bytes(public_key_to_pem(key.public_key()))
    return folder, key, months, links


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _key(folder: Path) -> str:
    return str(folder.parent / f"{folder.name}-gateway.pub")


def test_verify_link_prints_the_roll_matrix(series: Any, capsys: pytest.CaptureFixture[str]) -> None:
    folder, _gateway, _months, links = series
    code, out = _run(
        capsys,
        "verify-link",
        str(folder / "snapshot-1.json"),
        str(folder / "snapshot-2.json"),
        str(folder / "link-1-2.json"),
        "--key",
        _key(folder),
    )
    assert code == ExitCode.OK
    assert out["ok"] is True
    assert out["roll_counts"] == links[0]["roll"]["counts"]
    assert out["kept"] == links[0]["kept"]
    assert out["entries"] == 1


def test_verify_link_names_the_failed_check(
    series: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, key, _months, links = series
    doc = copy.deepcopy(links[0])
    doc["entries"] = []
    bad = tmp_path / "bad-link.json"
    bad.write_bytes(bundle.dump_bundle(bundle.sign_document(key, LINK_KIND, bundle.unsigned_body(doc))))
    code, out = _run(
        capsys,
        "verify-link",
        str(folder / "snapshot-1.json"),
        str(folder / "snapshot-2.json"),
        str(bad),
        "--key",
        _key(folder),
    )
    assert code == ExitCode.FAILED
    assert out["check"] == "link.entries"
    purchases = tmp_path / "purchases.json"
    purchases.write_text(json.dumps(["E999999"]))
    code, out = _run(
        capsys,
        "verify-link",
        str(folder / "snapshot-1.json"),
        str(folder / "snapshot-2.json"),
        str(folder / "link-1-2.json"),
        "--purchases",
        str(purchases),
        "--key",
        _key(folder),
    )
    assert code == ExitCode.FAILED
    assert out["check"] == "link.entries"
    code, out = _run(capsys, "verify-link", str(bad) + ".missing", "x", "y", "--key", _key(folder))
    assert code == ExitCode.UNUSABLE


def test_verify_series_checks_the_whole_chain(series: Any, capsys: pytest.CaptureFixture[str]) -> None:
    folder, *_ = series
    code, out = _run(capsys, "verify-series", str(folder), "--key", _key(folder))
    assert code == ExitCode.OK, out
    assert out["snapshots"] == ["S-POOL-L-1", "S-POOL-L-2", "S-POOL-L-3"]
    assert len(out["links"]) == 2


def test_verify_series_refuses_a_missing_link_and_a_broken_chain(
    series: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, *_ = series
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("snapshot-1.json", "snapshot-2.json", "snapshot-3.json", "link-1-2.json"):
        (partial / name).write_bytes((folder / name).read_bytes())
    code, out = _run(capsys, "verify-series", str(partial), "--key", _key(folder))
    assert code == ExitCode.FAILED
    assert out["check"] == "series.link_missing"
    (partial / "snapshot-2.json").unlink()
    code, out = _run(capsys, "verify-series", str(partial), "--key", _key(folder))
    assert code == ExitCode.FAILED
    assert out["check"] == "series.chain"


def test_verify_series_applies_the_witness_policy(
    series: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, key, months, _links = series
    witness = Ed25519PrivateKey.generate()
    wkey = tmp_path / "witness.pub"
    wkey.write_bytes(public_key_to_pem(witness.public_key()))
    code, out = _run(
        capsys, "verify-series", str(folder), "--key", _key(folder), "--require-witness", str(wkey)
    )
    assert code == ExitCode.FAILED
    assert out["check"] == "witness.missing"
    cosigned = tmp_path / "cosigned"
    cosigned.mkdir()
    for p in folder.iterdir():
        (cosigned / p.name).write_bytes(p.read_bytes())
    for i, m in enumerate(months, start=1):
        header = verify_header(m.header, key.public_key())
        doc = cosign_header(witness, header, "2026-12-01T00:00:00Z")
        (cosigned / f"snapshot-{i}.json.cosignature.json").write_text(json.dumps(doc))
    code, out = _run(
        capsys, "verify-series", str(cosigned), "--key", _key(folder), "--require-witness", str(wkey)
    )
    assert code == ExitCode.OK, out
    assert out["witnesses"] == "3 of 3 headers cosigned as required"
