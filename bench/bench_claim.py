"""The CLAIM benchmark target: prove and verify investor claims on a sealed pool.

Usage: ``python bench/bench_claim.py --dir DIR [--claims 12]`` (DIR from ``bench/bench_seal.py --keep DIR``).

Opens the kept instance and, for ``--claims`` claims cycling through four statements (90+ dpd balance
ratio, 90+ dpd count ratio, a two-sided ratio, a lower bound on the pool balance): proves each on the
gateway side (``gateway.snapshots.sealed.prove_claim``: opens the sealed lane totals, builds the claim
bundle), serialises it (``proofs.bundle.dump_bundle``), parses it back and verifies it on the investor side
(``proofs.claim_bundle.verify_claim_bundle``: header signature, metric commitments recomputed from the
header's aggregates, the range proof). Then runs the real ``poolproof-audit verify-claim`` once on the
last bundle (wall time of a fresh process, imports included; reported apart).

Every figure is named for what it is; ``seconds`` is the median of (prove + verify) per claim, in
seconds. ``peak_rss_mib`` is this process's peak RSS (``ru_maxrss``), which includes opening the
instance. The first claim of a process pays one-off set-up (generators): it is in the max, and reported
as ``prove_ms_first`` / ``verify_ms_first``. Verification is also timed in process CPU time
(``verify_cpu_ms_*``, all MSM threads), which a shared machine inflates less than wall time.
Writes ``bench/results/claim-<loans>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import secrets
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, write_result  # bench/ is on sys.path when run as a script
from bench_seal import source_state  # bench/ is on sys.path when run as a script

MANIFEST = "bench-instance.json"


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


def bench(root: Path, n_claims: int) -> dict[str, Any]:
    """Prove and verify ``n_claims`` claims on the instance kept in ``root``."""
    from gateway.keys.gateway_key import load_gateway_key
    from gateway.keys.keyring import load_master_key
    from gateway.snapshots.sealed import get_snapshot, prove_claim
    from gateway.storage.db import connect
    from gateway.storage.records import pool_keys
    from proofs import bundle
    from proofs.claim_bundle import ExpectedClaim, verify_claim_bundle
    from proofs.claims import BoundClaim, ClaimStatement, RatioBetweenClaim, RatioClaim
    from proofs.snapshot import verify_header
    from proofs.witness import WitnessPolicy

    manifest = json.loads((root / MANIFEST).read_text())
    inst = manifest["instance"]
    master = load_master_key(key_file=root / inst["master_key"])
    public = load_gateway_key(root / inst["gateway_key"]).public_key()
    db = connect(root / inst["db"])
    try:
        snap = get_snapshot(db, manifest["pool_id"], manifest["cutoff"])
        header = verify_header(snap.header, public)
        keys = pool_keys(db, master, manifest["pool_id"])
        bits = max(48, header.metric_bound_bits("pool_balance"))
        statements: list[ClaimStatement] = [
            RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 3, 100, bits),
            RatioClaim("count_dpd_90plus", "loan_count", "<=", 5, 100, bits),
            RatioBetweenClaim("balance_dpd_31plus", "pool_balance", 0, 1, 1, 4, bits),
            BoundClaim("pool_balance", 1, None, bits),
        ]
        if header.lanes.circuit is not None:  # the same questions in the pool statement v2's terms
            statements = [
                RatioClaim(
                    "delinquent_90plus_or_defaulted_balance", "outstanding_balance", "<=", 3, 100, bits
                ),
                RatioClaim("count_DEFAULTED", "active_loan_count", "<=", 5, 100, bits),
                RatioBetweenClaim("delinquent_31plus_balance", "pool_balance", 0, 1, 1, 4, bits),
                BoundClaim("pool_balance", 1, None, bits),
            ]
        prove_s, verify_s, verify_cpu, sizes, kinds = [], [], [], [], []
        data = b""
        for i in range(n_claims):
            statement = statements[i % len(statements)]
            t0 = time.perf_counter()
            nonce = secrets.token_bytes(32)
            doc = prove_claim(header, keys, snap, statement, nonce)
            prove_s.append(time.perf_counter() - t0)
            data = bundle.dump_bundle(doc)
            sizes.append(len(data))
            kinds.append(type(statement).__name__)
            parsed = bundle.load_bundle(data)
            t0, c0 = time.perf_counter(), time.process_time()
            verify_claim_bundle(
                parsed,
                public,
                expected=ExpectedClaim(nonce=nonce, statement=statement),
                witnesses=WitnessPolicy.unwitnessed(),
            )
            verify_s.append(time.perf_counter() - t0)
            verify_cpu.append(time.process_time() - c0)
    finally:
        db.conn.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    claim_file = root / "claim-last.json"
    claim_file.write_bytes(data)
    script = Path(sys.executable).with_name("poolproof-audit")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "proofs.audit_cli"]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            *cli,
            "verify-claim",
            str(claim_file),
            "--key",
            str(root / manifest["public_key"]),
            "--json",
            "--no-witness",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    cli_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(
            f"poolproof-audit verify-claim exited with {proc.returncode}: {proc.stdout}{proc.stderr}"
        )

    both = [p + v for p, v in zip(prove_s, verify_s, strict=True)]
    return {
        "target": "claim",
        "loans": manifest["loans"],
        "seconds": round(statistics.median(both), 4),
        "seconds_means": "median over claims of (prove + verify) wall time, in seconds",
        "peak_rss_mib": round(peak, 1),
        "peak_rss_mib_basis": "ru_maxrss of this process (opens the instance, proves and verifies)",
        "claims": n_claims,
        "statement_kinds": sorted(set(kinds)),
        "prove_ms_median": _ms(statistics.median(prove_s)),
        "prove_ms_max": _ms(max(prove_s)),
        "prove_ms_first": _ms(prove_s[0]),
        "verify_ms_median": _ms(statistics.median(verify_s)),
        "verify_ms_max": _ms(max(verify_s)),
        "verify_ms_first": _ms(verify_s[0]),
        "verify_cpu_ms_median": _ms(statistics.median(verify_cpu)),
        "verify_cpu_ms_first": _ms(verify_cpu[0]),
        "verify_cpu_means": "process CPU time (every MSM thread) of one verification; the load-robust figure",
        "bundle_bytes_max": max(sizes),
        "bundle_bytes_min": min(sizes),
        "cli_verify_claim_seconds": round(cli_s, 3),
        "cli_verify_claim_means": "wall time of one poolproof-audit verify-claim process, start-up included",
        "lane_set": manifest["lane_set"],
        "value_bits": bits,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="a directory kept by bench_seal.py --keep")
    parser.add_argument("--claims", type=int, default=12, help="claims to prove and verify (default 12)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if args.claims < 1:
        parser.error("--claims must be at least 1")
    load_before = [round(x, 2) for x in os.getloadavg()]
    result = bench(args.dir, args.claims)
    result["date"] = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    result["command"] = (
        "python bench/"
        + Path(sys.argv[0]).name
        + "".join(" " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    )
    result["cpus"] = os.cpu_count()
    result.update(source_state())
    result["load_before"] = load_before
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    write_result(args.results / f"claim-{result['loans']}.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
