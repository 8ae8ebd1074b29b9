"""daemonset-controller: one pod per eligible node, rolling updates, and every status field.

A node is eligible when the template's nodeSelector / required node affinity match it and its
NoSchedule/NoExecute taints are tolerated, counting the tolerations Kubernetes adds to every
DaemonSet pod (not-ready, unreachable, pressure conditions, unschedulable) — which is why the
article's plugin also lands on cordoned nodes. Pods are pinned to their node with
`matchFields metadata.name`, and the default scheduler binds them, as since Kubernetes 1.12.
A pod counts as available once it has been Ready for the DaemonSet's minReadySeconds.
A deleted pod is replaced once it is gone from the API, not while it is still terminating.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from typing import Any

from gpuconf.emulator.controllers import fit
from gpuconf.emulator.controllers.events import DAEMONSET_CONTROLLER, EventRecorder
from gpuconf.emulator.controllers.informer import Informer, KeyQueue, key_of
from gpuconf.emulator.controllers.podutil import (
    get_condition,
    is_ready,
    is_terminal,
    owned_by,
    pod_from_template,
)
from gpuconf.emulator.interface import ApiError, ClusterAPI

Obj = dict[str, Any]

REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
FAILED_POD_BACKOFF_S = 1.0

# Added by the DaemonSet controller to every pod it creates (pkg/controller/daemon/util).
DAEMON_TOLERATIONS: list[Obj] = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def template_hash(template: Obj) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def with_daemon_tolerations(template_spec: Obj) -> list[Obj]:
    tolerations = list(template_spec.get("tolerations") or [])
    for extra in DAEMON_TOLERATIONS:
        if not any(t.get("key") == extra["key"] and t.get("effect") == extra["effect"] for t in tolerations):
            tolerations.append(dict(extra))
    return tolerations


def node_should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """(should run, should continue running) for a daemon pod of this DaemonSet on this node.

    A new NoSchedule taint stops new daemon pods but leaves a running one in place (it then counts
    as misscheduled); only a NoExecute taint or a selector mismatch removes it, as in Kubernetes.
    """
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    probe = {"spec": {**spec, "tolerations": with_daemon_tolerations(spec)}}
    if not fit.matches_node_selector_and_affinity(probe, node):
        return False, False
    should_run = fit.untolerated_taint(probe, node) is None
    should_continue = fit.untolerated_taint(probe, node, effects=("NoExecute",)) is None
    return should_run, should_continue


def pin_to_node(pod_spec: Obj, node_name: str) -> Obj:
    """Replace the required node affinity's field terms so the pod can only go to `node_name`."""
    spec = copy.deepcopy(pod_spec)
    node_affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    field_term = {"key": "metadata.name", "operator": "In", "values": [node_name]}
    terms = required.get("nodeSelectorTerms") or [{}]
    required["nodeSelectorTerms"] = [
        {
            **t,
            "matchFields": [f for f in t.get("matchFields") or [] if f.get("key") != "metadata.name"]
            + [field_term],
        }
        for t in terms
    ]
    return spec


