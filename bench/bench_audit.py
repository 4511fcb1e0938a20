"""The AUDIT benchmark target: the real ``poolproof-audit verify-snapshot`` on a sealed pool.

Usage: ``python bench/bench_audit.py --dir DIR [--workers W]`` (DIR from ``bench/bench_seal.py --keep DIR``),
or ``python bench/bench_audit.py --bundle SNAPSHOT.json --key GATEWAY-PUBLIC.pem --loans N``.

Runs ``poolproof-audit verify-snapshot BUNDLE --key KEY --json`` (the console script installed beside
this Python; ``--workers`` is passed through only when given, so by default the CLI uses all cores) as a
subprocess and requires exit code 0 and ``"ok": true``. Measures:

* ``seconds``: wall time from start to exit of the CLI (Python start-up and imports included);
* ``cpu_seconds``: user + system time of the CLI and every worker process it started and waited for
  (``resource.RUSAGE_CHILDREN``, delta over the run);
* ``peak_rss_mib``: ``ru_maxrss`` of ``RUSAGE_CHILDREN`` after the CLI exited: the largest peak RSS of any
  ONE process of the tree (the CLI or one of its workers: Linux folds waited-for descendants into it), not
  their sum;
* ``peak_rss_mib_sum_sampled``: the sum over the tree's processes of each one's ``VmHWM``, sampled from
  ``/proc`` every 0.5 s (a process's growth after its last sample is missed; pages shared after ``fork``
  are counted once per process, so this tends to overstate the total).

Writes ``bench/results/audit-<loans>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, write_result  # bench/ is on sys.path when run as a script
from bench_seal import source_state  # bench/ is on sys.path when run as a script

MANIFEST = "bench-instance.json"


def audit_command() -> list[str]:
    """``poolproof-audit`` from this Python's environment (falls back to ``python -m proofs.audit_cli``)."""
    script = Path(sys.executable).with_name("poolproof-audit")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "proofs.audit_cli"]


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, for every process visible in ``/proc``."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name (field 2) may contain spaces: the parent pid follows the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class TreeSampler:
    """Samples ``VmHWM`` of a process and its descendants on a thread until :meth:`stop`."""

    def __init__(self, root: int, interval: float = 0.5) -> None:
        self.root = root
        self.interval = interval
        self.peaks_kib: dict[int, int] = {}
        self.max_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        tree = _children()
        todo, seen = [self.root], []
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo.extend(tree.get(pid, []))
        self.max_processes = max(self.max_processes, len(seen))
        for pid in seen:
            hwm = _vm_hwm_kib(pid)
            if hwm is not None:
                self.peaks_kib[pid] = max(self.peaks_kib.get(pid, 0), hwm)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_audit(bundle: Path, key: Path, workers: int | None, lane_set: str | None = None) -> dict[str, Any]:
    """Run the CLI once; returns the measured figures and the CLI's own JSON answer.

    ``lane_set``: the pool's lane set, named so that an older one than the default is accepted."""
    cmd = [*audit_command(), "verify-snapshot", str(bundle), "--key", str(key), "--json"]
    if lane_set is not None:
        cmd += ["--accept-lane-set", lane_set]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"poolproof-audit exited with {proc.returncode}:\n{stdout}{stderr}")
    answer = json.loads(stdout)
    if answer.get("ok") is not True or answer.get("verified") != "snapshot":
        raise SystemExit(f"poolproof-audit did not verify the snapshot: {stdout}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mib": round(after.ru_maxrss / 1024, 1),
        "peak_rss_mib_basis": (
            "ru_maxrss of RUSAGE_CHILDREN after the CLI exited: the largest peak RSS of any one process "
            "(the CLI or one of its worker processes), not the sum"
        ),
        "peak_rss_mib_sum_sampled": round(sum(sampler.peaks_kib.values()) / 1024, 1),
        "peak_rss_mib_per_process_sampled": sorted(
            (round(v / 1024, 1) for v in sampler.peaks_kib.values()), reverse=True
        ),
        "processes_max": sampler.max_processes,
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "exit_code": proc.returncode,
        "cli_command": shlex.join(["poolproof-audit", *cmd[len(audit_command()) :]]),
        "cli_answer": answer,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="a directory kept by bench_seal.py --keep")
    parser.add_argument("--bundle", type=Path, default=None, help="snapshot bundle (instead of --dir)")
    parser.add_argument("--key", type=Path, default=None, help="gateway public key (instead of --dir)")
    parser.add_argument("--loans", type=int, default=None, help="loans (instead of --dir; checked)")
    parser.add_argument("--workers", type=int, default=None, help="passed to the CLI (default: all cores)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    manifest: dict[str, Any] = {}
    if args.dir is not None:
        manifest = json.loads((args.dir / MANIFEST).read_text())
        bundle = args.bundle or args.dir / manifest["bundle"]
        key = args.key or args.dir / manifest["public_key"]
        loans = manifest["loans"]
    elif args.bundle and args.key and args.loans:
        bundle, key, loans = args.bundle, args.key, args.loans
    else:
        parser.error("give --dir, or --bundle, --key and --loans")
    measured = run_audit(bundle, key, args.workers, manifest.get("lane_set"))
    if measured["cli_answer"]["leaf_count"] != loans:
        raise SystemExit(f"the bundle has {measured['cli_answer']['leaf_count']} leaves, expected {loans}")
    result: dict[str, Any] = {
        "target": "audit",
        "loans": loans,
        "seconds": measured.pop("seconds"),
        "peak_rss_mib": measured.pop("peak_rss_mib"),
        "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "command": "python bench/"
        + Path(sys.argv[0]).name
        + "".join(" " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
        "cpus": os.cpu_count(),
        **source_state(),
        "workers": args.workers if args.workers is not None else "CLI default (all cores)",
        "cpu_ms_per_loan": round(1000 * measured["cpu_seconds"] / loans, 3),
        "snapshot_bundle_bytes": bundle.stat().st_size,
        "cli_seconds_reported": measured["cli_answer"]["seconds"],
        **{k: manifest[k] for k in ("lane_set", "chunk_log2", "ipa_rounds") if k in manifest},
        **measured,
    }
    write_result(args.results / f"audit-{loans}.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
