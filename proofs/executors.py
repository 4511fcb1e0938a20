"""Where heavy work runs: inline, a local process pool over all cores, or a Dask cluster.

Sealing and auditing are written against :class:`concurrent.futures.Executor` (DESIGN.md "Scale").
:func:`open_executor` picks one:

* ``scheduler`` given (or ``$POOLPROOF_SCHEDULER``): a Dask ``Client(address).get_executor()``
  (optional ``[cluster]`` extra). Workers receive blinded values and seeds when sealing: run the
  scheduler and workers with TLS (``tls://`` addresses and a ``distributed.security.Security``
  configuration, see docs) on a network you trust.
* otherwise ``workers`` > 1: a ``ProcessPoolExecutor`` whose workers run single-threaded MSMs
  (``POOLPROOF_MSM_THREADS=1``), since the pool already fills the cores;
* ``workers`` <= 1: ``None``, meaning inline in the calling process.

Results do not depend on the choice: chunks are deterministic given their inputs and are folded in
order by the caller.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Final

SCHEDULER_ENV: Final = "POOLPROOF_SCHEDULER"


def _single_threaded_msm() -> None:
    os.environ["POOLPROOF_MSM_THREADS"] = "1"


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[Executor | None]:
    """An executor for chunk work (see module docstring); closed on exit.

    Raises:
        RuntimeError: a scheduler address was given but the ``[cluster]`` extra is not installed.
    """
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise RuntimeError(
                "a Dask scheduler needs the [cluster] extra: pip install 'poolproof[cluster]'"
            ) from exc
        make_client: Any = Client  # distributed ships no type information
        client = make_client(scheduler)
        try:
            yield client.get_executor()
        finally:
            client.close()
        return
    n = default_workers() if workers is None else workers
    if n <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=n, initializer=_single_threaded_msm) as pool:
        yield pool
