"""The gateway's default statement: a tape schema v2 tape is sealed under the pool statement v2, a v1
tape under dpd5-v3 (still verifiable by name), unless ``POOLPROOF_SEAL_LANE_SET`` names a lane set."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.loan_facts import statement_lane_set
from gateway.snapshots.seal_jobs import SealSettings, run_seal_job, start_seal_job
from gateway.snapshots.sealed import get_snapshot, stream_snapshot_bundle
from proofs.snapshot import verify_snapshot
from tests.gateway.helpers import cn_row

from .seal_util import open_instance

CONFIG = {"SEAL_WORKERS": 0, "SEAL_CHUNK_LOG2": 4}


@pytest.fixture(autouse=True)
def no_lane_set_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POOLPROOF_SEAL_LANE_SET", raising=False)


def test_unset_means_by_the_tape_and_a_named_lane_set_means_that_one() -> None:
    assert SealSettings.from_config(CONFIG).by_tape_schema
    named = SealSettings.from_config({**CONFIG, "SEAL_LANE_SET": "dpd5-v3"})
    assert not named.by_tape_schema
    assert named.lane_set == "dpd5-v3"


def test_the_environment_names_the_lane_set_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLPROOF_SEAL_LANE_SET", "dpd5-v3")
    assert not SealSettings.from_config(CONFIG).by_tape_schema


def test_a_v2_tape_is_sealed_under_the_pools_statement_v2_by_default(tmp_path: Path) -> None:
    local = open_instance(tmp_path, 7, loans=24)
    try:
        job, created = start_seal_job(
            local["db"], local["master"], "P1", local["cutoff"], SealSettings.from_config(CONFIG)
        )
        assert created
        assert job.params.lane_set == statement_lane_set(CN_CONSUMER).name
        assert job.params.lane_set.startswith("pool-v4:")
    finally:
        local["db"].conn.close()


def test_a_v2_tape_keeps_a_named_dpd5_lane_set(tmp_path: Path) -> None:
    local = open_instance(tmp_path, 7, loans=24)
    try:
        settings = SealSettings.from_config({**CONFIG, "SEAL_LANE_SET": "dpd5-v3"})
        job, _ = start_seal_job(local["db"], local["master"], "P1", local["cutoff"], settings)
        assert job.params.lane_set == "dpd5-v3"
    finally:
        local["db"].conn.close()


def test_a_v1_tape_is_sealed_under_dpd5_v3_and_verifies_by_name(tmp_path: Path) -> None:
    local = open_instance(tmp_path, 5, rows=[cn_row(i) for i in range(1, 21)])  # cut-off 2024-06-30
    db, master = local["db"], local["master"]
    try:
        job, _ = start_seal_job(db, master, "P1", local["cutoff"], SealSettings.from_config(CONFIG))
        assert job.params.lane_set == "dpd5-v3"
        done = run_seal_job(local["inst"].db_path, master, local["gkey"], "v", job.id, workers=0)
        assert done.state == "sealed", done
        snap = get_snapshot(db, "P1", local["cutoff"])
        text = "".join(stream_snapshot_bundle(db, snap))
        header = verify_snapshot(io.StringIO(text), local["gkey"].public_key())
        assert header.lanes.name == "dpd5-v3"
        assert header.leaf_count == 20
    finally:
        db.conn.close()
