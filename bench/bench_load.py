"""Load test on loopback: many investors ask for claims while a platform submits tapes and a snapshot seals.

A real server (``poolproof serve``, waitress, 8 threads, SQLite in WAL mode) runs in a subprocess on
127.0.0.1 with its default rate limit. Setup: a platform, a pool of ``--loans`` synthetic loans with
cut-off 1 sealed, ``--investors`` investors holding the pool. Then, for ``--seconds``:

* every investor (one thread each) loops over: a threshold claim on snapshot 1 (the registered 90+ DPD
  trigger, so the aggregate guard's budget is not the limit), the signed header, the pool statistics;
* the platform submits a tape for cut-off 2 and starts sealing it, then keeps submitting tapes for
  later cut-offs (``--tapes`` in all), polling the seal job;

and after the window every thread must finish (a deadlock would hang; a global deadline turns it
into a failure), the seal job must reach ``sealed``, and every accepted submission must be listed by
the server with its row count (nothing lost). Reported per request kind: count, throughput, p50/p99
latency, errors (any status other than the expected one). Results: ``bench/results/load-<n>.json``.

    python bench/bench_load.py                              # 24 investors, 60 s, 256 loans
    python bench/bench_load.py --investors 8 --seconds 10   # quick
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.keys.tape_signatures import public_key_bytes, sign_tape
from gateway.snapshots.demo import add_party, init_instance
from gateway.synth import generate_tape, monthly_cutoff

POOL = "LOAD"
FIRST = date(2024, 1, 31)
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Recorder:
    """Latencies (seconds) and unexpected statuses per request kind; thread-safe."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, kind: str, expected: int, call: Any) -> requests.Response | None:
        t0 = time.perf_counter()
        try:
            resp = call()
        except requests.RequestException as exc:
            with self.lock:
                self.errors[kind].append(f"{type(exc).__name__}")
            return None
        dt = time.perf_counter() - t0
        with self.lock:
            self.latencies[kind].append(dt)
            if resp.status_code != expected:
                self.errors[kind].append(f"HTTP {resp.status_code}: {resp.text[:200]}")
        return resp


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _jsonl(rows: Any) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


class Platform:
    def __init__(self, url: str, api_key: str, sk: Ed25519PrivateKey) -> None:
        self.url, self.sk = url, sk
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def submit(self, cutoff: str, body: bytes) -> requests.Response:
        digest = hashlib.sha256(body).hexdigest()
        headers = {
            "Content-Type": "application/x-ndjson",
            "X-Tape-SHA256": digest,
            "X-Tape-Signature": base64.b64encode(sign_tape(self.sk, POOL, cutoff, digest)).decode(),
        }
        return self.session.post(
            f"{self.url}/platform/pools/{POOL}/cutoffs/{cutoff}/tapes",
            data=body,
            headers=headers,
            timeout=300,
        )

    def seal(self, cutoff: str) -> requests.Response:
        return self.session.post(f"{self.url}/platform/pools/{POOL}/cutoffs/{cutoff}/seal", timeout=60)

    def job(self, job_id: str) -> requests.Response:
        return self.session.get(f"{self.url}/platform/pools/{POOL}/jobs/{job_id}", timeout=60)


