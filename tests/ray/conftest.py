"""Session fixtures for the Ray tests: one real two-node local cluster and a connected driver."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.ray.cluster import LocalCluster, start_cluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalCluster]:
    ray = pytest.importorskip("ray", reason="the Ray tests need ray: pip install 'ragloom[ray]'")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    cluster = start_cluster(nodes=2)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here starts (or shares) a real cluster: slow and integration."""
    for item in items:
        if "tests/ray/" in str(item.path):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.integration)
