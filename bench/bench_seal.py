"""The SEAL benchmark target: seal a synthetic pool through the gateway's seal job.

Usage: ``python bench/bench_seal.py --n N [--keep DIR] [--workers W] [--chunk-log2 K|auto]
[--lane-set NAME] [--ipa-rounds R|full] [--results DIR]``

In a fresh instance (a temporary directory, or ``DIR/instance`` with ``--keep``): ingest a synthetic
month (``gateway.synth``, seed 7, month 6) in-process with ``gateway.ingest.pipeline.ingest_tape`` (not timed
here: ingestion is the ``bench/bench_ingest.py`` target), then time
``gateway.snapshots.seal_jobs.run_seal_job``: Pedersen commitments, per-loan lane proofs, Merkle tree, signed
header, everything stored in SQLite. The seal runs on the gateway's process pool (``--workers``, default one
per core; one MSM thread each).

Proof parameters are the project's defaults, read at run time from
``gateway.snapshots.seal_jobs.SealSettings()`` (which follows ``proofs.snapshot.SealParams``); the three flags
override them. The JSON records both what was asked for (``settings``; a null ``chunk_log2`` lets the gateway
size chunks by the pool, where it supports that) and what the seal job used (``lane_set``, ``chunk_log2``,
``ipa_rounds``; null rounds: full inner-product compression), and the defaults of the day (``defaults``).

Writes ``bench/results/seal-<N>.json`` (``seal-<N>-<overrides>.json`` when a flag changes a default)
with ``target``, ``loans``, ``seconds`` (seal wall time), ``seal_cpu_seconds``, ``cpu_ms_per_loan``,
``peak_rss_mib`` and the other figures described in ``docs/benchmarks.md``.

With ``--keep DIR`` (must not exist or be empty) the instance is kept for the next two targets:
``DIR/instance/`` (database, master key, gateway key), ``DIR/snapshot.json`` (the snapshot bundle, streamed
with ``gateway.snapshots.sealed.stream_snapshot_bundle``; not part of the seal time),
``DIR/gateway-public.pem`` (what ``poolproof-audit --key`` takes) and ``DIR/bench-instance.json`` (pool,
cut-off, loans, paths), read by ``bench/bench_audit.py --dir DIR`` and ``bench/bench_claim.py --dir DIR``.

The machine may be shared: the load averages (``os.getloadavg``) before and after the seal are recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

from _common import RESULTS, write_result  # bench/ is on sys.path when run as a script

POOL_ID = "BENCH"
MANIFEST = "bench-instance.json"


def load() -> list[float]:
    """The 1-, 5- and 15-minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def vm_hwm_mib(pid: int | str = "self") -> float | None:
    """Peak resident set (``VmHWM``) of a live process in MiB, or None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux ``clear_refs`` 5); True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def command_line() -> str:
    """The command as typed, relative to the repository root."""
    return "python bench/" + Path(sys.argv[0]).name + "".join(" " + shlex.quote(a) for a in sys.argv[1:])


def utc_now() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def source_state() -> dict[str, Any]:
    """The driver script if any, the commit measured, and the code paths that differed from it."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        return done.stdout if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "proofs", "gateway", "policies")
    return {
        "driver": os.environ.get("BENCH_DRIVER"),  # set by bench/scaling.sh
        "git_commit": git("rev-parse", "HEAD").strip() or None,
        "uncommitted_code": [line[3:] for line in changed.splitlines()],
    }


def parse_rounds(text: str) -> int | None:
    """``--ipa-rounds``: an integer, or ``full`` (None: the inner-product argument runs to the end)."""
    return None if text in ("full", "none", "None") else int(text)


def parse_chunk(text: str) -> int | None:
    """``--chunk-log2``: an integer, or ``auto`` (None: the gateway sizes chunks by the pool, if it can)."""
    return None if text == "auto" else int(text)


