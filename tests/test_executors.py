"""Where chunk work runs: sealing secrets never go to a plaintext scheduler off this machine."""

from __future__ import annotations

import sys
import types

import pytest

from proofs.executors import (
    PLAINTEXT_ENV,
    InsecureSchedulerError,
    check_scheduler_address,
    is_loopback,
    open_executor,
)

SAFE_FOR_SECRETS = [
    "tls://10.0.0.5:8786",
    "TLS://sched.example.internal:8786",
    "wss://sched.example.internal:443",
    "inproc://10.0.0.5/123/1",
    "tcp://127.0.0.1:8786",
    "tcp://127.8.9.10:8786",
    "tcp://localhost:8786",
    "tcp://[::1]:8786",
    "127.0.0.1:8786",  # no scheme means tcp
    "localhost",
]
PLAINTEXT_REMOTE = [
    "tcp://10.0.0.5:8786",
    "tcp://sched.example.internal:8786",
    "tcp://[2001:db8::1]:8786",
    "10.0.0.5:8786",
    "ucx://10.0.0.5:13337",
    "ws://10.0.0.5:8786",
    "tcp://0.0.0.0:8786",
    "tcp://localhost.example.com:8786",
]


@pytest.mark.parametrize("address", SAFE_FOR_SECRETS)
def test_encrypted_or_loopback_schedulers_may_receive_secrets(address: str) -> None:
    check_scheduler_address(address, secrets=True)


@pytest.mark.parametrize("address", PLAINTEXT_REMOTE)
def test_plaintext_schedulers_off_this_machine_are_refused_secrets(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PLAINTEXT_ENV, raising=False)
    with pytest.raises(InsecureSchedulerError, match="tls://") as info:
        check_scheduler_address(address, secrets=True)
    assert PLAINTEXT_ENV in str(info.value)
    check_scheduler_address(address, secrets=False)  # public data (auditing) may go anywhere
    monkeypatch.setenv(PLAINTEXT_ENV, "1")  # the operator vouches for the network
    check_scheduler_address(address, secrets=True)
    monkeypatch.setenv(PLAINTEXT_ENV, "yes")  # only "1" counts
    with pytest.raises(InsecureSchedulerError):
        check_scheduler_address(address, secrets=True)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("LOCALHOST")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("localhost.evil.example")
    assert not is_loopback("")


def test_open_executor_refuses_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check runs before any client exists: no byte goes to the insecure address."""
    connected: list[str] = []
    fake = types.ModuleType("distributed")
    fake.Client = lambda address: connected.append(address)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "distributed", fake)
    monkeypatch.delenv(PLAINTEXT_ENV, raising=False)
    with pytest.raises(InsecureSchedulerError), open_executor(scheduler="tcp://192.0.2.7:8786", secrets=True):
        pass
    assert connected == []


def test_the_environment_variable_names_the_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLPROOF_SCHEDULER", "tcp://192.0.2.7:8786")
    monkeypatch.delenv(PLAINTEXT_ENV, raising=False)
    with pytest.raises(InsecureSchedulerError, match=r"192\.0\.2\.7"), open_executor(secrets=True):
        pass


def test_parallelism_of_local_executors() -> None:
    from concurrent.futures import ProcessPoolExecutor

    from proofs.executors import in_flight, parallelism

    assert parallelism(None) == 1
    assert in_flight(None, None) == 4
    with ProcessPoolExecutor(max_workers=3) as pool:
        assert parallelism(pool) == 3
        assert in_flight(pool, None) == 6
        assert in_flight(pool, 1) == 1


def test_a_wait_on_a_dask_cluster_that_went_away_ends_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

    from proofs import executors

    class GoneClient:
        status = "connecting"  # reconnecting to a scheduler that is not there

    monkeypatch.setattr(executors, "LOST_CLUSTER_SECONDS", 0.0)
    monkeypatch.setattr(executors, "_POLL_SECONDS", 0.01)
    with ThreadPoolExecutor(1) as pool:
        executors._clients[pool] = GoneClient()
        never: Future[int] = Future()
        with pytest.raises(CancelledError, match="scheduler is gone"):
            executors.result_of(pool, never)
        done: Future[int] = Future()
        done.set_result(7)
        assert executors.result_of(pool, done) == 7
