"""Benchmark: ingest a synthetic JSONL tape through the HTTP endpoint, end to end.

A real server (``poolproof serve``, waitress) runs in a subprocess on 127.0.0.1; the client streams a
signed JSONL tape of N synthetic loans with ``requests``. Timed: from the first byte sent to the 201
response (upload, parse, validate, derive, encrypt, insert, commit). Reported: rows per second, the
peak resident memory (VmHWM) of the server and its worker processes, the CPU time they spent (so the
figure can be read on a loaded machine), the CPU time everything else on the machine used meanwhile
(``other_cpu_seconds``: how shared the two cores were), tape size. Results go to
``bench/results/ingest-<n>.json``.

    python bench/bench_ingest.py                 # 10,000 and 100,000 loans
    python bench/bench_ingest.py --loans 1000000
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.access.admin import create_party
from gateway.importers.tape_v1 import write_jsonl
from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.keys.keyring import generate_master_key_file, load_master_key
from gateway.keys.tape_signatures import public_key_bytes, sign_tape
from gateway.storage.db import connect, migrate
from gateway.storage.records import create_pool
from gateway.synth import generate_tape

RESULTS = Path(__file__).with_name("results")
CUTOFF = date(2024, 6, 30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (clock ticks from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(p.name))
    return out


def _machine_cpu() -> float:
    """CPU seconds all processes on the machine have used (busy fields of /proc/stat, summed over cores)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    total = 0.0
    for p in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            total += _cpu_seconds(p)
    return total


def run(n: int, workdir: Path) -> dict[str, object]:
    db_path, key_path = workdir / f"bench-{n}.db", workdir / f"master-{n}.key"
    generate_master_key_file(key_path)
    db = connect(db_path)
    migrate(db)
    sk = Ed25519PrivateKey.generate()
    _, api_key = create_party(db, "plat", "platform", public_key=public_key_bytes(sk))
    create_pool(db, load_master_key(key_file=key_path), "B1", "plat", CN_CONSUMER)
    db.conn.close()

    tape = workdir / f"tape-{n}.jsonl"
    t0 = time.perf_counter()
    write_jsonl(generate_tape(n, seed=42, cutoff=CUTOFF, pool_id="B1"), tape)
    gen_s = time.perf_counter() - t0
    h = hashlib.sha256()
    with tape.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        # Write the generated tape out now, so the kernel's writeback of 1 GB of this script's own
        # setup does not compete with the timed ingest for the disk (a real client's tape is elsewhere).
        os.fsync(f.fileno())
    digest = h.hexdigest()
    sig = base64.b64encode(sign_tape(sk, "B1", CUTOFF.isoformat(), digest)).decode()

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "serve",
            "--db",
            str(db_path),
            "--master-key-file",
            str(key_path),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                requests.get(f"{url}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        idle_rss = _peak_rss_mib(server.pid)
        cpu0 = _tree_cpu(server.pid)
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/x-ndjson",
            "X-Tape-SHA256": digest,
            "X-Tape-Signature": sig,
        }
        load_before = os.getloadavg()[0]
        machine0, client0 = _machine_cpu(), time.process_time()
        t0 = time.perf_counter()
        with tape.open("rb") as f:
            r = requests.post(
                f"{url}/platform/pools/B1/cutoffs/{CUTOFF}/tapes", data=f, headers=headers, timeout=7200
            )
        seconds = time.perf_counter() - t0
        if r.status_code != 201:
            raise SystemExit(f"ingest failed: {r.status_code} {r.text[:2000]}")
        peak = _peak_rss_mib(server.pid)
        workers_peak = sum(_peak_rss_mib(c) for c in _children(server.pid))
        cpu = _tree_cpu(server.pid) - cpu0
        machine = _machine_cpu() - machine0
        client = time.process_time() - client0
    finally:
        server.terminate()
        server.wait(timeout=30)
    size = tape.stat().st_size
    tape.unlink()
    return {
        "target": "ingest",
        "loans": n,
        "seconds": round(seconds, 3),
        "rows_per_second": round(n / seconds),
        "peak_rss_mib": round(peak + workers_peak, 1),
        "server_peak_rss_mib": round(peak, 1),
        "workers_peak_rss_mib": round(workers_peak, 1),
        "cpu_seconds": round(cpu, 2),
        "cpu_us_per_row": round(cpu / n * 1e6, 1),
        "server_idle_rss_mib": round(idle_rss, 1),
        "tape_bytes": size,
        "generate_seconds": round(gen_s, 3),
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "command": f"python bench/bench_ingest.py --loans {n}",
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_1m": round(os.getloadavg()[0], 2),
        "load_average_1m_before": round(load_before, 2),
        # What else ran during the timed window: all CPU the machine spent minus the server, its workers
        # and this client (near 0 on an otherwise idle machine, up to 2 x seconds if others kept both cores
        # busy); kernel threads count here too, including the writeback of this run's own files.
        "other_cpu_seconds": round(machine - cpu - client, 2),
        "client_cpu_seconds": round(client, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--loans", type=int, action="append", help="tape size (repeatable); default 10000 and 100000"
    )
    args = ap.parse_args()
    sizes = args.loans or [10_000, 100_000]
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            res = run(n, Path(tmp))
            (RESULTS / f"ingest-{n}.json").write_text(json.dumps(res, indent=2) + "\n")
            print(json.dumps(res))
            print(
                f"| {n:,} | {res['seconds']} s | {res['rows_per_second']:,} rows/s | "
                f"{res['peak_rss_mib']} MiB | {res['tape_bytes'] / 2**20:.0f} MiB |"
            )


if __name__ == "__main__":
    main()
