"""Where heavy work runs: inline, a local process pool over all cores, or a Dask cluster.

Sealing and auditing are written against :class:`concurrent.futures.Executor` (DESIGN.md "Scale").
:func:`open_executor` picks one:

* ``scheduler`` given (or ``$POOLPROOF_SCHEDULER``): a Dask ``Client(address).get_executor()``
  (optional ``[cluster]`` extra). When sealing (``secrets=True``) workers receive their chunk's loan
  values and blindings, so such work goes only to a ``tls://`` scheduler (certificates from Dask's
  own configuration, e.g. ``DASK_DISTRIBUTED__COMM__TLS__*``; see docs/scale-out.md) or to one on
  this machine's loopback interface; a plaintext address elsewhere is refused unless
  ``$POOLPROOF_SCHEDULER_PLAINTEXT=1`` says the network is protected by other means. Auditing
  handles public data only and may use any address.
* otherwise ``workers`` > 1: a ``ProcessPoolExecutor`` whose workers run single-threaded MSMs
  (``POOLPROOF_MSM_THREADS=1``), since the pool already fills the cores;
* ``workers`` <= 1: ``None``, meaning inline in the calling process.

Results do not depend on the choice: chunks are deterministic given their inputs and are folded in
order by the caller.
"""

from __future__ import annotations

import ipaddress
import os
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Executor, Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any, Final, TypeVar

SCHEDULER_ENV: Final = "POOLPROOF_SCHEDULER"
#: Set to ``1`` to send secrets to a plaintext (``tcp://``) scheduler that is not on loopback.
PLAINTEXT_ENV: Final = "POOLPROOF_SCHEDULER_PLAINTEXT"
#: Dask address schemes whose traffic is encrypted (``inproc`` never leaves the process).
ENCRYPTED_SCHEMES: Final = frozenset({"tls", "wss", "inproc"})


class SchedulerError(RuntimeError):
    """A Dask scheduler cannot be used (the ``[cluster]`` extra is missing, or see subclasses)."""


class InsecureSchedulerError(SchedulerError):
    """Secret-bearing work was asked to go to a plaintext scheduler off this machine."""


def _host(location: str) -> str:
    if location.startswith("["):  # [IPv6]:port
        return location[1 : location.find("]")] if "]" in location else location[1:]
    if location.count(":") == 1:
        return location.rsplit(":", 1)[0]
    return location  # a bare host, or a bare IPv6 address


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_scheduler_address(address: str, *, secrets: bool) -> None:
    """Refuse to send secrets in the clear: see the module docstring.

    Raises:
        InsecureSchedulerError: ``secrets`` and a plaintext scheme to a host off this machine, without
            ``$POOLPROOF_SCHEDULER_PLAINTEXT=1``.
    """
    if not secrets or os.environ.get(PLAINTEXT_ENV) == "1":
        return
    scheme, _, location = address.rpartition("://")
    scheme = (scheme or "tcp").lower()
    if scheme in ENCRYPTED_SCHEMES or is_loopback(_host(location)):
        return
    raise InsecureSchedulerError(
        f"refusing to send sealing secrets to {scheme}://{_host(location)} in plaintext: use a tls:// "
        f"scheduler (docs/scale-out.md), or set {PLAINTEXT_ENV}=1 if the network is encrypted otherwise"
    )


def _single_threaded_msm() -> None:
    os.environ["POOLPROOF_MSM_THREADS"] = "1"


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: The Dask client behind each executor :func:`open_executor` made (for :func:`parallelism`).
_clients: weakref.WeakKeyDictionary[Executor, Any] = weakref.WeakKeyDictionary()


def parallelism(executor: Executor | None) -> int:
    """How many tasks ``executor`` runs at once: 1 inline, a process pool's workers, or the threads of
    a Dask cluster's workers (asked when called), so callers keep every worker fed."""
    if executor is None:
        return 1
    client = _clients.get(executor)
    if client is not None:
        return max(1, int(sum(client.nthreads().values())))
    return max(1, int(getattr(executor, "_max_workers", None) or default_workers()))


_T = TypeVar("_T")
_R = TypeVar("_R")
#: How long a Dask client may stay without its scheduler before its tasks count as lost (seconds).
LOST_CLUSTER_SECONDS: Final = 30.0
_POLL_SECONDS: Final = 1.0


def result_of(executor: Executor | None, future: Future[_T]) -> _T:
    """``future.result()``, except that on a Dask cluster that went away it does not wait forever.

    A Dask client whose scheduler is gone may keep reconnecting while its futures never finish. Here
    the client's state is polled while waiting: once it has not been ``running`` for
    :data:`LOST_CLUSTER_SECONDS`, the wait ends with ``CancelledError`` (callers keep what they
    stored, and resume elsewhere).
    """
    client = _clients.get(executor) if executor is not None else None
    if client is None:
        return future.result()
    import time

    lost_since: float | None = None
    while True:
        try:
            return future.result(timeout=_POLL_SECONDS)
        except FutureTimeout:
            pass
        if getattr(client, "status", "running") == "running":
            lost_since = None
            continue
        now = time.monotonic()
        lost_since = now if lost_since is None else lost_since
        if now - lost_since >= LOST_CLUSTER_SECONDS:
            raise CancelledError(f"the Dask scheduler is gone (client {client.status})")


def in_flight(executor: Executor | None, requested: int | None) -> int:
    """Tasks to keep queued on ``executor``: ``requested``, or two per worker (at least four)."""
    return requested if requested is not None else max(4, 2 * parallelism(executor))


def run_in_order(
    tasks: Iterable[_T],
    fn: Callable[[_T], _R],
    settle: Callable[[_T, _R], None],
    executor: Executor | None,
    max_in_flight: int | None = None,
) -> None:
    """``settle(task, fn(task))`` for every task, in the tasks' order, with ``fn`` run on ``executor``
    (inline when ``None``) and at most ``max_in_flight`` tasks queued (:func:`in_flight`)."""
    if executor is None:
        for task in tasks:
            settle(task, fn(task))
        return
    limit = in_flight(executor, max_in_flight)
    pending: deque[tuple[_T, Future[_R]]] = deque()
    try:
        for task in tasks:
            pending.append((task, executor.submit(fn, task)))
            while len(pending) > limit:
                done, future = pending.popleft()
                settle(done, result_of(executor, future))
        while pending:
            done, future = pending.popleft()
            settle(done, result_of(executor, future))
    finally:
        for _, future in pending:
            future.cancel()


@contextmanager
def open_executor(
    workers: int | None = None, scheduler: str | None = None, *, secrets: bool = False
) -> Iterator[Executor | None]:
    """An executor for chunk work (see module docstring); closed on exit.

    ``secrets``: the work carries blindings or loan values (sealing), not only public data (auditing).

    Raises:
        InsecureSchedulerError: secrets for a plaintext scheduler off this machine.
        SchedulerError: a scheduler address was given but the ``[cluster]`` extra is not installed.
    """
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler:
        check_scheduler_address(scheduler, secrets=secrets)
        try:
            from distributed import Client
        except ImportError as exc:
            raise SchedulerError(
                "a Dask scheduler needs the [cluster] extra: pip install 'poolproof[cluster]'"
            ) from exc
        make_client: Any = Client  # distributed ships no type information
        client = make_client(scheduler)
        try:
            executor = client.get_executor()
            _clients[executor] = client
            yield executor
        finally:
            client.close()
        return
    n = default_workers() if workers is None else workers
    if n <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=n, initializer=_single_threaded_msm) as pool:
        yield pool