def _start_server(root: Path, db: Path, key: Path, port: int, seal_workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "POOLPROOF_SEAL_WORKERS": str(seal_workers),
        "POOLPROOF_SEAL_CHUNK_LOG2": "5",
    }
    env.pop("POOLPROOF_RATE_LIMIT_PER_SECOND", None)  # the default limit, as deployed
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "serve",
            "--db",
            str(db),
            "--master-key-file",
            str(key),
            "--port",
            str(port),
            "--threads",
            "8",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            requests.get(f"{url}/healthz", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_sealed(plat: Platform, job_id: str, deadline: float, rec: Recorder | None = None) -> dict[str, Any]:
    while True:
        resp = rec.timed("seal_poll", 200, lambda: plat.job(job_id)) if rec else plat.job(job_id)
        job = resp.json() if resp is not None and resp.status_code == 200 else {"state": "running"}
        if job["state"] != "running" or time.monotonic() > deadline:
            return dict(job)
        time.sleep(0.25)


def _claim_body(value_bits: int) -> dict[str, Any]:
    return {
        "statement": {
            "type": "ratio",
            "metric_num": "delinquent_90plus_or_defaulted_balance",
            "metric_den": "outstanding_balance",
            "op": "<=",
            "p": 3,
            "q": 100,
            "value_bits": value_bits,
        },
        "nonce": secrets.token_hex(32),
    }


def run_load(
    root: Path, *, investors: int, seconds: float, loans: int, tapes: int, seal_workers: int = 1
) -> dict[str, Any]:
    """Run the scenario in ``root``; returns the figures (``ok`` False if anything was lost or failed)."""
    inst = init_instance(root / "instance")
    port = _free_port()
    server = _start_server(root, inst.db_path, inst.master_key_file, port, seal_workers)
    url = f"http://127.0.0.1:{port}"
    try:
        return _scenario(
            url, inst.admin_key, server.pid, investors=investors, seconds=seconds, loans=loans, tapes=tapes
        )
    finally:
        server.kill()
        server.wait()


def _vm_hwm_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _scenario(
    url: str, admin_key: str, server_pid: int, *, investors: int, seconds: float, loans: int, tapes: int
) -> dict[str, Any]:
    from gateway.snapshots.demo import value_bits_for
    from proofs.signing import parse_public_key

    sk = Ed25519PrivateKey.generate()
    plat = Platform(
        url, add_party(url, admin_key, "load-platform", "platform", public_key=public_key_bytes(sk).hex()), sk
    )
    r = plat.session.post(
        f"{url}/platform/pools", json={"pool_id": POOL, "settings": {"preset": "CN_CONSUMER"}}, timeout=60
    )
    assert r.status_code == 201, r.text
    cutoffs = [monthly_cutoff(FIRST, m).isoformat() for m in range(tapes + 1)]
    bodies = [
        _jsonl(generate_tape(loans, seed=7, cutoff=FIRST, pool_id=POOL, month=m)) for m in range(tapes + 1)
    ]
    assert plat.submit(cutoffs[0], bodies[0]).status_code == 201
    t_seal0 = time.monotonic()
    job0 = plat.seal(cutoffs[0]).json()
    job0 = _wait_sealed(plat, job0["job_id"], time.monotonic() + 1800)
    seal0_s = time.monotonic() - t_seal0
    assert job0["state"] == "sealed", job0
    keys = [add_party(url, admin_key, f"investor-{i}", "investor", pools=[POOL]) for i in range(investors)]
    gateway_key = parse_public_key(
        requests.get(f"{url}/public/gateway-key", timeout=30).json()["public_key_hex"]
    )
    header = requests.get(
        f"{url}/investor/pools/{POOL}/snapshots/{cutoffs[0]}/header",
        headers={"Authorization": f"Bearer {keys[0]}"},
        timeout=30,
    ).json()
    bits = value_bits_for(
        header, gateway_key, "delinquent_90plus_or_defaulted_balance", "outstanding_balance"
    )

    rec = Recorder()
    stop = threading.Event()
    accepted: list[tuple[str, int]] = []
    seal_job: dict[str, Any] = {}

    def investor(key: str) -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {key}"
        base = f"{url}/investor/pools/{POOL}"
        while not stop.is_set():
            rec.timed(
                "claim",
                200,
                lambda: s.post(f"{base}/snapshots/{cutoffs[0]}/claims", json=_claim_body(bits), timeout=120),
            )
            rec.timed("header", 200, lambda: s.get(f"{base}/snapshots/{cutoffs[0]}/header", timeout=120))
            rec.timed("stats", 200, lambda: s.get(f"{base}/cutoffs/{cutoffs[0]}/stats", timeout=120))

    def platform_work() -> None:
        for i in range(1, tapes + 1):
            resp = rec.timed("submit", 201, lambda i=i: plat.submit(cutoffs[i], bodies[i]))
            if resp is not None and resp.status_code == 201:
                accepted.append((cutoffs[i], int(resp.json()["rows"])))
            if i == 1:
                resp = rec.timed("seal_start", 202, lambda: plat.seal(cutoffs[1]))
                if resp is not None and resp.status_code == 202:
                    seal_job.update(resp.json())
            if stop.wait(max(0.5, seconds / (tapes + 1))):
                break
        if seal_job:
            seal_job.update(_wait_sealed(plat, seal_job["job_id"], time.monotonic() + 1800, rec))

    threads = [threading.Thread(target=investor, args=(k,), daemon=True) for k in keys]
    threads.append(threading.Thread(target=platform_work, daemon=True))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    deadline = time.monotonic() + 1800
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    wall = time.monotonic() - t0
    hung = sum(t.is_alive() for t in threads)

    listed = plat.session.get(f"{url}/platform/pools/{POOL}/tapes", timeout=60).json()
    stored = {(t["cutoff_date"], t["rows"]) for t in listed if t["status"] == "current"}
    lost = [a for a in accepted if a not in stored]

    kinds: dict[str, Any] = {}
    total = errors = 0
    for kind, lat in sorted(rec.latencies.items()):
        n_err = len(rec.errors.get(kind, []))
        total += len(lat)
        errors += n_err
        kinds[kind] = {
            "requests": len(lat),
            "per_second": round(len(lat) / wall, 2),
            "p50_ms": round(1000 * _pct(lat, 0.50), 1),
            "p99_ms": round(1000 * _pct(lat, 0.99), 1),
            "mean_ms": round(1000 * statistics.fmean(lat), 1) if lat else 0.0,
            "errors": n_err,
            "error_samples": sorted(set(rec.errors.get(kind, [])))[:3],
        }
    for kind, errs in rec.errors.items():  # transport errors on kinds with no completed request
        if kind not in kinds:
            errors += len(errs)
            kinds[kind] = {"requests": 0, "errors": len(errs), "error_samples": sorted(set(errs))[:3]}
    return {
        "investors": investors,
        "window_seconds": seconds,
        "wall_seconds": round(wall, 2),
        "pool_loans": loans,
        "seal0_seconds": round(seal0_s, 2),
        "requests": total,
        "requests_per_second": round(total / wall, 2),
        "errors": errors,
        "error_rate": round(errors / max(1, total), 5),
        "submissions_accepted": len(accepted),
        "submissions_lost": len(lost),
        "seal_state": seal_job.get("state", "not started"),
        "threads_hung": hung,
        "server_peak_rss_mib": _vm_hwm_mib(server_pid),
        "by_kind": kinds,
        "ok": errors == 0 and not lost and hung == 0 and seal_job.get("state") == "sealed",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--investors", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--loans", type=int, default=256)
    ap.add_argument("--tapes", type=int, default=4)
    ap.add_argument("--seal-workers", type=int, default=1)
    args = ap.parse_args()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="poolproof-load-") as tmp:
        out = run_load(
            Path(tmp),
            investors=args.investors,
            seconds=args.seconds,
            loans=args.loans,
            tapes=args.tapes,
            seal_workers=args.seal_workers,
        )
    doc = {
        "target": "load",
        "n": args.investors,
        "loans": args.loans,
        "seconds": round(time.monotonic() - t0, 2),
        "peak_rss_mib": out["server_peak_rss_mib"],
        "date": datetime.now(UTC).date().isoformat(),
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        **out,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"load-{args.investors}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    print(f"written to {path}")
    if not out["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
