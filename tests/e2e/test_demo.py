"""``poolproof demo --loans 64 --out DIR`` runs the whole story, and every file it writes re-verifies
with ``poolproof-audit`` (a separate process that imports only ``proofs``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import audit


def test_demo_runs_and_every_output_verifies_with_poolproof_audit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "demo",
            "--loans",
            "64",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "DEMO OK" in proc.stdout
    assert proc.stdout.count("PROVEN") == 3
    # The witness step: the auditor cosigns after the full check; every claim requires it.
    assert "auditor cosigned header" in proc.stdout
    assert proc.stdout.count("cosigned by the auditor") == 4  # three claims and the servicer report
    # The servicer-report table: every figure with its unit and definition, ratios from proven figures.
    table = proc.stdout[proc.stdout.index("investor: servicer report") :].splitlines()
    assert "proven exact" in table[0]
    rows = {line.split()[0]: line for line in table[2:] if line.startswith("  ") and line.split()}
    for fid in ("loan_count", "pool_balance", "unscheduled_principal", "collections", "smm", "cpr"):
        assert fid in rows, fid
    assert "64 loans" in rows["loan_count"]
    assert "loans on the tape" in rows["loan_count"]
    assert "(SMM) = unscheduled_principal / rate_base_balance" in rows["smm"]
    for fid in ("unscheduled_principal", "collections", "beginning_balance"):
        assert " fen)" in rows[fid], rows[fid]
        assert "CNY " in rows[fid], rows[fid]
    assert "suppressed" in proc.stdout  # 64 loans: some states are below the minimum cohort
    names = sorted(p.name for p in out.iterdir())
    from gateway.snapshots.demo import SERVICER_REPORT_FIGURES

    released = sorted(
        f"figure-{fid}.json" for fid in SERVICER_REPORT_FIGURES if "suppressed" not in rows[fid]
    )
    assert released  # every released servicer-report figure is written with its proof
    assert names == sorted(
        [
            "claim-1.json",
            "claim-2.json",
            "claim-3.json",
            "deal",
            "deal-investor",
            "gateway.pub",
            "inclusion.json",
            "snapshot.json",
            "witness.pub",
            "report.html",
            "report.pdf",
            *released,
        ]
    )
    # The revolving deal's trustee and investor reports, each rendered from verified payment reports.
    for folder in ("deal", "deal-investor"):
        assert (out / folder / "report.html").is_file()
        assert "UNVERIFIED" not in (out / folder / "report.html").read_text(encoding="utf-8")
    # The investor report drew only verified figures, each released one among them.
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "UNVERIFIED" not in page
    for name in released:
        assert name in page
        code, result = audit(
            "verify-claim", out / name, "--key", out / "gateway.pub", "--require-witness", out / "witness.pub"
        )
        assert code == 0, (name, result)
    # ... and the revolving deal's trigger tables and waterfalls were printed for three periods.
    assert proc.stdout.count("Triggers (proven against the committed figures)") == 3
    assert proc.stdout.count("Waterfall (recomputed by poolproof-audit verify-distribution)") == 3
    # ... with each period's proven roll matrix, and its linked months re-verify as a series.
    assert proc.stdout.count("Roll matrix, loans from") == 3
    series = out / "deal" / "series"
    assert f"poolproof-audit verify-series {series} --key {out / 'deal' / 'gateway.pub'}" in proc.stdout
    code, result = audit("verify-series", series, "--key", out / "deal" / "gateway.pub")
    assert code == 0, result
    assert len(result["links"]) == 3
    key = out / "gateway.pub"
    witness = ("--require-witness", out / "witness.pub")
    for name, command, extra in (
        ("claim-1.json", "verify-claim", witness),
        ("claim-2.json", "verify-claim", witness),
        ("claim-3.json", "verify-claim", witness),
        ("snapshot.json", "verify-snapshot", ()),
        ("inclusion.json", "verify-inclusion", witness),
    ):
        assert json.loads((out / name).read_text(encoding="utf-8"))["format"].startswith("poolproof/")
        code, result = audit(command, out / name, "--key", key, *extra)
        assert code == 0, (name, result)
        if command == "verify-snapshot":
            assert result["leaf_count"] == 64


def test_demo_output_does_not_verify_under_another_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gateway.snapshots.demo import run_demo
    from proofs.signing import public_key_to_pem

    out = tmp_path / "out"
    run_demo(8, out, workers=0, echo=lambda _line: None)
    other = tmp_path / "other.pub"
    other.write_bytes(public_key_to_pem(Ed25519PrivateKey.generate().public_key()))
    for name, command in (("claim-1.json", "verify-claim"), ("inclusion.json", "verify-inclusion")):
        code, result = audit(command, out / name, "--key", other)
        assert code == 1, result
        assert result["check"] == "header.signature"
