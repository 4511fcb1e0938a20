"""Multi-threaded multi-scalar multiplication for the arkworks backend (internal).

``py_arkworks_bls12381``'s ``multiexp_unchecked`` releases the GIL but runs on one thread
(reference/proof-systems.md §6.2), so splitting one MSM over Python threads, or running
independent MSMs side by side, scales with cores. The py_ecc backend holds the GIL throughout, so
it always runs sequentially. Results are the same group elements either way (point addition is
exact), so encodings stay byte-identical across backends and thread counts.

The thread count is ``$POOLPROOF_MSM_THREADS`` if set, else the number of CPUs (at most 8). Set it
to 1 when an outer process pool already occupies every core.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Final, TypeVar

from proofs.group import Group, Point

#: Environment variable that sets the number of MSM threads.
THREADS_ENV: Final = "POOLPROOF_MSM_THREADS"
#: Below this many terms one thread is faster than splitting (call overhead, smaller buckets).
_SPLIT_MIN: Final = 2048

_T = TypeVar("_T")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def thread_count() -> int:
    """How many threads MSMs may use (``$POOLPROOF_MSM_THREADS`` or the CPU count, capped at 8)."""
    env = os.environ.get(THREADS_ENV)
    if env:
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 8))


def _forget_pool_in_child() -> None:
    # Threads do not survive fork(): a child (e.g. a process-pool worker) must not reuse the
    # parent's executor, whose bookkeeping would make it wait for workers that do not exist.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="poolproof-msm")
        return _pool


def _parallel(group: Group) -> int:
    return thread_count() if group.name == "arkworks" else 1


def run_all(group: Group, tasks: Sequence[Callable[[], _T]]) -> list[_T]:
    """Run independent tasks (each typically one MSM), concurrently when the backend allows it."""
    if _parallel(group) == 1 or len(tasks) == 1:
        return [task() for task in tasks]
    pool = _executor()
    futures: list[Future[_T]] = [pool.submit(task) for task in tasks[1:]]
    first = tasks[0]()
    return [first, *(f.result() for f in futures)]


def msm(group: Group, raws: Sequence[Any], scalars: Sequence[int]) -> Point:
    """``sum(k_i * P_i)`` over backend-native points, split over threads when it is large."""
    threads = _parallel(group)
    n = len(raws)
    if threads == 1 or n < _SPLIT_MIN:
        return group.msm_raw(raws, scalars)
    step = -(-n // threads)
    parts = run_all(
        group,
        [partial(group.msm_raw, raws[lo : lo + step], scalars[lo : lo + step]) for lo in range(0, n, step)],
    )
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _run_jobs(group: Group, jobs: Sequence[tuple[Sequence[Any], Sequence[int]]]) -> list[Point]:
    return [group.msm_raw(r, s) for r, s in jobs]


def msm_many(group: Group, jobs: Sequence[tuple[Sequence[Any], Sequence[int]]]) -> list[Point]:
    """Many independent small MSMs, spread over the threads in contiguous chunks."""
    threads = _parallel(group)
    if threads == 1 or len(jobs) < 2 * threads:
        return [group.msm_raw(r, s) for r, s in jobs]
    step = -(-len(jobs) // threads)
    chunks = run_all(
        group, [partial(_run_jobs, group, jobs[lo : lo + step]) for lo in range(0, len(jobs), step)]
    )
    return [p for chunk in chunks for p in chunk]
