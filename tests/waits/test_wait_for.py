"""gpuconf.waits.wait_for against the embedded API server through the official client's list+watch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes.client import CoreV1Api

from gpuconf.emulator.testing import running_server
from gpuconf.kube import Kube
from gpuconf.states import pod_failure, summarize_pod
from gpuconf.waits import WaitFailed, WaitTimeout, wait_for

NAMESPACE = "default"


@pytest.fixture
def kube() -> Iterator[Kube]:
    with running_server() as handle:
        client = Kube.from_kubeconfig(handle.kubeconfig)
        try:
            yield client
        finally:
            client.close()


def typed(kube: Kube) -> CoreV1Api:
    """The official client's generated API on the same connection: wait_for takes its methods too
    (config maps and the status subresource are calls the suite's own gpuconf.kube_api lacks)."""
    return CoreV1Api(kube.api_client)


def _pod(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "waited"}},
        "spec": {"containers": [{"name": "main", "image": "example.invalid/app:1"}]},
    }


def test_returns_the_fresh_object_once_the_condition_holds_via_watch(kube: Kube) -> None:
    def create_later() -> None:
        time.sleep(0.3)  # the point of the test: the object appears while wait_for is watching
        typed(kube).create_namespaced_config_map(
            NAMESPACE, {"metadata": {"name": "late", "labels": {"app": "waited"}}, "data": {"k": "v"}}
        )

    creator = threading.Thread(target=create_later)
    creator.start()
    try:
        result = wait_for(
            typed(kube).list_namespaced_config_map,
            namespace=NAMESPACE,
            label_selector="app=waited",
            until=lambda objects: [o for o in objects if o.get("data", {}).get("k") == "v"],
            timeout=10,
            timeout_name="test_appear",
            describe="configmap late",
        )
    finally:
        creator.join(timeout=10)
    assert result.object is not None and result.object["metadata"]["name"] == "late"
    assert result.elapsed_s >= 0.25
    assert result.requests <= 3, f"a watch, not polling: {result.requests} requests"
    assert result.timeline, "the transition to the created object must be in the timeline"


def test_timeout_names_the_budget_what_it_waited_for_and_the_last_object(kube: Kube) -> None:
    kube.core.create_namespaced_pod(NAMESPACE, _pod("never-runs"))
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        wait_for(
            kube.core.list_namespaced_pod,
            namespace=NAMESPACE,
            until=lambda pods: all(p.get("status", {}).get("phase") == "Running" for p in pods) and pods,
            timeout=1.5,
            timeout_name="pod_running",
            describe="pod never-runs Running",
            summarize=summarize_pod,
        )
    assert time.monotonic() - started < 5, "the deadline must bound the wait"
    message = str(caught.value)
    assert "pod_running=1.5s" in message
    assert "pod never-runs Running" in message
    assert "never-runs" in message.split("last seen:")[1]


def test_permanent_state_fails_fast_with_the_reason(kube: Kube) -> None:
    kube.core.create_namespaced_pod(NAMESPACE, _pod("bad-image"))

    def pull_fails() -> None:
        time.sleep(0.2)
        status = {
            "status": {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "main",
                        "image": "example.invalid/app:1",
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}},
                    }
                ],
            }
        }
        typed(kube).patch_namespaced_pod_status("bad-image", NAMESPACE, status)

    failer = threading.Thread(target=pull_fails)
    failer.start()
    started = time.monotonic()
    try:
        with pytest.raises(WaitFailed) as caught:
            wait_for(
                kube.core.list_namespaced_pod,
                namespace=NAMESPACE,
                until=lambda pods: False,
                timeout=30,
                timeout_name="pod_running",
                describe="pod bad-image Running",
                fail_fast=pod_failure,
            )
    finally:
        failer.join(timeout=10)
    assert time.monotonic() - started < 10, "a permanent state must not wait for the deadline"
    assert "ImagePullBackOff" in str(caught.value)


def test_timeout_first_line_names_the_last_state(kube: Kube) -> None:
    kube.core.create_namespaced_pod(NAMESPACE, _pod("stuck"))
    with pytest.raises(WaitTimeout) as caught:
        wait_for(
            kube.core.list_namespaced_pod,
            namespace=NAMESPACE,
            until=lambda pods: False,
            timeout=1.0,
            timeout_name="pod_running",
            describe="pod stuck Running",
            summarize=summarize_pod,
        )
    first = str(caught.value).splitlines()[0]
    assert first.startswith("timed out after") and "(pod_running=1s)" in first, first
    assert "; last state: pod stuck " in first, first  # what a one-line summary shows is enough


@pytest.mark.parametrize("layer", ["client", "wait"])
def test_overloaded_server_answers_are_retried_within_the_deadline(layer: str) -> None:
    """429/5xx answers with Retry-After are retried: by the suite's client (gpuconf.kube, as client-go
    does), and, for a client without that (the official client's default), by the wait itself."""
    from kubernetes import client as k8s

    from gpuconf.emulator.interface import ApiError

    answers = {"left": 3}

    def overloaded(request):  # the first three lists and watches: 429, 500, 429 with Retry-After 1
        listing = request.method == "GET" and request.path.startswith("/api/v1/namespaces/default/configmaps")
        if listing and answers["left"] > 0:
            answers["left"] -= 1
            code, reason = (500, "InternalError") if answers["left"] == 1 else (429, "TooManyRequests")
            return ApiError(code, reason, "try again later", retry_after_seconds=1)
        return None

    with running_server(configure=lambda server: server.request_faults.append(overloaded)) as handle:
        client = Kube.from_kubeconfig(handle.kubeconfig)
        if layer == "wait":  # the official client as it comes: urllib3 retries no 500
            configuration = client.api_client.configuration
            configuration.retries = None
            client.close()
            client = Kube(k8s.ApiClient(configuration))
        try:
            typed(client).create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "here"}})
            started = time.monotonic()
            result = wait_for(
                typed(client).list_namespaced_config_map,
                namespace=NAMESPACE,
                until=lambda items: items,
                timeout=20,
                timeout_name="test_retry",
                describe="configmap here",
            )
        finally:
            client.close()
    assert result.object is not None and result.object["metadata"]["name"] == "here"
    assert answers["left"] == 0
    retried_by_wait = [w for _, w in result.timeline if w.startswith("API server answered a list with 500")]
    assert bool(retried_by_wait) == (layer == "wait"), result.timeline
    assert time.monotonic() - started < 10


def test_recheck_re_evaluates_a_condition_that_turns_true_with_time_alone(kube: Kube) -> None:
    typed(kube).create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "quiet"}})
    ready_at = time.monotonic() + 1.5  # nothing changes on the server: only time makes it true
    started = time.monotonic()
    result = wait_for(
        typed(kube).list_namespaced_config_map,
        namespace=NAMESPACE,
        until=lambda items: items and time.monotonic() >= ready_at,
        timeout=20,
        timeout_name="test_recheck",
        describe="a settle period",
        recheck_every_s=0.5,
    )
    assert result.object is not None
    assert time.monotonic() - started < 6, "re-checked after a watch window, not at the deadline"
