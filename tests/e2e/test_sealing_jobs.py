"""Seal jobs: crash and resume give the identical snapshot; a negative lane never yields a snapshot;
the streamed bundle is byte-identical to proofs' writer; nothing half-sealed is ever visible."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.snapshots.demo import expect, load_gateway_public
from gateway.snapshots.seal_jobs import SealSettings, get_job, run_seal_job, start_seal_job
from gateway.snapshots.sealed import (
    chunk_documents,
    decode_leaves,
    decode_proofs,
    encode_leaves,
    encode_proofs,
    get_snapshot,
    lane_totals,
    loan_input,
    stream_snapshot_bundle,
)
from gateway.storage.records import (
    NotFound,
    get_tape,
    iter_loans,
    pool_keys,
    snapshot_status,
)
from gateway.synth import generate_tape, monthly_cutoff
from proofs.errors import ProvingError
from proofs.sealing import seal_pool
from proofs.snapshot import (
    ChunkResult,
    SnapshotContext,
    chunk_document,
    verify_header,
    verify_snapshot,
    write_snapshot_bundle,
)

from .conftest import Gateway
from .seal_util import open_instance

FIRST = date(2024, 1, 31)


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an ``Exception``, so the job is not marked failed."""


@pytest.fixture
def local(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An instance with one 40-loan pool and its tape, used directly (no server)."""
    opened = open_instance(tmp_path, 12)
    yield opened
    opened["db"].conn.close()


SETTINGS = SealSettings(chunk_log2=3, workers=0)  # 40 loans = 5 chunks


def test_a_crashed_job_resumes_to_the_identical_snapshot(local: dict[str, Any]) -> None:
    db, master, cutoff, inst = local["db"], local["master"], local["cutoff"], local["inst"]
    seed = bytes(range(32))
    job, created = start_seal_job(db, master, "P1", cutoff, SETTINGS, seed=seed)
    assert created

    def crash_after_chunk_1(index: int) -> None:
        if index == 1:
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        run_seal_job(
            inst.db_path, master, local["gkey"], "v", job.id, workers=0, after_chunk=crash_after_chunk_1
        )
    crashed = get_job(db, job.id)
    assert crashed.state == "running"
    assert crashed.leaves_done == 16  # chunks 0 and 1 stored
    with pytest.raises(NotFound):  # nothing visible
        get_snapshot(db, "P1", cutoff)
    assert snapshot_status(db, "P1", cutoff)[0] == "open"

    resumed_chunks: list[int] = []
    done = run_seal_job(
        inst.db_path, master, local["gkey"], "v", job.id, workers=0, after_chunk=resumed_chunks.append
    )
    assert done.state == "sealed"
    assert resumed_chunks == [2, 3, 4]  # the stored chunks were not recomputed
    assert snapshot_status(db, "P1", cutoff)[0] == "sealed"

    _assert_same_as_an_uninterrupted_run(local, job, seed)


def _assert_same_as_an_uninterrupted_run(local: dict[str, Any], job: Any, seed: bytes) -> None:
    """The job's stored snapshot equals an uninterrupted seal of the same loans, seed and snapshot id."""
    db, master, cutoff, inst = local["db"], local["master"], local["cutoff"], local["inst"]
    snap = get_snapshot(db, "P1", cutoff)
    keys = pool_keys(db, master, "P1")
    tape = get_tape(db, job.tape_id)
    loans = [loan_input(s.record, (0, 30, 60, 90)) for s in iter_loans(db, keys, tape)]
    ctx = SnapshotContext(job.snapshot_id, "P1", cutoff, SETTINGS.lane_set)
    results: list[ChunkResult] = []
    outcome = seal_pool(
        loans, context=ctx, params=SETTINGS.params(len(loans)), seed=seed, sink=results.append
    )
    assert snap.header["merkle_root"] == outcome.merkle_root.hex()
    assert list(snap.header["aggregates"].values()) == [a.hex() for a in outcome.aggregates]
    assert lane_totals(keys, snap) == (outcome.lane_value_sums, outcome.lane_blinding_sums)

    # The same chunks, proofs included, as the uninterrupted run (prover nonces derive from the seed).
    stored = list(chunk_documents(db, job.id, len(snap.lanes.inputs)))
    assert stored == [chunk_document(r) for r in results]
    # The streamed bundle is byte-identical to what proofs' writer makes of the stored chunks.
    streamed = "".join(stream_snapshot_bundle(db, snap))
    expected = io.StringIO()
    write_snapshot_bundle(expected, snap.header, stored)
    assert streamed == expected.getvalue()
    # And the stored encoding of a chunk gives back exactly proofs' chunk document.
    for r in results:
        doc = {
            "index": r.chunk_index,
            "leaves": [[e, c.hex()] for e, c in decode_leaves(encode_leaves(r), len(snap.lanes.inputs))],
            "proofs": [p.hex() for p in decode_proofs(encode_proofs(r))],
        }
        assert doc == chunk_document(r)
    verify_snapshot(io.StringIO(streamed), load_gateway_public(inst.gateway_key_file))


def test_a_job_crashed_locally_resumes_on_a_dask_cluster_to_the_identical_snapshot(
    local: dict[str, Any], dask_scheduler: str
) -> None:
    """``poolproof seal --resume --scheduler``: the remaining chunks run on the cluster's workers."""
    from click.testing import CliRunner
    from distributed import Client

    from gateway.cli import cli

    db, master, cutoff, inst = local["db"], local["master"], local["cutoff"], local["inst"]
    seed = bytes(range(100, 132))
    job, _ = start_seal_job(db, master, "P1", cutoff, SETTINGS, seed=seed)
    with pytest.raises(SimulatedCrash):
        run_seal_job(inst.db_path, master, local["gkey"], "v", job.id, workers=0, after_chunk=_crash_at(1))
    assert get_job(db, job.id).leaves_done == 16

    args = ["--db", str(inst.db_path), "--master-key-file", str(inst.master_key_file)]
    with Client(dask_scheduler) as observer:
        t0 = time.time()
        observer.get_task_stream(start=t0)  # starts recording the cluster's task stream
        resumed = CliRunner().invoke(cli, ["seal", "--resume", "--scheduler", dask_scheduler, *args])
        ran = [t["key"] for t in observer.get_task_stream(start=t0)]
    assert resumed.exit_code == 0, resumed.output
    assert f"snapshot {job.snapshot_id}" in resumed.output
    assert len([k for k in ran if "seal_chunk" in str(k)]) == 3  # chunks 2, 3, 4 ran on the workers
    _assert_same_as_an_uninterrupted_run(local, job, seed)


def test_a_job_whose_cluster_goes_away_stays_running_and_resumes_locally(local: dict[str, Any]) -> None:
    """The cluster is shut down mid-job: stored chunks are kept, and a local resume finishes the job."""
    pytest.importorskip("distributed")
    from distributed import Client

    from tests.cluster_util import dask_cluster

    db, master, inst = local["db"], local["master"], local["inst"]
    seed = bytes(range(50, 82))
    job, _ = start_seal_job(db, master, "P1", local["cutoff"], SETTINGS, seed=seed)
    with dask_cluster(workers=1) as address:

        def shut_down(index: int) -> None:
            if index == 1:
                with Client(address) as admin:
                    admin.shutdown()

        with pytest.raises((CancelledError, OSError)):
            run_seal_job(
                inst.db_path, master, local["gkey"], "v", job.id, scheduler=address, after_chunk=shut_down
            )
    interrupted = get_job(db, job.id)
    assert interrupted.state == "running"
    assert interrupted.leaves_done >= 16  # chunks 0 and 1 (at least) are stored and kept
    assert run_seal_job(inst.db_path, master, local["gkey"], "v", job.id, workers=0).state == "sealed"
    _assert_same_as_an_uninterrupted_run(local, job, seed)


def test_sealing_secrets_never_go_to_a_plaintext_scheduler_elsewhere(
    local: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from gateway import create_app
    from gateway.cli import cli
    from gateway.snapshots.seal_jobs import running_jobs
    from proofs.executors import PLAINTEXT_ENV, InsecureSchedulerError

    monkeypatch.delenv(PLAINTEXT_ENV, raising=False)
    inst, cutoff = local["inst"], local["cutoff"]
    args = ["--db", str(inst.db_path), "--master-key-file", str(inst.master_key_file)]
    remote = "tcp://192.0.2.7:8786"
    seal = ["seal", "--pool", "P1", "--cutoff", cutoff, "--scheduler", remote]
    result = CliRunner().invoke(cli, [*seal, *args])
    assert result.exit_code == 2  # UNUSABLE (proofs/exit_codes.py)
    assert "refusing to send sealing secrets to tcp://192.0.2.7" in result.output
    assert running_jobs(local["db"]) == []  # refused before a job was started
    with pytest.raises(InsecureSchedulerError):
        SealSettings.from_config({"SEAL_SCHEDULER": remote})
    monkeypatch.setenv("POOLPROOF_SCHEDULER", remote)
    with pytest.raises(InsecureSchedulerError):
        SealSettings.from_config({})
    with pytest.raises(InsecureSchedulerError):  # a server refuses to start with it
        create_app({"DATABASE": str(inst.db_path)})
    monkeypatch.setenv(PLAINTEXT_ENV, "1")
    assert SealSettings.from_config({}).scheduler == remote


def _crash_at(chunk: int) -> Any:
    def after_chunk(index: int) -> None:
        if index == chunk:
            raise SimulatedCrash

    return after_chunk


def test_a_job_for_a_running_cutoff_is_the_same_job(local: dict[str, Any]) -> None:
    db, master, cutoff = local["db"], local["master"], local["cutoff"]
    first, created = start_seal_job(db, master, "P1", cutoff, SETTINGS)
    again, created_again = start_seal_job(db, master, "P1", cutoff, SETTINGS)
    assert created
    assert not created_again
    assert again.id == first.id


def test_the_blinding_seed_is_stored_sealed(local: dict[str, Any]) -> None:
    db, master, cutoff = local["db"], local["master"], local["cutoff"]
    seed = b"\x42" * 32
    job, _ = start_seal_job(db, master, "P1", cutoff, SETTINGS, seed=seed)
    stored = db.conn.execute("SELECT sealed_seed FROM seal_jobs WHERE id = ?", (job.id,)).fetchone()[0]
    assert seed not in stored
    assert len(stored) == 12 + 32 + 16  # nonce, ciphertext, tag


def test_smuggled_negative_lane_value_fails_the_job_and_seals_nothing(
    local: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform (or a corrupted gateway) forces r - 5 ("-5") into a lane: the prover refuses."""
    from proofs import lanes as lanes_module
    from proofs.group import ORDER

    db, master, cutoff, inst = local["db"], local["master"], local["cutoff"], local["inst"]
    real = lanes_module.LaneSet.lane_values

    def evil(self: Any, principal: int, bucket: int) -> tuple[int, ...]:
        values = list(real(self, principal, bucket))
        values[1] = ORDER - 5
        return tuple(values)

    monkeypatch.setattr(lanes_module.LaneSet, "lane_values", evil)
    job, _ = start_seal_job(db, master, "P1", cutoff, SETTINGS)
    done = run_seal_job(inst.db_path, master, local["gkey"], "v", job.id, workers=0)
    assert done.state == "failed"
    assert done.error is not None
    assert ProvingError.__name__ in done.error
    with pytest.raises(NotFound):
        get_snapshot(db, "P1", cutoff)
    assert snapshot_status(db, "P1", cutoff)[0] == "open"
    assert db.conn.execute("SELECT COUNT(*) FROM seal_chunks WHERE job_id = ?", (job.id,)).fetchone()[0] == 0


def test_negative_lane_hook_over_http_yields_no_snapshot(gw: Gateway) -> None:
    """Test-only hook (honoured under TESTING only): a loan's principal is negated before sealing."""
    pool, cutoff = "NEG1", monthly_cutoff(FIRST, 3).isoformat()
    gw.create_pool(pool, "CN_CONSUMER")
    gw.submit(pool, cutoff, list(generate_tape(6, seed=3, cutoff=FIRST, pool_id=pool, month=3)))
    loans = expect(gw.clients["platform"].get(f"/pools/{pool}/cutoffs/{cutoff}/loans"), 200, "loans")["loans"]
    gw.server.app.config["SEAL_TEST_NEGATIVE_LANE_LOANS"] = [loans[2]["exposure_id"]]
    gw.server.app.config["SEAL_LANE_SET"] = "dpd5-v3"  # the hook negates a dpd5 lane value
    try:
        job = expect(gw.clients["platform"].post(f"/pools/{pool}/cutoffs/{cutoff}/seal"), 202, "seal")
        while job["state"] == "running":
            time.sleep(0.1)
            job = expect(gw.clients["platform"].get(f"/pools/{pool}/jobs/{job['job_id']}"), 200, "poll")
    finally:
        gw.server.app.config["SEAL_TEST_NEGATIVE_LANE_LOANS"] = []
        gw.server.app.config.pop("SEAL_LANE_SET", None)
    assert job["state"] == "failed"
    assert "principal" in job["error"]
    assert gw.clients["platform"].get(f"/pools/{pool}/snapshots/{cutoff}/header").status_code == 404
    assert gw.clients["platform"].get(f"/pools/{pool}/snapshots").json() == []
    # Without the hook the same cut-off seals, and the snapshot verifies.
    gw.seal(pool, cutoff)
    header = expect(gw.clients["platform"].get(f"/pools/{pool}/snapshots/{cutoff}/header"), 200, "header")
    verify_header(header, gw.key)


def test_seal_progress_is_visible_while_running(gw: Gateway) -> None:
    pool, cutoff = "PROG1", monthly_cutoff(FIRST, 2).isoformat()
    gw.create_pool(pool, "CN_CONSUMER")
    gw.submit(pool, cutoff, list(generate_tape(48, seed=9, cutoff=FIRST, pool_id=pool, month=2)))
    job = expect(gw.clients["platform"].post(f"/pools/{pool}/cutoffs/{cutoff}/seal"), 202, "seal")
    seen = [job]
    while job["state"] == "running":
        time.sleep(0.1)
        job = expect(gw.clients["platform"].get(f"/pools/{pool}/jobs/{job['job_id']}"), 200, "poll")
        seen.append(job)
    assert job["state"] == "sealed"
    assert job["percent"] == 100.0
    done = [j["leaves_done"] for j in seen]
    assert done == sorted(done)  # progress never goes backwards
    assert all(j["leaf_total"] == 48 for j in seen)
    # Another platform cannot see the job.
    other = gw.add("platform2", "e2e-platform-2", "platform", "/platform", public_key="02" * 32)
    assert other.get(f"/pools/{pool}/jobs/{job['job_id']}").status_code == 404


def test_server_start_resumes_a_crashed_job(local: dict[str, Any]) -> None:
    from gateway import create_app
    from gateway.jobs import job_runner, resume_running_jobs

    db, master, cutoff, inst = local["db"], local["master"], local["cutoff"], local["inst"]
    job, _ = start_seal_job(db, master, "P1", cutoff, SETTINGS)

    def crash(index: int) -> None:
        raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        run_seal_job(inst.db_path, master, local["gkey"], "v", job.id, workers=0, after_chunk=crash)
    app = create_app(inst.config(SEAL_WORKERS=0))
    assert resume_running_jobs(app) == [job.id]
    job_runner(app).join(timeout=300)
    assert get_job(db, job.id).state == "sealed"
    snap = get_snapshot(db, "P1", cutoff)
    assert snap.header["leaf_count"] == 40
    assert snap.header["policy_version"] == app.extensions["poolproof_policy"].version


def test_cli_seal_and_resume(local: dict[str, Any]) -> None:
    from click.testing import CliRunner

    from gateway.cli import cli

    db, master, cutoff, inst = local["db"], local["master"], local["cutoff"], local["inst"]
    args = ["--db", str(inst.db_path), "--master-key-file", str(inst.master_key_file)]
    runner = CliRunner()
    nothing = runner.invoke(cli, ["seal", "--resume", *args])
    assert nothing.exit_code == 0, nothing.output
    assert "no seal job" in nothing.output
    job, _ = start_seal_job(db, master, "P1", cutoff, SETTINGS)
    with pytest.raises(SimulatedCrash):
        run_seal_job(
            inst.db_path, master, local["gkey"], "v", job.id, workers=0, after_chunk=lambda i: _raise()
        )
    resumed = runner.invoke(cli, ["seal", "--resume", "--workers", "0", *args])
    assert resumed.exit_code == 0, resumed.output
    assert f"snapshot {job.snapshot_id}" in resumed.output
    again = runner.invoke(cli, ["seal", "--pool", "P1", "--cutoff", cutoff, *args])
    assert again.exit_code == 2  # UNUSABLE (proofs/exit_codes.py)
    assert "already sealed" in again.output


def _raise() -> None:
    raise SimulatedCrash


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(inst: Any, port: int) -> Any:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "POOLPROOF_DATABASE": str(inst.db_path),
        "POOLPROOF_MASTER_KEY_FILE": str(inst.master_key_file),
        "POOLPROOF_SEAL_WORKERS": "0",
        "POOLPROOF_SEAL_CHUNK_LOG2": "3",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_up(url: str) -> None:
    import requests

    for _ in range(200):
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not start")


def test_killing_the_server_mid_seal_then_restarting_resumes_the_job(local: dict[str, Any]) -> None:
    import requests

    from gateway.storage.records import issue_api_key

    db, cutoff, inst = local["db"], local["cutoff"], local["inst"]
    headers = {"Authorization": f"Bearer {issue_api_key(db, 'plat')}"}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(inst, port)
    try:
        _wait_up(url)
        job = requests.post(
            f"{url}/platform/pools/P1/cutoffs/{cutoff}/seal", headers=headers, timeout=30
        ).json()
        while get_job(db, job["job_id"]).leaves_done < 8:
            time.sleep(0.05)
    finally:
        server.kill()  # SIGKILL: no clean-up of any kind
        server.wait()
    crashed = get_job(db, job["job_id"])
    assert crashed.state == "running"
    assert 8 <= crashed.leaves_done < 40
    with pytest.raises(NotFound):
        get_snapshot(db, "P1", cutoff)
    server = _serve(inst, port)
    try:
        _wait_up(url)
        for _ in range(1200):
            if get_job(db, job["job_id"]).state != "running":
                break
            time.sleep(0.1)
        header = requests.get(
            f"{url}/platform/pools/P1/snapshots/{cutoff}/header", headers=headers, timeout=30
        )
    finally:
        server.kill()
        server.wait()
    assert get_job(db, job["job_id"]).state == "sealed"
    assert header.status_code == 200
    assert verify_header(header.json(), load_gateway_public(inst.gateway_key_file)).leaf_count == 40