def _ingest(db: Any, master: bytes, n: int) -> tuple[str, float]:
    """Ingest a synthetic month of ``n`` loans in-process (no worker pool); returns (cut-off, seconds)."""
    from gateway.access.admin import create_party
    from gateway.ingest.pipeline import ingest_tape, iter_rows_as_jsonl
    from gateway.ingest.pool_settings import CN_CONSUMER
    from gateway.storage.records import create_pool, pool_keys
    from gateway.synth import generate_tape, monthly_cutoff

    create_party(db, "plat", "platform", public_key=b"\x01" * 32)
    pool = create_pool(db, master, POOL_ID, "plat", CN_CONSUMER)
    first = date(2024, 1, 31)
    cutoff = monthly_cutoff(first, 6).isoformat()
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as body:
        for line in iter_rows_as_jsonl(generate_tape(n, seed=7, cutoff=first, pool_id=POOL_ID, month=6)):
            body.write(line)
        body.seek(0)
        keys = pool_keys(db, master, POOL_ID)
        # workers=1: in-process, so no idle ingest workers hold memory or CPU during the seal.
        ingest_tape(db, pool, keys, cutoff, body, "jsonl", submitted_by="plat", max_bytes=1 << 40, workers=1)
    return cutoff, time.perf_counter() - t0


