"""Fixtures: the embedded API server on a background loop, real clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config, dynamic

from gpuconf.emulator.testing import ServerHandle, running_server
from tests.emulator_cluster.kubectl import Kubectl

ROOT = Path(__file__).resolve().parents[2]
DAEMONSET_MANIFEST = ROOT / "manifests/article/nvidia-device-plugin-ds.yaml"
JOB_MANIFEST = ROOT / "manifests/article/samples-tf-mnist-demo.yaml"
# Named bounds for waits in these tests. The server answers in milliseconds on loopback; the bounds
# are generous because kubectl subprocesses start slowly on a loaded 2-core machine.
CASCADE_TIMEOUT_S = 30.0
WATCH_TIMEOUT_S = 30.0


@pytest.fixture
def api_server() -> Iterator[ServerHandle]:
    with running_server(bookmark_interval=0.2) as handle:
        yield handle


@pytest.fixture
def api_client(api_server: ServerHandle) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=str(api_server.kubeconfig)) as api:
        yield api


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def batch(api_client: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


@pytest.fixture
def dyn(api_client: client.ApiClient) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(api_client)


@pytest.fixture
def kubectl(api_server: ServerHandle) -> Kubectl:
    return Kubectl(api_server.kubeconfig)
