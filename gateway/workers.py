"""The gateway's worker processes: one spawn-started process pool, shared by ingest and sealing.

:class:`WorkerPool` owns one :class:`~concurrent.futures.ProcessPoolExecutor`, started on first use
with the ``spawn`` method (a threaded server is never forked) and replaced when it is broken (a worker
died) or when a different number of workers is asked for. Every worker leaves when the gateway process
is gone (:func:`exit_with_parent`), so a server killed with SIGKILL leaves no orphans behind.

Two pools are kept, :data:`INGEST_WORKERS` and :data:`SEAL_WORKERS`, of the same kind: a seal job and
a large ingest may run at the same moment, and a seal asking for a different number of workers must
not cancel the rows an ingest has in flight. Seal workers run one MSM thread each
(``POOLPROOF_MSM_THREADS=1``, see ``proofs/_parallel.py``): each already occupies a core.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from .config import use_one_msm_thread


def exit_with_parent(parent: int) -> None:
    """Worker initializer: leave when the gateway process (pid ``parent``) is gone.

    A server killed with SIGKILL (or SIGTERM, which skips the executor's shutdown) cannot tell its
    workers, and they would wait on their task queue forever; a daemon thread polls the parent id.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="poolproof-parent-watch", daemon=True).start()


def _seal_worker_init(parent: int) -> None:
    # Each worker already occupies a core: one MSM thread each (see proofs/_parallel.py).
    use_one_msm_thread()
    exit_with_parent(parent)


def default_workers() -> int:
    """One worker per core."""
    return max(1, os.cpu_count() or 1)


class WorkerPool:
    """One lazily started, spawn-based process pool; thread-safe.

    ``msm_threads_one`` makes every worker run a single MSM thread (for proving work).
    """

    def __init__(self, *, msm_threads_one: bool = False) -> None:
        self._initializer = _seal_worker_init if msm_threads_one else exit_with_parent
        self._executor: ProcessPoolExecutor | None = None
        self._workers = 0
        self._lock = threading.Lock()

    def executor(self, workers: int, *, resize: bool = True) -> ProcessPoolExecutor:
        """The running pool, started (or replaced, if broken) on demand.

        With ``resize`` a pool of another size is replaced by one of ``workers`` workers; without it the
        running pool is kept whatever its size (``workers`` only sizes a new one).
        """
        with self._lock:
            ex = self._executor
            # ProcessPoolExecutor marks itself broken when a worker dies; a broken pool refuses all work.
            broken = ex is not None and bool(getattr(ex, "_broken", False))
            if ex is None or broken or (resize and self._workers != workers):
                if ex is not None:
                    ex.shutdown(wait=False, cancel_futures=True)
                ex = ProcessPoolExecutor(
                    max_workers=workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=self._initializer,
                    initargs=(os.getpid(),),
                )
                self._executor = ex
                self._workers = workers
            return ex

    def reset(self) -> None:
        """Drop the pool without waiting (a worker died); the next use starts a fresh one."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def shutdown(self) -> None:
        """Stop the workers and wait for them to exit."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (empty when no pool is running)."""
        with self._lock:
            processes = getattr(self._executor, "_processes", None) or {}
            return list(processes)


#: Row workers of large JSONL ingests.
INGEST_WORKERS = WorkerPool()
#: Seal-job workers (one MSM thread each).
SEAL_WORKERS = WorkerPool(msm_threads_one=True)