def bench(n: int, settings: Any, keep: Path | None) -> dict[str, Any]:
    """Seal ``n`` synthetic loans with ``settings`` (a ``SealSettings``); returns the result document."""
    from gateway.keys.gateway_key import load_gateway_key
    from gateway.keys.keyring import load_master_key
    from gateway.snapshots import seal_jobs as sealing
    from gateway.snapshots.demo import init_instance
    from gateway.snapshots.sealed import get_snapshot, stream_snapshot_bundle
    from gateway.storage.db import connect
    from gateway.workers import SEAL_WORKERS
    from proofs.signing import public_key_to_pem

    workers = settings.workers if settings.workers is not None else (os.cpu_count() or 1)
    out: dict[str, Any] = {
        "target": "seal",
        "loans": n,
        "seconds": None,
        "peak_rss_mib": None,
        "date": utc_now(),
        "command": command_line(),
        "cpus": os.cpu_count(),
        **source_state(),
        "workers": workers,
        # what was asked for (null chunk_log2: the gateway picks it from the pool size) ...
        "settings": {
            "lane_set": settings.lane_set,
            "chunk_log2": settings.chunk_log2,
            "ipa_rounds": settings.ipa_rounds,
        },
    }
    with ExitStack() as stack:
        root = (
            keep
            if keep is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-seal-")))
        )
        inst = init_instance(root / "instance")
        master = load_master_key(key_file=inst.master_key_file)
        gkey = load_gateway_key(inst.gateway_key_file)
        db = connect(inst.db_path)
        stack.callback(db.conn.close)
        cutoff, ingest_s = _ingest(db, master, n)
        out["ingest_seconds_untimed_target"] = round(ingest_s, 2)

        job, _ = sealing.start_seal_job(db, master, POOL_ID, cutoff, settings)
        # ... and the proof parameters the job actually uses (recorded in the header); null
        # ipa_rounds: full inner-product compression
        used = {
            "lane_set": job.params.lane_set,
            "chunk_log2": job.params.chunk_log2,
            "ipa_rounds": job.params.ipa_rounds,
        }
        out.update(used)
        chunk_times: list[float] = []
        worker_hwm: dict[int, float] = {}

        def sample_workers() -> None:
            # VmHWM is each worker's own peak so far; read it while the workers are alive.
            for pid in SEAL_WORKERS.worker_pids():
                hwm = vm_hwm_mib(pid)
                if hwm is not None:
                    worker_hwm[pid] = max(worker_hwm.get(pid, 0.0), hwm)

        def after_chunk(_index: int) -> None:
            chunk_times.append(time.perf_counter())
            sample_workers()

        rss_reset = reset_peak_rss()
        out["load_before"] = load()
        cpu0 = os.times()
        t0 = time.perf_counter()
        done = sealing.run_seal_job(
            inst.db_path, master, gkey, "bench", job.id, workers=settings.workers, after_chunk=after_chunk
        )
        t1 = time.perf_counter()
        cpu1 = os.times()
        sample_workers()  # final peaks, before the workers exit
        main_hwm = vm_hwm_mib()
        sealing.shutdown_executor()  # waits for the workers, so their CPU time is in cpu2's children
        cpu2 = os.times()
        out["load_after"] = load()
        if done.state != "sealed":
            raise SystemExit(f"seal failed: {done.error}")

        seal_s = t1 - t0
        cpu_self = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        cpu_workers = (cpu2.children_user - cpu0.children_user) + (
            cpu2.children_system - cpu0.children_system
        )
        out["seconds"] = round(seal_s, 2)
        out["seal_seconds"] = out["seconds"]
        out["loans_per_second"] = round(n / seal_s, 2)
        out["seal_cpu_seconds"] = round(cpu_self + cpu_workers, 2)
        out["seal_cpu_seconds_main"] = round(cpu_self, 2)
        out["seal_cpu_seconds_workers"] = round(cpu_workers, 2)
        out["cpu_ms_per_loan"] = round(1000 * (cpu_self + cpu_workers) / n, 3)
        out["chunks"] = len(chunk_times)
        out.update(prover_costs(n, job.params, cpu_self + cpu_workers))
        if chunk_times:
            # first chunk: includes worker start-up and per-process generator derivation
            out["first_chunk_seconds"] = round(chunk_times[0] - t0, 2)
            out["last_chunk_seconds"] = round(chunk_times[-1] - t0, 2)
            # after the last chunk: signing the header and the final transaction
            out["finalize_seconds"] = round(t1 - chunk_times[-1], 3)
        worker_peaks = sorted(worker_hwm.values(), reverse=True)
        out["peak_rss_mib_main"] = None if main_hwm is None else round(main_hwm, 1)
        out["peak_rss_mib_main_basis"] = (
            "VmHWM of the benchmark process, reset just before the seal (ingest excluded)"
            if rss_reset
            else "VmHWM of the benchmark process over its whole life (includes ingest)"
        )
        out["peak_rss_mib_workers"] = [round(x, 1) for x in worker_peaks]
        out["peak_rss_mib"] = round(max([main_hwm or 0.0, *worker_peaks]), 1)
        out["peak_rss_mib_basis"] = (
            "max over the main process and each seal worker of its own peak RSS (VmHWM); "
            "peak_rss_mib_sum adds them (an upper bound on the seal's total)"
        )
        out["peak_rss_mib_sum"] = round((main_hwm or 0.0) + sum(worker_peaks), 1)

        if keep is not None:
            snap = get_snapshot(db, POOL_ID, cutoff)
            bundle_path = keep / "snapshot.json"
            t0 = time.perf_counter()
            with bundle_path.open("w", encoding="utf-8") as f:
                for part in stream_snapshot_bundle(db, snap):
                    f.write(part)
            out["bundle_stream_seconds_untimed_target"] = round(time.perf_counter() - t0, 2)
            out["snapshot_bundle_bytes"] = bundle_path.stat().st_size
            key_path = keep / "gateway-public.pem"
            key_path.write_bytes(public_key_to_pem(gkey.public_key()))
            manifest = {
                "loans": n,
                "pool_id": POOL_ID,
                "cutoff": cutoff,
                "snapshot_id": snap.snapshot_id,
                **used,
                "instance": {
                    "db": str(inst.db_path.relative_to(keep)),
                    "master_key": str(inst.master_key_file.relative_to(keep)),
                    "gateway_key": str(inst.gateway_key_file.relative_to(keep)),
                },
                "bundle": bundle_path.name,
                "public_key": key_path.name,
            }
            (keep / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            out["kept"] = str(keep)
    return out


def msm_us_per_term(terms: int = 1 << 16, distinct: int = 1024) -> float:
    """CPU µs per term of one arkworks MSM of ``terms`` full-width random scalars, one thread.

    Points are ``distinct`` random multiples of the generator, repeated (Pippenger's cost does not
    depend on the points being distinct); the same measure as ``bench/bench_rangeproof.py``.
    """
    import secrets

    from proofs.group import ORDER, get_group

    group = get_group("arkworks")
    base = group.hash_to_curve(b"bench-msm", b"POOLPROOF-BENCH-MSM")
    raws = [(base * (secrets.randbelow(ORDER - 1) + 1)).raw for _ in range(distinct)]
    points = [raws[i % distinct] for i in range(terms)]
    scalars = [secrets.randbelow(ORDER) for _ in range(terms)]
    t0 = time.process_time()
    group.msm_raw(points, scalars)
    return 1e6 * (time.process_time() - t0) / terms


def prover_costs(n: int, params: Any, cpu_seconds: float) -> dict[str, Any]:
    """Per-loan, per-gate and per-range-proven-bit seal costs against the MSM term, same run."""
    from proofs.lanecircuit import gates_per_loan
    from proofs.lanes import get_lane_set

    lanes = get_lane_set(params.lane_set)
    term = msm_us_per_term()
    per_loan_us = 1e6 * cpu_seconds / n
    out: dict[str, Any] = {"msm_us_per_term_2e16_one_thread": round(term, 2)}
    if lanes.circuit is not None or lanes.proof == "lanecircuit":
        if lanes.circuit is not None:  # the pool statement v2: every bit gate is a range-proven bit
            gates = lanes.circuit.gates_per_loan
            bits = len(lanes.circuit.template.shared)
        else:
            gates = gates_per_loan(lanes.balance_bits)
            bits = lanes.balance_bits  # range-proven bits a loan (the principal); the rest are gates
        out["gates_per_loan"] = gates
        out["cpu_us_per_gate"] = round(per_loan_us / gates, 1)
        out["cpu_us_per_range_proven_bit"] = round(per_loan_us / bits, 1)
        out["msm_terms_per_gate"] = round(per_loan_us / gates / term, 2)
        out["msm_terms_per_range_proven_bit"] = round(per_loan_us / bits / term, 2)
    out["msm_terms_per_loan"] = round(per_loan_us / term, 1)
    out["prover_costs_basis"] = (
        "seal CPU (main + workers, all steps) per loan divided by the CPU cost of one MSM term "
        "(2^16 full-width terms, one thread) measured in the same run after the seal"
    )
    return out


def result_name(n: int, settings: Any, defaults: Any) -> str:
    """``seal-<n>.json``, with a suffix naming every proof parameter that differs from the defaults."""
    suffix = ""
    if settings.lane_set != defaults.lane_set:
        suffix += f"-{settings.lane_set}"
    if settings.chunk_log2 != defaults.chunk_log2:
        suffix += f"-c{'auto' if settings.chunk_log2 is None else settings.chunk_log2}"
    if settings.ipa_rounds != defaults.ipa_rounds:
        suffix += f"-r{'full' if settings.ipa_rounds is None else settings.ipa_rounds}"
    return f"seal-{n}{suffix}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, required=True, help="loans in the synthetic pool")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep instance, bundle and key in this directory"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="seal worker processes (default: one per core)"
    )
    parser.add_argument(
        "--chunk-log2",
        type=parse_chunk,
        default=argparse.SUPPRESS,
        help="integer or 'auto' (default: SealSettings)",
    )
    parser.add_argument("--lane-set", default=None, help="default: SealSettings().lane_set")
    parser.add_argument(
        "--ipa-rounds",
        type=parse_rounds,
        default=argparse.SUPPRESS,
        help="integer or 'full' (default: SealSettings)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    from dataclasses import replace

    from gateway.snapshots.seal_jobs import SealSettings

    defaults = SealSettings()
    settings = replace(defaults, workers=args.workers)
    if hasattr(args, "chunk_log2"):
        settings = replace(settings, chunk_log2=args.chunk_log2)
    if args.lane_set is not None:
        settings = replace(settings, lane_set=args.lane_set)
    if hasattr(args, "ipa_rounds"):
        settings = replace(settings, ipa_rounds=args.ipa_rounds)
    if args.keep is not None:
        if args.keep.exists() and any(args.keep.iterdir()):
            parser.error(f"--keep {args.keep}: directory is not empty")
        args.keep.mkdir(parents=True, exist_ok=True)
        args.keep = args.keep.resolve()
    result = bench(args.n, settings, args.keep)
    result["defaults_source"] = "gateway.snapshots.seal_jobs.SealSettings() at run time"
    result["defaults"] = {
        "lane_set": defaults.lane_set,
        "chunk_log2": defaults.chunk_log2,
        "ipa_rounds": defaults.ipa_rounds,
    }
    write_result(args.results / result_name(args.n, settings, defaults), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
