"""Pod phase, conditions and QoS computed from container records, as the kubelet does."""

from __future__ import annotations

from gpuconf.emulator.kubelet.podstatus import ContainerRecord, phase_of, pod_status, qos_class


def status_of(*records: ContainerRecord, policy: str = "Never") -> dict:
    return pod_status(
        list(records),
        policy,
        host_ip="10.224.0.4",
        pod_ip="10.244.0.2",
        start_time="t",
        qos_class="BestEffort",
    )


def cond(status: dict, kind: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == kind)


def terminated(code: int) -> dict:
    return {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}


def test_creating_container_keeps_pod_pending_and_not_ready() -> None:
    status = status_of(ContainerRecord("c", "img"))
    assert status["phase"] == "Pending"
    ready = cond(status, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "ContainersNotReady",
        "containers with unready status: [c]",
    )
    assert cond(status, "PodScheduled")["status"] == "True"


def test_running_container_makes_pod_running_and_ready() -> None:
    status = status_of(ContainerRecord("c", "img", state={"running": {"startedAt": "t"}}))
    assert status["phase"] == "Running"
    assert cond(status, "Ready")["status"] == cond(status, "ContainersReady")["status"] == "True"
    assert status["containerStatuses"][0]["ready"] is True


def test_finished_containers_decide_succeeded_or_failed() -> None:
    ok = ContainerRecord("a", "img", state=terminated(0), finished=True)
    bad = ContainerRecord("b", "img", state=terminated(1), finished=True)
    assert status_of(ok)["phase"] == "Succeeded"
    assert status_of(ok, bad)["phase"] == "Failed"
    assert cond(status_of(ok), "Ready")["reason"] == "PodCompleted"
    assert cond(status_of(ok), "PodReadyToStartContainers")["status"] == "False"


def test_crashlooping_container_keeps_pod_running() -> None:
    looping = ContainerRecord(
        "c",
        "img",
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        last_state=terminated(2),
        restart_count=3,
    )
    assert phase_of([looping], "Always") == "Running"


def test_qos_classes() -> None:
    def pod(resources: dict) -> dict:
        return {"spec": {"containers": [{"name": "c", "resources": resources}]}}

    assert qos_class(pod({"limits": {"nvidia.com/gpu": 1}})) == "BestEffort"
    assert qos_class(pod({"limits": {"cpu": "1", "memory": "1Gi"}})) == "Guaranteed"
    assert qos_class(pod({"requests": {"cpu": "1"}})) == "Burstable"
