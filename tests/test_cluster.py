"""Scale-out: sealing and auditing on a Dask cluster give the same snapshot as a local run.

The test starts a real scheduler and two workers on 127.0.0.1 (subprocesses) and talks to them
through ``proofs.executors.open_executor(scheduler=...)``, the same path as
``poolproof-audit verify-snapshot --scheduler`` and the gateway's sealing jobs.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from proofs.executors import open_executor
from proofs.sealing import seal_pool
from proofs.snapshot import SealParams, SnapshotContext, verify_snapshot
from tests.snapshot_util import make_loans, seal_in_memory

pytest.importorskip("distributed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "POOLPROOF_MSM_THREADS": "1", "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        with Client(address) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def _seal(executor: Any) -> tuple[Any, list[Any]]:
    results: list[Any] = []
    outcome = seal_pool(
        make_loans(40, seed=11),
        context=SnapshotContext("S-cluster", "POOL-C", "2026-10-31", "dpd5-v2"),
        params=SealParams(chunk_log2=3),
        seed=b"cluster-test-seed-".ljust(32, b"0"),
        sink=results.append,
        executor=executor,
    )
    return outcome, results


def test_dask_sealing_is_byte_identical_to_a_local_run(scheduler: str) -> None:
    local_outcome, local_chunks = _seal(None)
    with open_executor(scheduler=scheduler) as executor:
        assert executor is not None
        dask_outcome, dask_chunks = _seal(executor)
    assert dask_outcome == local_outcome
    assert dask_chunks == local_chunks  # commitments, leaves and proof bytes


def test_dask_audit_verifies_and_rejects_like_a_local_one(scheduler: str) -> None:
    sealed = seal_in_memory(make_loans(30, seed=5), chunk_log2=3)
    with open_executor(scheduler=scheduler) as executor:
        header = verify_snapshot(
            io.StringIO(sealed.bundle_text), sealed.key.public_key(), executor=executor, group_leaves=8
        )
    assert header.leaf_count == 30
