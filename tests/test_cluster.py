"""Scale-out: sealing and auditing on a Dask cluster give the same snapshot as a local run.

The tests start a real scheduler and workers on 127.0.0.1 (subprocesses, tests/cluster_util.py)
and talk to them through ``proofs.executors.open_executor(scheduler=...)``, the same path as
``poolproof seal --scheduler``, ``poolproof-audit verify-snapshot --scheduler`` and the gateway's
sealing jobs: once in plaintext on loopback and once with mutual TLS, configured the documented way
(``DASK_DISTRIBUTED__COMM__TLS__*`` environment variables; docs/scale-out.md).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from proofs.executors import open_executor
from proofs.lanes import LANE_SETS
from proofs.sealing import seal_pool
from proofs.snapshot import SealParams, SnapshotContext, verify_snapshot
from tests.cluster_util import TlsFiles, dask_cluster, make_ca
from tests.snapshot_util import make_loans, seal_in_memory

pytest.importorskip("distributed")


def _seal(executor: Any, lane_set: str = SealParams().lane_set) -> tuple[Any, list[Any]]:
    results: list[Any] = []
    outcome = seal_pool(
        make_loans(40, seed=11),
        context=SnapshotContext("S-cluster", "POOL-C", "2026-10-31", lane_set),
        params=SealParams(lane_set=lane_set, chunk_log2=3),
        seed=b"cluster-test-seed-".ljust(32, b"0"),
        sink=results.append,
        executor=executor,
    )
    return outcome, results


@pytest.mark.parametrize("lane_set", ["dpd5-v3", "dpd5-v2"])
def test_dask_sealing_is_byte_identical_to_a_local_run(dask_scheduler: str, lane_set: str) -> None:
    local_outcome, local_chunks = _seal(None, lane_set)
    with open_executor(scheduler=dask_scheduler, secrets=True) as executor:
        assert executor is not None
        dask_outcome, dask_chunks = _seal(executor, lane_set)
    assert dask_outcome == local_outcome
    assert dask_chunks == local_chunks  # commitments, leaves and proof bytes


def test_work_is_queued_for_every_thread_of_the_cluster(dask_scheduler: str) -> None:
    """Three single-thread workers: three tasks at once, six queued (not the local core count)."""
    from proofs.executors import in_flight, parallelism

    with open_executor(scheduler=dask_scheduler) as executor:
        assert parallelism(executor) == 3
        assert in_flight(executor, None) == 6


def test_dask_audit_verifies_and_rejects_like_a_local_one(dask_scheduler: str) -> None:
    sealed = seal_in_memory(make_loans(30, seed=5), chunk_log2=3)
    with open_executor(scheduler=dask_scheduler) as executor:
        header = verify_snapshot(
            io.StringIO(sealed.bundle_text),
            sealed.key.public_key(),
            lane_sets=LANE_SETS,
            executor=executor,
            group_leaves=8,
        )
    assert header.leaf_count == 30


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, TlsFiles]]]:
    """A mutual-TLS cluster, its certificates, and a client certificate of an unrelated CA."""
    directory = tmp_path_factory.mktemp("tls")
    certs = make_ca(directory, "poolproof", ["node", "gateway"])
    certs["rogue"] = make_ca(directory, "rogue", ["gateway"])["gateway"]
    with dask_cluster(tls=certs["node"]) as address:
        yield address, certs


@pytest.fixture
def dask_tls_env(tls_cluster: tuple[str, dict[str, TlsFiles]]) -> Iterator[str]:
    """The gateway's client configured for TLS through environment variables, as an operator would."""
    import dask.config

    address, certs = tls_cluster
    with pytest.MonkeyPatch.context() as mp:
        for name, value in certs["gateway"].client_env().items():
            mp.setenv(name, value)
        dask.config.refresh()
        yield address
    dask.config.refresh()


def test_tls_cluster_seals_byte_identical_to_a_local_run(dask_tls_env: str) -> None:
    assert dask_tls_env.startswith("tls://")
    local_outcome, local_chunks = _seal(None)
    with open_executor(scheduler=dask_tls_env, secrets=True) as executor:
        assert executor is not None
        dask_outcome, dask_chunks = _seal(executor)
    assert dask_outcome == local_outcome
    assert dask_chunks == local_chunks


def test_tls_cluster_refuses_clients_without_a_certificate_of_its_ca(
    tls_cluster: tuple[str, dict[str, TlsFiles]],
) -> None:
    from distributed import Client
    from distributed.security import Security

    address, certs = tls_cluster
    rogue = certs["rogue"]
    # The rogue client trusts the cluster's CA but presents a certificate of its own CA.
    security = Security(
        tls_ca_file=str(certs["node"].ca_file),
        tls_client_cert=str(rogue.cert),
        tls_client_key=str(rogue.key),
        require_encryption=True,
    )
    # The scheduler's TLS handshake refuses it: TLS 1.3 reports this to the client either as the
    # alert itself or as the connection closed by the peer, depending on timing.
    with pytest.raises(OSError, match=r"(?i)unknown ca|EOF occurred in violation of protocol"):
        Client(address, security=security, timeout=5)
    # Nor does the cluster speak plaintext on its TLS port.
    with pytest.raises(OSError, match=r"(?i)closed|reset"):
        Client(address.replace("tls://", "tcp://"), security=Security(), timeout=5)
