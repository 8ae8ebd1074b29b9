"""gpuconf.waits.wait_for against the embedded API server through the official client's list+watch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

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
        kube.core.create_namespaced_config_map(
            NAMESPACE, {"metadata": {"name": "late", "labels": {"app": "waited"}}, "data": {"k": "v"}}
        )

    creator = threading.Thread(target=create_later)
    creator.start()
    try:
        result = wait_for(
            kube.core.list_namespaced_config_map,
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
        kube.core.patch_namespaced_pod_status("bad-image", NAMESPACE, status)

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
