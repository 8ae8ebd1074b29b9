"""Fixtures: an emulated cluster with short back-offs, and real kubectl pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gpuconf.emulator.cluster import ClusterThread, fast_test_options, running_cluster
from tests.emulator_cluster.kubectl import Kubectl


@pytest.fixture
def cluster() -> Iterator[ClusterThread]:
    with running_cluster(options=fast_test_options()) as handle:
        yield handle


@pytest.fixture
def kubectl(cluster: ClusterThread) -> Kubectl:
    return Kubectl(cluster.kubeconfig)
