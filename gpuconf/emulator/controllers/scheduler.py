"""default-scheduler: binds pending pods to nodes that fit, or marks them Unschedulable.

One scheduling pass places every pending pod in creation order against a snapshot of nodes and
the pods already bound to them (bindings made earlier in the pass count immediately, so two pods
never share one GPU). Pods that fit nowhere get PodScheduled=False/Unschedulable and a
FailedScheduling event; they are retried whenever a node's schedulable facts change or a bound pod
goes away, as kube-scheduler's unschedulable queue does on cluster events.
"""

from __future__ import annotations

from typing import Any

from gpuconf.emulator.controllers import fit
from gpuconf.emulator.controllers.events import SCHEDULER, EventRecorder, now_rfc3339
from gpuconf.emulator.controllers.informer import Informer, KeyQueue, key_of
from gpuconf.emulator.controllers.podutil import bind_pod, is_terminal, set_condition
from gpuconf.emulator.interface import ApiError, ClusterAPI

Obj = dict[str, Any]
_PASS = "pass"


def _node_fingerprint(node: Obj) -> tuple[Any, ...]:
    """The node facts that can change a scheduling decision (heartbeats alone do not)."""
    spec, status = node.get("spec") or {}, node.get("status") or {}
    return (
        tuple(sorted((node["metadata"].get("labels") or {}).items())),
        bool(spec.get("unschedulable")),
        repr(spec.get("taints")),
        tuple(sorted((status.get("allocatable") or {}).items())),
    )


def candidate_node_names(pod: Obj) -> set[str] | None:
    """Nodes a pod pins itself to by `matchFields metadata.name In [...]` (DaemonSet pods), else None.

    kube-scheduler's NodeAffinity PreFilter does the same, which keeps 1,000 DaemonSet pods from
    costing a million fit checks.
    """
    required = (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    names: set[str] = set()
    for term in required.get("nodeSelectorTerms") or []:
        fields = [f for f in term.get("matchFields") or [] if f.get("key") == "metadata.name"]
        if not fields or fields[0].get("operator") != "In":
            return None
        names.update(fields[0].get("values") or [])
    return names or None


class Scheduler:
    def __init__(self, api: ClusterAPI, pods: Informer, nodes: Informer) -> None:
        self.api = api
        self.pods = pods
        self.nodes = nodes
        self.recorder = EventRecorder(api, SCHEDULER)
        self.queue = KeyQueue("scheduler", self._reconcile)
        self._fingerprints: dict[str, tuple[Any, ...]] = {}
        self._unschedulable: set[str] = set()
        pods.add_handler(self._on_pod)
        nodes.add_handler(self._on_node)

    def start(self) -> None:
        self.queue.start()
        self.queue.add(_PASS)

    async def stop(self) -> None:
        await self.queue.stop()

    def _on_pod(self, event_type: str, pod: Obj) -> None:
        spec = pod.get("spec") or {}
        if event_type != "DELETED" and not spec.get("nodeName"):
            self.queue.add(_PASS)
        elif self._unschedulable and (event_type == "DELETED" or is_terminal(pod)):
            self.queue.add(_PASS)  # resources were freed

    def _on_node(self, event_type: str, node: Obj) -> None:
        name = node["metadata"]["name"]
        if event_type == "DELETED":
            self._fingerprints.pop(name, None)
            return
        fingerprint = _node_fingerprint(node)
        if self._fingerprints.get(name) != fingerprint:
            self._fingerprints[name] = fingerprint
            self.queue.add(_PASS)

    async def _reconcile(self, _key: str) -> None:
        pending = [
            p
            for p in self.pods.values()
            if not (p.get("spec") or {}).get("nodeName")
            and not (p.get("metadata") or {}).get("deletionTimestamp")
            and (p.get("spec") or {}).get("schedulerName", "default-scheduler") == "default-scheduler"
            and not is_terminal(p)
        ]
        if not pending:
            self._unschedulable.clear()
            return
        pending.sort(key=lambda p: (p["metadata"].get("creationTimestamp") or "", key_of(p)))
        nodes = {n["metadata"]["name"]: n for n in self.nodes.values()}
        bound: dict[str, list[Obj]] = {name: [] for name in nodes}
        for pod in self.pods.values():
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name in bound and not is_terminal(pod):
                bound[node_name].append(pod)
        still_unschedulable: set[str] = set()
        for pod in pending:
            pinned = candidate_node_names(pod)
            names = sorted(nodes if pinned is None else (pinned & nodes.keys()))
            reasons: dict[str, list[str]] = {}
            chosen = None
            for name in names:
                why = fit.unfit_reasons(pod, nodes[name], bound[name])
                if not why:
                    chosen = name
                    break
                reasons[name] = why
            if chosen is None:
                # Nodes excluded by the pre-filter count as "didn't match" in the message.
                for name in nodes.keys() - set(names):
                    reasons[name] = [fit.REASON_AFFINITY]
                still_unschedulable.add(key_of(pod))
                self._mark_unschedulable(pod, fit.failed_scheduling_message(reasons, len(nodes)))
                continue
            try:
                bind_pod(self.api, pod, chosen)
            except ApiError:
                continue  # deleted or changed meanwhile: the next pass sees the fresh pod
            bound[chosen].append(pod)
            namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            self.recorder.normal(pod, "Scheduled", f"Successfully assigned {namespace}/{name} to {chosen}")
        self._unschedulable = still_unschedulable

    def _mark_unschedulable(self, pod: Obj, message: str) -> None:
        self.recorder.warning(pod, "FailedScheduling", message)
        status = pod.get("status") or {}
        current = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if current and current.get("status") == "False" and current.get("message") == message:
            return
        fresh = self.api.get("pods", pod["metadata"]["name"], namespace=pod["metadata"]["namespace"])
        fresh.setdefault("status", {})["phase"] = "Pending"
        set_condition(
            fresh["status"],
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
            },
        )
        self.api.update("pods", fresh, namespace=fresh["metadata"]["namespace"], subresource="status")