def ready_for_seconds(pod: Obj) -> float:
    """How long the pod's Ready condition has been True."""
    since = get_condition(pod.get("status") or {}, "Ready").get("lastTransitionTime")
    if not since:
        return 0.0
    then = dt.datetime.strptime(since[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    return (dt.datetime.now(dt.UTC) - then).total_seconds()


def _max_unavailable(ds: Obj, desired: int) -> int:
    rolling = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxUnavailable", 1)
    if isinstance(value, str) and value.endswith("%"):
        return max(1, desired * int(value[:-1]) // 100)
    return max(1, int(value))


class DaemonSetController:
    def __init__(self, api: ClusterAPI, daemonsets: Informer, pods: Informer, nodes: Informer) -> None:
        self.api = api
        self.daemonsets = daemonsets
        self.pods = pods
        self.nodes = nodes
        self.recorder = EventRecorder(api, DAEMONSET_CONTROLLER)
        self.queue = KeyQueue("daemonset-controller", self._reconcile)
        self._node_facts: dict[str, tuple[Any, ...]] = {}
        daemonsets.add_handler(lambda _t, ds: self.queue.add(key_of(ds)))
        pods.add_handler(self._on_pod)
        nodes.add_handler(self._on_node)

    def start(self) -> None:
        self.queue.start()

    async def stop(self) -> None:
        await self.queue.stop()

    def _on_pod(self, _event_type: str, pod: Obj) -> None:
        for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("kind") == "DaemonSet" and ref.get("controller"):
                self.queue.add(f"{pod['metadata']['namespace']}/{ref['name']}")

    def _on_node(self, event_type: str, node: Obj) -> None:
        name = node["metadata"]["name"]
        facts = (
            repr(node["metadata"].get("labels")),
            repr((node.get("spec") or {}).get("taints")),
            event_type == "DELETED",
        )
        if self._node_facts.get(name) == facts:
            return  # a heartbeat: nothing a DaemonSet cares about changed
        self._node_facts[name] = facts
        for ds in self.daemonsets.values():
            self.queue.add(key_of(ds))

    async def _reconcile(self, key: str) -> None:
        ds = self.daemonsets.get(key)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        namespace, uid = ds["metadata"]["namespace"], ds["metadata"]["uid"]
        template = (ds.get("spec") or {}).get("template") or {}
        revision = template_hash(template)
        by_node: dict[str, list[Obj]] = {}
        for pod in self.pods.values():
            if pod["metadata"].get("namespace") == namespace and owned_by(pod, uid):
                node_name = self._pod_node(pod)
                by_node.setdefault(node_name, []).append(pod)
        nodes = {n["metadata"]["name"]: n for n in self.nodes.values()}
        verdicts = {name: node_should_run(ds, node) for name, node in nodes.items()}
        eligible = {name for name, (run, _) in verdicts.items() if run}
        keep = {name for name, (_, stay) in verdicts.items() if stay}

        requeue_failed = False
        for name in sorted(eligible):
            pods = [p for p in by_node.get(name, []) if not p["metadata"].get("deletionTimestamp")]
            failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
            for pod in failed:
                # A failed daemon pod is replaced (after a short backoff in Kubernetes).
                self._delete(ds, pod)
                requeue_failed = True
            live = [p for p in pods if p not in failed]
            if not live and not failed and not self._still_running_on_node(by_node.get(name, [])):
                self._create(ds, template, name, revision)
            for extra in live[1:]:
                self._delete(ds, extra)
        for name, pods in by_node.items():
            if name not in keep:
                for pod in pods:
                    if not pod["metadata"].get("deletionTimestamp") and (pod.get("spec") or {}).get(
                        "nodeName"
                    ):
                        self._delete(ds, pod)  # misscheduled: the node no longer qualifies
        self._rolling_update(ds, by_node, eligible, revision)
        self._write_status(ds, by_node, eligible, nodes, revision)
        if requeue_failed:
            self.queue.add(key, delay=FAILED_POD_BACKOFF_S)

    @staticmethod
    def _still_running_on_node(pods: list[Obj]) -> bool:
        """Whether a pod being deleted may still run there: the replacement waits until it is gone.

        Kubernetes (without maxSurge, the only mode emulated here) keeps counting such a pod as the
        node's daemon pod until its kubelet has stopped it and removed it from the API. Replacing it
        earlier runs two copies side by side; for the device plugin that is two servers on one socket
        path, and the old one's shutdown removes the socket the new one has just bound (seen with
        in-process plugins, which start within milliseconds). A terminal pod no longer runs anything,
        so it does not hold the replacement back, as in pkg/controller/daemon."""
        return any(p["metadata"].get("deletionTimestamp") and not is_terminal(p) for p in pods)

    @staticmethod
    def _pod_node(pod: Obj) -> str:
        spec = pod.get("spec") or {}
        if spec.get("nodeName"):
            return str(spec["nodeName"])
        pinned = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution", {}
        ).get("nodeSelectorTerms") or [{}]
        for field in pinned[0].get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
        return ""

    def _rolling_update(
        self, ds: Obj, by_node: dict[str, list[Obj]], eligible: set[str], revision: str
    ) -> None:
        strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy != "RollingUpdate":
            return  # OnDelete: old pods stay until a user deletes them
        budget = _max_unavailable(ds, len(eligible))
        unavailable = 0
        old_ready: list[Obj] = []
        for name in eligible:
            live = [p for p in by_node.get(name, []) if not p["metadata"].get("deletionTimestamp")]
            if not live or not is_ready(live[0]):
                unavailable += 1
            if live and live[0]["metadata"].get("labels", {}).get(REVISION_LABEL) != revision:
                if is_ready(live[0]):
                    old_ready.append(live[0])
                else:
                    self._delete(ds, live[0])  # an old pod that isn't serving anyway goes first
        for pod in sorted(old_ready, key=lambda p: self._pod_node(p)):
            if unavailable >= budget:
                break
            self._delete(ds, pod)
            unavailable += 1

    def _create(self, ds: Obj, template: Obj, node_name: str, revision: str) -> None:
        meta = ds["metadata"]
        labels = {REVISION_LABEL: revision, GENERATION_LABEL: str(meta.get("generation", 1))}
        pod = pod_from_template(ds, template, generate_name=f"{meta['name']}-", extra_labels=labels)
        spec = pin_to_node(pod["spec"], node_name)
        spec["tolerations"] = with_daemon_tolerations(spec)
        pod["spec"] = spec
        try:
            created = self.api.create("pods", pod, namespace=meta["namespace"])
        except ApiError as err:
            self.recorder.warning(ds, "FailedCreate", f"Error creating: {err.message}")
            return
        self.pods.cache[key_of(created)] = created  # expectation: the watch event follows
        self.recorder.normal(ds, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    def _delete(self, ds: Obj, pod: Obj) -> None:
        try:
            self.api.delete("pods", pod["metadata"]["name"], namespace=pod["metadata"]["namespace"])
        except ApiError as err:
            if err.code != 404:
                raise
            return
        self.recorder.normal(ds, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")

    def _write_status(
        self, ds: Obj, by_node: dict[str, list[Obj]], eligible: set[str], nodes: dict[str, Obj], revision: str
    ) -> None:
        current = updated = ready = available = misscheduled = 0
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        recheck_in: float | None = None
        for name, pods in by_node.items():
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            if not live:
                continue
            if name in eligible:
                current += 1
                pod = live[0]
                if pod["metadata"].get("labels", {}).get(REVISION_LABEL) == revision:
                    updated += 1
                if is_ready(pod):
                    ready += 1
                    wait = min_ready - ready_for_seconds(pod)
                    if wait <= 0:
                        available += 1
                    else:  # available once it has been ready for minReadySeconds
                        recheck_in = wait if recheck_in is None else min(recheck_in, wait)
            elif name in nodes and (live[0].get("spec") or {}).get("nodeName"):
                misscheduled += 1
        desired = len(eligible)
        if recheck_in is not None:
            self.queue.add(key_of(ds), delay=recheck_in + 0.05)
        status: Obj = {
            "currentNumberScheduled": current,
            "desiredNumberScheduled": desired,
            "numberMisscheduled": misscheduled,
            "numberReady": ready,
            "numberAvailable": available,
            "updatedNumberScheduled": updated,
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        if desired - available > 0:
            status["numberUnavailable"] = desired - available
        for optional in ("numberAvailable", "updatedNumberScheduled"):
            if not status[optional]:
                del status[optional]  # omitempty in the API types, so a real server never shows 0
        if status == (ds.get("status") or {}):
            return
        fresh = {**ds, "metadata": dict(ds["metadata"]), "status": status}
        updated_ds = self.api.update(
            "daemonsets", fresh, namespace=ds["metadata"]["namespace"], subresource="status"
        )
        self.daemonsets.cache[key_of(updated_ds)] = updated_ds
