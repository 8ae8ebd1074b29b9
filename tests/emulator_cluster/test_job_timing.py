"""job-controller: the pod-failure back-off grows and is capped; a finished Job's status and events.

On the real store with the controllers only (no kubelet): the test plays the kubelet and sets each
pod's phase itself, so the delays measured are the controller's alone. Kubernetes waits
10 s * 2^(failures-1) before replacing a failed pod, capped at MaxJobPodFailureBackOff (10 min in
pkg/controller/job/job_controller.go); here the base is BASE_S and the cap CAP_S.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from gpuconf.emulator.controllers.job import JobTiming
from gpuconf.emulator.controllers.manager import ControllerManager
from gpuconf.emulator.store import Store
from tests.emulator_cluster.storewait import (
    CONTROLLER_REACTION_S,
    events_for,
    named,
    wait_for,
    wait_for_version,
)

Obj = dict[str, Any]
BASE_S = 0.4
CAP_S = 1.6
EXPECTED_DELAYS_S = [0.4, 0.8, 1.6, 1.6]  # the 4th would be 3.2 s without the cap
# How much later than its back-off a replacement may come (the controller's queue, a loaded machine).
DELAY_SLACK_S = 0.6
REPLACEMENT_TIMEOUT_S = CAP_S + CONTROLLER_REACTION_S


def job(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "img:1"}]}},
            **spec,
        },
    }


def run(scenario: Any) -> None:
    async def main() -> None:
        store = Store()
        manager = ControllerManager(store, job_timing=JobTiming(backoff_base_s=BASE_S, backoff_max_s=CAP_S))
        await manager.start()
        try:
            await scenario(store)
        finally:
            await manager.stop()

    asyncio.run(main())


def finish(store: Store, pod: Obj, phase: str) -> int:
    """What the kubelet reports when the pod's container exits; the new resourceVersion."""
    fresh = store.get("pods", pod["metadata"]["name"], namespace="default")
    code = 0 if phase == "Succeeded" else 1
    fresh["status"] = {
        "phase": phase,
        "containerStatuses": [
            {
                "name": "c",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}},
            }
        ],
    }
    fresh["metadata"].pop("resourceVersion", None)
    updated = store.update("pods", fresh, namespace="default", subresource="status")
    return int(updated["metadata"]["resourceVersion"])


def test_pod_replacements_back_off_exponentially_up_to_the_cap() -> None:
    async def scenario(store: Store) -> None:
        loop = asyncio.get_running_loop()
        store.create("jobs", job("retry", backoffLimit=6), namespace="default")
        (pod,) = await wait_for(
            store,
            "pods",
            lambda pods: pods if len(pods) == 1 else None,
            timeout=CONTROLLER_REACTION_S,
            describe="the Job's first pod",
            namespace="default",
        )
        created = [pod["metadata"]["name"]]
        delays = []
        for failures in range(1, len(EXPECTED_DELAYS_S) + 1):
            since = finish(store, pod, "Failed")
            failed_at = loop.time()
            pod = await wait_for_version(
                store,
                "pods",
                lambda p: p["metadata"]["name"] not in created,
                since=since,
                timeout=REPLACEMENT_TIMEOUT_S,
                describe=f"the replacement after failure {failures}",
                namespace="default",
            )
            delays.append(loop.time() - failed_at)
            created.append(pod["metadata"]["name"])
        for measured, expected in zip(delays, EXPECTED_DELAYS_S, strict=True):
            assert expected <= measured < expected + DELAY_SLACK_S, (delays, EXPECTED_DELAYS_S)
        assert delays[0] < delays[1] < delays[2], f"each failure doubles the wait: {delays}"
        status = await wait_for(
            store,
            "jobs",
            lambda jobs: jobs and jobs[0].get("status", {}).get("failed") == 4 and jobs[0]["status"],
            timeout=CONTROLLER_REACTION_S,
            describe="status.failed=4",
            namespace="default",
        )
        assert (status["failed"], status["active"]) == (4, 1)
        assert not any(c["type"] in ("Failed", "FailureTarget") for c in status.get("conditions") or [])
        creates = [m for _, r, m in events_for(store, "retry") if r == "SuccessfulCreate"]
        assert creates == [f"Created pod: {name}" for name in created]

    run(scenario)


def test_a_succeeded_pod_completes_the_job_with_kubernetes_conditions_and_completion_time() -> None:
    async def scenario(store: Store) -> None:
        store.create("jobs", job("train"), namespace="default")
        (pod,) = await wait_for(
            store,
            "pods",
            lambda pods: pods if len(pods) == 1 else None,
            timeout=CONTROLLER_REACTION_S,
            describe="the Job's pod",
            namespace="default",
        )
        finish(store, pod, "Succeeded")
        done = await wait_for(
            store,
            "jobs",
            lambda jobs: (
                named("train")(jobs)
                if any(
                    c["type"] == "Complete"
                    for c in named("train")(jobs).get("status", {}).get("conditions") or []
                )
                else None
            ),
            timeout=CONTROLLER_REACTION_S,
            describe="condition Complete",
            namespace="default",
        )
        status = done["status"]
        # As kube-controller-manager >= 1.31 writes it: SuccessCriteriaMet first, then Complete.
        assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
        for condition in status["conditions"]:
            assert (condition["status"], condition["reason"], condition["message"]) == (
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ), condition["type"]
        assert status["succeeded"] == 1
        assert "active" not in status and "failed" not in status
        assert (status["ready"], status["terminating"], status["uncountedTerminatedPods"]) == (0, 0, {})
        started, completed = (
            dt.datetime.strptime(status[k], "%Y-%m-%dT%H:%M:%SZ") for k in ("startTime", "completionTime")
        )
        assert started <= completed
        assert status["completionTime"] == status["conditions"][1]["lastTransitionTime"]
        events = events_for(store, "train")
        assert ("Normal", "Completed", "Job completed") in events
        assert [r for _, r, _ in events].count("Completed") == 1

    run(scenario)
