"""Does a pod fit a node? Pure functions with kube-scheduler's filter semantics and reason strings.

The reason strings are kube-scheduler's own (NodeResourcesFit, TaintToleration, NodeAffinity,
NodeUnschedulable plugins) because users and the suites grep events for them.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from gpuconf.emulator.controllers.resources import parse_quantity, pod_requests
from gpuconf.taints import tolerates, untolerated_taint

Obj = dict[str, Any]

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
# NodeResourcesFit's reasons: the pod count has its own wording, every other resource is
# "Insufficient <name>" (cpu, memory, ephemeral-storage, extended resources such as nvidia.com/gpu).
REASON_TOO_MANY_PODS = "Too many pods"
# Resource shortages can be solved by evicting lower-priority pods; the other filters cannot.
_RESOLVABLE_BY_PREEMPTION = ("Insufficient ", REASON_TOO_MANY_PODS)


def _expression_matches(expr: Obj, values: dict[str, str]) -> bool:
    key, operator, wanted = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
    present = key in values
    if operator == "In":
        return present and values[key] in wanted
    if operator == "NotIn":
        return not present or values[key] not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and wanted:
        try:
            have, limit = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return have > limit if operator == "Gt" else have < limit
    return False


def _term_matches(term: Obj, node: Obj) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    fields = {"metadata.name": (node.get("metadata") or {}).get("name", "")}
    expressions = term.get("matchExpressions") or []
    field_exprs = term.get("matchFields") or []
    if not expressions and not field_exprs:
        return False  # an empty term matches nothing, as in Kubernetes
    return all(_expression_matches(e, labels) for e in expressions) and all(
        _expression_matches(e, fields) for e in field_exprs
    )


def matches_node_selector_and_affinity(pod: Obj, node: Obj) -> bool:
    """nodeSelector AND requiredDuringSchedulingIgnoredDuringExecution (terms ORed)."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if terms is None:
        return True
    return any(_term_matches(t, node) for t in terms)


def insufficient_resources(pod: Obj, node: Obj, bound_pods: list[Obj]) -> list[str]:
    """Resources the node lacks for this pod, given pods already bound to it (names sorted)."""
    allocatable = {
        k: parse_quantity(v) for k, v in ((node.get("status") or {}).get("allocatable") or {}).items()
    }
    used: dict[str, Decimal] = {}
    for other in bound_pods:
        for name, q in pod_requests(other).items():
            used[name] = used.get(name, Decimal(0)) + q
    short = []
    for name, wanted in pod_requests(pod).items():
        if wanted == 0:
            continue
        if used.get(name, Decimal(0)) + wanted > allocatable.get(name, Decimal(0)):
            short.append(name)
    return sorted(short)


def unfit_reasons(pod: Obj, node: Obj, bound_pods: list[Obj]) -> list[str]:
    """Why the pod cannot go to this node, as kube-scheduler words it; empty when it fits."""
    reasons: list[str] = []
    if (node.get("spec") or {}).get("unschedulable"):
        tolerated = any(
            tolerates(t, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"})
            for t in (pod.get("spec") or {}).get("tolerations") or []
        )
        if not tolerated:
            return [REASON_UNSCHEDULABLE]
    if not matches_node_selector_and_affinity(pod, node):
        return [REASON_AFFINITY]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"]
    reasons.extend(resource_reason(name) for name in insufficient_resources(pod, node, bound_pods))
    return reasons


def resource_reason(name: str) -> str:
    """NodeResourcesFit's reason for a resource the node lacks (kube-scheduler's fit.go)."""
    return REASON_TOO_MANY_PODS if name == "pods" else f"Insufficient {name}"


def failed_scheduling_message(node_reasons: dict[str, list[str]], node_count: int) -> str:
    """The FailedScheduling event / PodScheduled condition message, with the preemption suffix.

    The double full stop is Kubernetes' own: FitError appends " %v." to a PostFilter message that
    already ends in one.

    e.g. "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are
    available: 1 No preemption victims found for incoming pod.."
    """
    counts: Counter[str] = Counter()
    preemption: Counter[str] = Counter()
    for reasons in node_reasons.values():
        counts.update(reasons)
        if reasons and all(r.startswith(_RESOLVABLE_BY_PREEMPTION) for r in reasons):
            preemption["No preemption victims found for incoming pod"] += 1
        else:
            preemption["Preemption is not helpful for scheduling"] += 1
    if node_count == 0:
        return "no nodes available to schedule pods"
    summary = ", ".join(sorted(f"{n} {r}" for r, n in counts.items()))
    pre = ", ".join(sorted(f"{n} {r}" for r, n in preemption.items()))
    return (
        f"0/{node_count} nodes are available: {summary}. "
        f"preemption: 0/{node_count} nodes are available: {pre}.."
    )
