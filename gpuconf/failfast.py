"""Permanent states that end a wait early (the waits' `fail_fast`), each worded for a user.

A wait burns its whole named timeout only when the state might still heal. These detect states that
will not, within a run: some at once (a crash loop), others once they have held for a settle period,
because a real cluster passes through them briefly (a node NotReady while it boots, a Terminating
pod whose finalizer a controller is about to remove). The waits that use a settle period re-check
with time alone (`wait_for(..., recheck_every_s=...)`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gpuconf import states
from gpuconf.kube import condition
from gpuconf.nodes import node_name
from gpuconf.taints import untolerated_taint

Obj = dict[str, Any]
FailFast = Callable[[Obj], str | None]
RECHECK_EVERY_S = 1.0  # how often a settle period is looked at when nothing changes


class _Held:
    """Since when each object (by uid or name) has been in a state, cleared when it leaves it."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._since: dict[str, float] = {}

    def long_enough(self, key: str, in_state: bool) -> bool:
        if not in_state:
            self._since.pop(key, None)
            return False
        return time.monotonic() - self._since.setdefault(key, time.monotonic()) >= self.settle_s


def node_not_ready_for(settle_s: float) -> FailFast:
    """A node whose kubelet has reported Ready=False for settle_s on end."""
    held = _Held(settle_s)

    def check(node: Obj) -> str | None:
        not_ready = (condition(node, "Ready") or {}).get("status") == "False"
        if held.long_enough(node_name(node), not_ready):
            return f"node {node_name(node)} has been {states.node_ready_text(node)} for {settle_s:g}s"
        return None

    return check


def taints_keep_daemonset_off(gpu_nodes: list[Obj], template: Obj) -> FailFast:
    """The DaemonSet controller has placed its pods and left GPU nodes out because of taints the pod
    template does not tolerate: no plugin will ever run there. (The taints are read once: a wait sees
    hundreds of DaemonSet updates at scale.)"""
    kept = [
        f"{node_name(node)} has taint {states.taint_text(taint)}"
        for node in gpu_nodes
        if (taint := untolerated_taint(template, node)) is not None
    ]

    def check(daemonset: Obj) -> str | None:
        status = daemonset.get("status", {})
        if status.get("observedGeneration", 0) < daemonset["metadata"].get("generation", 1):
            return None  # the controller has not looked at this generation yet
        missing = len(gpu_nodes) - status.get("desiredNumberScheduled", 0)
        if missing <= 0 or len(kept) < missing:
            return None
        return (
            f"it places no pod on {missing} GPU node(s) (desired {status.get('desiredNumberScheduled', 0)}): "
            + "; ".join(kept)
            + ", which the DaemonSet does not tolerate"
        )

    return check


def throttled(read: Callable[[], Any], every_s: float = RECHECK_EVERY_S) -> Callable[[], Any]:
    """`read`, called at most once per every_s, its last answer returned in between (a fail-fast runs
    on every event of a wait; at 1,000 nodes a fresh list per event would cost a million objects)."""
    cache: dict[str, Any] = {"at": -every_s, "value": None}

    def cached() -> Any:
        if time.monotonic() - cache["at"] >= every_s:
            cache["value"], cache["at"] = read(), time.monotonic()
        return cache["value"]

    return cached


def failing_pod_once_stalled(
    list_pods: Callable[[], list[Obj]], quiet_s: float = 1.0, every_s: float = 5.0
) -> FailFast:
    """For a wait on a controller (a DaemonSet rolling out): a failing pod of it, looked for when the
    controller's status has not moved for quiet_s, and at least every every_s. A rollout that makes
    progress is not interrupted by a list of every pod on every update (at 1,000 nodes: a million
    objects); one that stalls is explained within about a second."""
    last: dict[str, Any] = {"status": None, "changed": time.monotonic(), "listed": time.monotonic()}

    def check(obj: Obj) -> str | None:
        now = time.monotonic()
        if obj.get("status") != last["status"]:
            last["status"], last["changed"] = obj.get("status"), now
        if now - last["changed"] < quiet_s and now - last["listed"] < every_s:
            return None
        last["listed"] = now
        for pod in list_pods():
            failure = states.pod_failure(pod)
            if failure:
                return failure
        return None

    return check


