"""Pod status from container states: phase, conditions and containerStatuses, as the kubelet computes them.

Pure functions: the pod worker keeps a `ContainerRecord` per container and calls `pod_status`
whenever one changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuconf.emulator.controllers.events import now_rfc3339

Obj = dict[str, Any]


@dataclass
class ContainerRecord:
    name: str
    image: str
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    restart_count: int = 0
    container_id: str = ""
    image_id: str = ""
    # True once the container will never run again (restartPolicy says so).
    finished: bool = False

    @property
    def running(self) -> bool:
        return "running" in self.state

    def status(self) -> Obj:
        out: Obj = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.running,
            "restartCount": self.restart_count,
            "started": self.running,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


def _condition(kind: str, ok: bool, reason: str | None = None, message: str | None = None) -> Obj:
    cond: Obj = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now_rfc3339(),
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def phase_of(records: list[ContainerRecord], restart_policy: str) -> str:
    """Pending until a container started; Succeeded/Failed once all are finished; else Running."""
    if records and all(r.finished for r in records):
        codes = [r.state.get("terminated", {}).get("exitCode", 1) for r in records]
        return "Succeeded" if all(c == 0 for c in codes) else "Failed"
    started = any(
        r.running or "terminated" in r.state or r.restart_count > 0 or r.last_state for r in records
    )
    return "Running" if started else "Pending"


def pod_status(
    records: list[ContainerRecord],
    restart_policy: str,
    *,
    host_ip: str,
    pod_ip: str,
    start_time: str,
    qos_class: str,
    sandbox_ready: bool = True,
) -> Obj:
    phase = phase_of(records, restart_policy)
    all_ready = bool(records) and all(r.running for r in records)
    if phase in ("Succeeded", "Failed"):
        ready_reason, ready_message = "PodCompleted", None
    elif all_ready:
        ready_reason, ready_message = None, None
    else:
        unready = ", ".join(r.name for r in records if not r.running)
        ready_reason, ready_message = "ContainersNotReady", f"containers with unready status: [{unready}]"
    # 1.31 (PodReadyToStartContainersCondition on by default): False once the sandbox is gone.
    sandbox = sandbox_ready and phase not in ("Succeeded", "Failed")
    conditions = [
        _condition("PodReadyToStartContainers", sandbox),
        _condition("Initialized", True),
        _condition("Ready", all_ready, ready_reason, ready_message),
        _condition("ContainersReady", all_ready, ready_reason, ready_message),
        _condition("PodScheduled", True),
    ]
    status: Obj = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": start_time,
        "containerStatuses": [r.status() for r in records],
        "qosClass": qos_class,
    }
    return status


def qos_class(pod: Obj) -> str:
    """Guaranteed / Burstable / BestEffort from cpu and memory requests and limits."""
    containers = (pod.get("spec") or {}).get("containers") or []
    any_set, guaranteed = False, True
    for c in containers:
        resources = c.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        for name in ("cpu", "memory"):
            if name in limits or name in requests:
                any_set = True
            if name not in limits or requests.get(name, limits.get(name)) != limits.get(name):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
