"""Fixtures: the embedded API server on a background loop, real clients pointed at it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config, dynamic

from gpuconf.emulator.testing import ServerHandle, running_server
from tests.emulator_cluster.kubectl import Kubectl, kubectl_binaries, kubectl_id

ROOT = Path(__file__).resolve().parents[2]
DAEMONSET_MANIFEST = ROOT / "manifests/article/nvidia-device-plugin-ds.yaml"
JOB_MANIFEST = ROOT / "manifests/article/samples-tf-mnist-demo.yaml"
# Named bounds for waits in these tests. The server answers in milliseconds on loopback; the bounds
# are generous because kubectl subprocesses start slowly on a loaded 2-core machine.
CASCADE_TIMEOUT_S = 30.0
WATCH_TIMEOUT_S = 30.0
WATCH_OPEN_CHECK_INTERVAL_S = 0.02


def wait_for_open_watch(
    api_server: ServerHandle, resource: str, *, timeout_s: float = WATCH_TIMEOUT_S
) -> None:
    """Until the server holds an open watch on `resource`: the client's watch request has been served
    (listed and subscribed), so every later change reaches it as a watch event.

    `kubectl get KIND NAME --watch` GETs the object, prints it, and only then watches it with
    resourceVersion=0, whose first event (the object's current state, a synthetic ADDED) kubectl
    does not print. A change made between the GET and the watch is therefore never shown, on a real
    cluster as here: a test must not change the object before this returns.
    """
    deadline = time.monotonic() + timeout_s
    while not api_server.call(
        lambda: any(sub.resource == resource and not sub.closed for sub in api_server.server.open_watches)
    ):
        if time.monotonic() > deadline:
            raise AssertionError(f"no client opened a watch on {resource} within {timeout_s:g}s")
        time.sleep(WATCH_OPEN_CHECK_INTERVAL_S)


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
def dyn(api_client: client.ApiClient, tmp_path: Path) -> dynamic.DynamicClient:
    # Its discovery cache defaults to a file per server URL in /tmp, which every run would leave behind.
    return dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))


@pytest.fixture(params=kubectl_binaries(), ids=kubectl_id)
def kubectl(api_server: ServerHandle, request: pytest.FixtureRequest) -> Kubectl:
    """Real kubectl: the pinned v1.37, and another version found on PATH (e.g. /usr/bin/kubectl)."""
    return Kubectl(api_server.kubeconfig, request.param)
