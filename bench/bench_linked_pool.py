"""Linked months over a synthetic pool: seal, link and audit every month, per month and per loan.

Usage: ``python bench/bench_linked_pool.py [--loans 2000] [--months 12] [--rounds 2] [--chunk-log2 10]
[--workers 1] [--state DIR]``

One synthetic pool of ``--loans`` loans (:func:`gateway.synth.generate_months`: the platform revolves,
a loan that closes keeps its row in the month it closed, in a terminal state, and its slot is refilled
by a new loan the month after, so every tape obeys the link's exit rule) over ``--months`` monthly
cut-offs. Each month's tape becomes the gateway's per-loan facts (:func:`gateway.loan_facts.loan_facts`)
and is sealed under the gateway's statement, ``statement_lane_set(CN_CONSUMER)`` (a ``pool-v4`` lane
set at the 20,000,000 cap), with :func:`proofs.sealing.seal_pool` inline; the header is signed and the
snapshot bundle written to memory. With ``--workers 1`` (the default) everything runs in one
process with MSM threads pinned to one (``POOLPROOF_MSM_THREADS=1``, as seal workers run); with
``--workers N`` the seal's chunks, the audit's chunk groups and the link's pieces (prover and
verifier) run on one local process pool of N single-threaded workers, and CPU is this process's
plus its workers' (``/proc``):

* **seal**: ``seal_pool`` + header + bundle text of every month;
* **audit**: :func:`proofs.snapshot.verify_snapshot` of every month's bundle (the auditor's full check),
  and :func:`proofs.link.read_leaves` (what the link verifier reads of it, timed apart);
* **link**: :func:`proofs.link.prove_link` of every consecutive pair, the leaves' commitments given
  (the gateway keeps them), entries = the month's new loans, checked equal to the tape's purchases
  (``pool_addition_date`` after the previous cut-off); every exit checked terminal on the raw tape;
* **link verify**: :func:`proofs.link.verify_link` given the leaves already read (audits above).

CPU (``time.process_time``) and wall (``time.perf_counter``) of each step, per month and per loan;
the link/seal CPU ratio against the 25 % target; the arkworks MSM cost per full-width term measured
at the start and at the end of the same run, each step's CPU expressed in MSM terms per loan, and the
link prover's MSM terms by structure (``bench_link._link_msm_terms``). The JSON is rewritten after
every month (``"complete": false`` until the last), so an interrupted run keeps what it measured.
With ``--state DIR`` each month's bundle, signed header and sealing seed are kept there too (a
synthetic pool's, for this benchmark only), and a run started again with the same arguments resumes
after the last month it finished: the tapes are independent streams of the synthetic platform, so
month t−1's openings are derived again from its tape and seed, and its leaves read from its bundle.

Writes ``bench/results/linked-pool-<loans>x<months>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("POOLPROOF_MSM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import RESULTS, machine, peak_rss_mib, write_result
from bench_link import _link_msm_terms
from bench_seal import msm_us_per_term
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.loan_facts import loan_facts, statement_lane_set
from gateway.synth import generate_months, monthly_cutoff
from proofs import bundle
from proofs import linkcircuit as lc
from proofs.link import link_loans, prove_link, read_leaves, verify_link
from proofs.loan_facts import STATES, TERMINAL_STATES, LoanFacts
from proofs.sealing import seal_pool
from proofs.snapshot import (
    ChunkResult,
    SealParams,
    SnapshotContext,
    build_header,
    chunk_document,
    header_hash,
    verify_snapshot,
    write_snapshot_bundle,
)

T = TypeVar("T")
TERMINAL_STATUSES = {"PREPAID_IN_FULL", "MATURED_PAID", "CHARGED_OFF", "REPURCHASED"}


_WORKER_PIDS: list[int] = []


def _cpu() -> float:
    """CPU seconds of this process and of the pool's workers (their ``/proc`` user + system times)."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for pid in _WORKER_PIDS:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _timed(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float, float]:
    """``fn(*args, **kwargs)`` with its CPU and wall seconds."""
    c0, w0 = _cpu(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, _cpu() - c0, time.perf_counter() - w0


def _seal(
    key: Ed25519PrivateKey,
    facts: list[LoanFacts],
    context: SnapshotContext,
    params: SealParams,
    sequence: int,
    previous: dict[str, Any] | None,
    executor: Executor | None,
) -> tuple[dict[str, Any], str, bytes]:
    """Seal one month (fresh seed), sign its header and write its bundle: ``(header, text, seed)``."""
    seed = os.urandom(32)
    chunks: list[ChunkResult] = []
    outcome = seal_pool(
        facts, context=context, params=params, seed=seed, sink=chunks.append, executor=executor
    )
    header = build_header(
        context=context, params=params, sequence=sequence,
        previous_header_hash=None if previous is None else header_hash(previous),
        sealed_at=f"{context.cutoff_date}T23:00:00Z", leaf_count=outcome.leaf_count,
        merkle_root=outcome.merkle_root, currency="CNY", dpd_bucket_edges=(0, 30, 60, 90),
        aggregates=outcome.aggregates, policy_version="bench", packed_sums=outcome.packed_sums,
        aggregate_proof=outcome.aggregate_proof,
    )  # fmt: skip
    header = bundle.sign_document(key, "snapshot-header", header)
    text = io.StringIO()
    write_snapshot_bundle(text, header, (chunk_document(c) for c in chunks), None)
    return header, text.getvalue(), seed


def _eid(row: dict[str, Any]) -> str:
    return "X" + re.sub(r"[^A-Za-z0-9_-]", "_", str(row["platform_loan_id"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loans", type=int, default=2000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--chunk-log2", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--state", type=Path, default=None)
    args = ap.parse_args()
    with ExitStack() as stack:
        executor = None
        if args.workers > 1:
            executor = stack.enter_context(ProcessPoolExecutor(args.workers, initializer=_one_thread))
            list(executor.map(_noop, range(4 * args.workers)))  # start every worker
            _WORKER_PIDS.extend(executor._processes)  # their CPU is part of the figures
        _run(args, executor)


def _one_thread() -> None:
    os.environ["POOLPROOF_MSM_THREADS"] = "1"


def _noop(_: int) -> None:
    return None


def _run(args: argparse.Namespace, executor: Executor | None) -> None:
    n, m = args.loans, args.months
    out_path = args.out or RESULTS / f"linked-pool-{n}x{m}.json"
    lanes = statement_lane_set(CN_CONSUMER)
    assert lanes.circuit is not None
    params = SealParams(lane_set=lanes.name, chunk_log2=args.chunk_log2, ipa_rounds=args.rounds)
    state: Path | None = args.state
    key_file = None if state is None else state / "bench-key.pem"
    if key_file is not None and key_file.exists():
        loaded = serialization.load_pem_private_key(key_file.read_bytes(), None)
        assert isinstance(loaded, Ed25519PrivateKey)
        key = loaded
    else:
        key = Ed25519PrivateKey.generate()
        if key_file is not None:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
    public = key.public_key()
    start_cutoff = dt.date(2026, 1, 31)
    us_term_start = msm_us_per_term()
    commit_sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "bench", "proofs", "gateway"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\n")
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit_sha,
        "uncommitted": [line[3:] for line in dirty if line.strip()],
        "machine": machine(),
        "load_before": list(os.getloadavg()),
        "command": " ".join(["python", "bench/bench_linked_pool.py", *sys.argv[1:]]),
        "lane_set": lanes.name,
        "loans": n,
        "months": m,
        "chunk_log2": args.chunk_log2,
        "ipa_rounds": args.rounds,
        "link_ipa_rounds": max(1, args.rounds),
        "workers": args.workers,
        "seal_gates_per_loan": lanes.circuit.gates_per_loan,
        "link_gates_per_kept_loan": lc.GATES_PER_LOAN,
        "msm_us_per_term_start": round(us_term_start, 3),
        "complete": False,
        "per_month": [],
    }
    prev: dict[str, Any] | None = None
    wall0 = time.perf_counter()
    done = 0
    if state is not None and out_path.exists():
        earlier = json.loads(out_path.read_text())
        if earlier.get("command") == result["command"] and not earlier.get("complete"):
            result = earlier
            done = len(result["per_month"])
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            result.setdefault("resumed", []).append({"at": now, "commit": commit_sha, "from_month": done})
            wall0 -= result.get("elapsed_wall_s", 0.0)
    months = list(generate_months(n, seed=args.seed, start_cutoff=start_cutoff, months=m))

    def tape(k: int) -> tuple[str, list[dict[str, Any]], list[LoanFacts]]:
        cutoff, stream = months[k]
        rows = list(stream)
        iso = cutoff.isoformat()
        return (
            iso,
            rows,
            [loan_facts({**r, "exposure_id": _eid(r), "cutoff_date": iso}, CN_CONSUMER) for r in rows],
        )

    if done:
        assert state is not None
        iso, rows, facts = tape(done - 1)
        text = (state / f"month-{done - 1}.bundle").read_text()
        header = json.loads((state / f"month-{done - 1}.header.json").read_text())
        seed = bytes.fromhex((state / f"month-{done - 1}.seed").read_text())
        prev = {
            "facts": facts, "rows": rows, "leaves": read_leaves(text, public),
            "loans": link_loans(lanes, seed, facts), "header": header,
        }  # fmt: skip
    for k in range(done, m):
        t0 = time.perf_counter()
        iso, rows, facts = tape(k)
        tape_s = time.perf_counter() - t0
        context = SnapshotContext(f"SYNTH-L-{k}", "SYNTH-L", iso, lanes.name)
        previous = None if prev is None else prev["header"]
        (header, text, seed), seal_cpu, seal_wall = _timed(
            _seal, key, facts, context, params, k + 1, previous, executor
        )
        _, audit_cpu, audit_wall = _timed(verify_snapshot, io.StringIO(text), public, executor=executor)
        leaves, read_cpu, read_wall = _timed(read_leaves, text, public)
        loans = link_loans(lanes, seed, facts)
        month: dict[str, Any] = {
            "month": k,
            "cutoff": iso,
            "loans": len(facts),
            "bundle_bytes": len(text.encode()),
            "tape_and_facts_wall_s": round(tape_s, 3),
            "seal_cpu_s": round(seal_cpu, 3),
            "seal_wall_s": round(seal_wall, 3),
            "audit_cpu_s": round(audit_cpu, 3),
            "audit_wall_s": round(audit_wall, 3),
            "read_leaves_cpu_s": round(read_cpu, 3),
            "read_leaves_wall_s": round(read_wall, 3),
        }
        if prev is not None:
            prev_ids = {f.exposure_id for f in prev["facts"]}
            cur_ids = {f.exposure_id for f in facts}
            entries = [f.exposure_id for f in facts if f.exposure_id not in prev_ids]
            start = monthly_cutoff(start_cutoff, k - 1).isoformat()
            bought = {_eid(r) for r in rows if start < r["pool_addition_date"] <= iso}
            assert set(entries) == bought, "the month's new loans are not its purchases"
            left = [r for r in prev["rows"] if _eid(r) not in cur_ids]
            assert all(r["loan_status"] in TERMINAL_STATUSES for r in left), "a loan left un-closed"
            p_leaves = prev["leaves"]
            doc, link_cpu, link_wall = _timed(
                prove_link, key, prev["header"], header, prev["loans"], loans, entries=entries,
                prev_commitments=[list(leaf.inputs) for leaf in p_leaves.leaves],
                cur_commitments=[list(leaf.inputs) for leaf in leaves.leaves], ipa_rounds=max(1, args.rounds),
                executor=executor,
            )  # fmt: skip
            verified, verify_cpu, verify_wall = _timed(
                verify_link, p_leaves, leaves, doc, public, purchases=entries, executor=executor
            )
            kept = doc["kept"]
            assert sum(map(sum, verified.roll.counts)) == kept
            assert not any(verified.exits_by_state[: len(STATES) - len(TERMINAL_STATES)])
            link_terms = _link_msm_terms(kept, max(1, args.rounds))
            month.update(
                kept=kept,
                exits=len(verified.exits),
                entries=len(verified.entries),
                link_bytes=len(bundle.dump_bundle(doc)),
                link_pieces=[p["loans"] for p in doc["pieces"]],
                link_cpu_s=round(link_cpu, 3),
                link_wall_s=round(link_wall, 3),
                link_verify_cpu_s=round(verify_cpu, 3),
                link_verify_wall_s=round(verify_wall, 3),
                link_msm_terms=link_terms,
                link_over_seal_cpu=round(link_cpu / seal_cpu, 4),
            )
        result["per_month"].append(month)
        result["elapsed_wall_s"] = round(time.perf_counter() - wall0, 1)
        result["peak_rss_mib"] = max(result.get("peak_rss_mib", 0.0), round(peak_rss_mib(), 1))
        if state is not None:
            (state / f"month-{k}.bundle").write_text(text)
            (state / f"month-{k}.header.json").write_text(json.dumps(header))
            (state / f"month-{k}.seed").write_text(seed.hex())
            for old in state.glob(f"month-{k - 2}.*"):
                old.unlink()
        write_result(out_path, result)
        prev = {"facts": facts, "rows": rows, "leaves": leaves, "loans": loans, "header": header}
    us_term_end = msm_us_per_term()
    us_term = (us_term_start + us_term_end) / 2
    per = result["per_month"]
    linked = [p for p in per if "kept" in p]
    loan_months = sum(p["loans"] for p in per)
    kept = sum(p["kept"] for p in linked)

    def total(field: str, rows: list[dict[str, Any]] = per) -> float:
        return float(sum(p[field] for p in rows))

    seal_linked = total("seal_cpu_s", linked)
    result.update(
        complete=True,
        load_after=list(os.getloadavg()),
        msm_us_per_term_end=round(us_term_end, 3),
        msm_us_per_term=round(us_term, 3),
        loan_months=loan_months,
        links=len(linked),
        kept_total=kept,
        exits_total=sum(p["exits"] for p in linked),
        entries_total=sum(p["entries"] for p in linked),
        seal_cpu_s=round(total("seal_cpu_s"), 2),
        seal_wall_s=round(total("seal_wall_s"), 2),
        audit_cpu_s=round(total("audit_cpu_s"), 2),
        audit_wall_s=round(total("audit_wall_s"), 2),
        read_leaves_cpu_s=round(total("read_leaves_cpu_s"), 2),
        link_cpu_s=round(total("link_cpu_s", linked), 2),
        link_wall_s=round(total("link_wall_s", linked), 2),
        link_verify_cpu_s=round(total("link_verify_cpu_s", linked), 2),
        seal_ms_per_loan=round(1e3 * total("seal_cpu_s") / loan_months, 3),
        seal_wall_ms_per_loan=round(1e3 * total("seal_wall_s") / loan_months, 3),
        audit_ms_per_loan=round(1e3 * total("audit_cpu_s") / loan_months, 3),
        audit_wall_ms_per_loan=round(1e3 * total("audit_wall_s") / loan_months, 3),
        link_ms_per_kept_loan=round(1e3 * total("link_cpu_s", linked) / kept, 3),
        link_wall_ms_per_kept_loan=round(1e3 * total("link_wall_s", linked) / kept, 3),
        link_verify_ms_per_kept_loan=round(1e3 * total("link_verify_cpu_s", linked) / kept, 3),
        seal_msm_terms_per_loan=round(1e6 * total("seal_cpu_s") / loan_months / us_term, 1),
        audit_msm_terms_per_loan=round(1e6 * total("audit_cpu_s") / loan_months / us_term, 1),
        link_cpu_msm_terms_per_kept_loan=round(1e6 * total("link_cpu_s", linked) / kept / us_term, 1),
        link_verify_msm_terms_per_kept_loan=round(
            1e6 * total("link_verify_cpu_s", linked) / kept / us_term, 1
        ),
        link_structural_msm_terms_per_kept_loan=round(total("link_msm_terms", linked) / kept, 1),
        link_over_seal_cpu=round(total("link_cpu_s", linked) / seal_linked, 4),
        link_over_seal_gates=round(lc.GATES_PER_LOAN / lanes.circuit.gates_per_loan, 4),
        target=0.25,
        elapsed_wall_s=round(time.perf_counter() - wall0, 1),
        peak_rss_mib=max(result.get("peak_rss_mib", 0.0), round(peak_rss_mib(), 1)),
    )
    write_result(out_path, result)


if __name__ == "__main__":
    main()