def ready_without_restart_for(
    settle_s: float, registered: Callable[[str], bool] = lambda node: False
) -> Callable[[list[Obj]], bool]:
    """`until` for plugin pods: every one Ready with no restart, and either its node already shows the
    plugin's resource (it registered: it is working) or it has stayed so for settle_s. A plugin that
    cannot load NVML is Ready for the moment between its start and its crash, and never registers:
    this outlasts that moment without making a healthy rollout wait."""
    held = _Held(settle_s)

    def steady(pod: Obj) -> bool:
        ok = states.pod_running_and_ready(pod) and not any(
            cs.get("restartCount") for cs in pod["status"].get("containerStatuses") or []
        )
        settled = held.long_enough(pod["metadata"]["uid"], ok)
        return ok and (settled or registered(pod["spec"].get("nodeName") or ""))

    def until(pods: list[Obj]) -> bool:
        return bool(pods) and all([steady(pod) for pod in pods])

    return until


def pod_crashed(pod: Obj) -> str | None:
    """A pod stuck in a permanent waiting state, or one whose container has already died once."""
    failure = states.pod_failure(pod)
    if failure:
        return failure
    for status in pod.get("status", {}).get("containerStatuses") or []:
        last = (status.get("lastState") or {}).get("terminated")
        if last:
            return (
                f"pod {pod['metadata']['name']} restarted: last exit code {last.get('exitCode')} "
                f"({last.get('reason') or 'Error'})"
            )
    return None


def gpu_mismatch_persists(
    expected: dict[str, int],
    plugin_pods: Callable[[], list[Obj]],
    mismatch: Callable[[Obj, int], str],
    settle_s: float,
) -> FailFast:
    """A GPU node's capacity/allocatable still differ from `expected` although its device-plugin pod
    has been Running and ready for settle_s (a plugin registers within a second of starting), or
    that plugin pod is failing. The plugin pods are listed at most once a second, whatever the nodes."""
    held = _Held(settle_s)
    by_node = throttled(lambda: pods_by_node(plugin_pods()))

    def pods_on(name: str) -> list[Obj]:
        return by_node().get(name, [])

    def check(node: Obj) -> str | None:
        name, count = node_name(node), expected.get(node_name(node))
        if count is None or states.advertises(node, count):
            return None
        for pod in pods_on(name):
            failure = states.pod_failure(pod)
            if failure:
                return f"device-plugin {failure}"
            if held.long_enough(pod["metadata"]["uid"], states.pod_running_and_ready(pod)):
                return (
                    f"{mismatch(node, count)} (device-plugin pod {pod['metadata']['name']} Running and "
                    f"ready for {settle_s:g}s)"
                )
        return None

    return check


def pods_by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
    """Pods grouped by spec.nodeName ("" for unbound ones)."""
    grouped: dict[str, list[Obj]] = {}
    for pod in pods:
        grouped.setdefault(pod["spec"].get("nodeName") or "", []).append(pod)
    return grouped


def every_gpu_node_cordoned_for(gpu_nodes: Callable[[], list[Obj]], settle_s: float) -> FailFast:
    """A pod Unschedulable because every GPU node is cordoned (spec.unschedulable), for settle_s."""
    held = _Held(settle_s)

    def check(pod: Obj) -> str | None:
        scheduled = condition(pod, "PodScheduled") or {}
        message = scheduled.get("message") or ""
        blocked = scheduled.get("status") == "False" and "were unschedulable" in message
        cordoned = [node_name(n) for n in gpu_nodes() if n["spec"].get("unschedulable")] if blocked else []
        if not held.long_enough(pod["metadata"]["uid"], blocked and len(cordoned) == len(gpu_nodes())):
            return None
        return (
            f"pod {pod['metadata']['name']} cannot be scheduled: every GPU node is cordoned "
            f"(spec.unschedulable: {', '.join(cordoned)}) for {settle_s:g}s: "
            + message.split(" preemption:")[0]
        )

    return check


def held_by_finalizer_for(settle_s: float) -> FailFast:
    """A Terminating pod whose containers have all ended and that only finalizers keep, unchanged for
    settle_s: the controller that set them has not removed them, and nothing of the suite will."""
    held = _Held(settle_s)

    def check(pod: Obj) -> str | None:
        meta = pod["metadata"]
        statuses = pod.get("status", {}).get("containerStatuses") or []
        ended = all("running" not in (cs.get("state") or {}) for cs in statuses)
        if not held.long_enough(
            meta["uid"], bool(meta.get("deletionTimestamp") and meta.get("finalizers") and ended)
        ):
            return None
        return (
            f"pod {meta['name']} is Terminating, its containers ended, and finalizer(s) "
            f"{', '.join(meta['finalizers'])} still hold it after {settle_s:g}s: the controller that set "
            "them has not removed them"
        )

    return check
