"""Shared pytest configuration: ``--runslow`` enables tests marked ``slow`` (CI skips them); a Dask
cluster fixture for the scale-out tests."""

from collections.abc import Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """A plaintext Dask scheduler with three single-thread workers on 127.0.0.1, shared by the whole
    session (three, so a cluster's size is told apart from this machine's two cores)."""
    pytest.importorskip("distributed")
    from tests.cluster_util import dask_cluster

    with dask_cluster(workers=3) as address:
        yield address
