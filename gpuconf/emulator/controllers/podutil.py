"""Small pod helpers shared by the scheduler, the controllers and the kubelet."""

from __future__ import annotations

from typing import Any

from gpuconf.emulator.controllers.events import now_rfc3339
from gpuconf.emulator.interface import ApiError, ClusterAPI

Obj = dict[str, Any]


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_ready(pod: Obj) -> bool:
    return get_condition(pod.get("status") or {}, "Ready").get("status") == "True"


def get_condition(status: Obj, kind: str) -> Obj:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def set_condition(status: Obj, condition: Obj) -> bool:
    """Insert or replace a condition by type; keep lastTransitionTime when status is unchanged.

    Returns True when anything changed.
    """
    conditions = status.setdefault("conditions", [])
    for i, existing in enumerate(conditions):
        if existing.get("type") == condition["type"]:
            if existing.get("status") == condition.get("status"):
                condition = {**condition, "lastTransitionTime": existing.get("lastTransitionTime")}
            if existing == condition:
                return False
            conditions[i] = condition
            return True
    conditions.append(condition)
    return True


def bind_pod(api: ClusterAPI, pod: Obj, node_name: str) -> Obj:
    """Assign the pod to a node and mark it PodScheduled: the pods/binding subresource.

    The store's `bind` (what POST pods/{name}/binding calls) is used when the API object has it;
    a bare ClusterAPI gets the equivalent two writes, guarded by the pod's uid.
    """
    meta = pod["metadata"]
    binder = getattr(api, "bind", None)
    if binder is not None:
        return binder(meta["name"], meta["namespace"], node_name)
    fresh = api.get("pods", meta["name"], namespace=meta["namespace"])
    if fresh["metadata"]["uid"] != meta["uid"] or fresh["spec"].get("nodeName"):
        raise ApiError(409, "Conflict", f'pod "{meta["name"]}" is already assigned or was replaced')
    fresh["spec"]["nodeName"] = node_name
    bound = api.update("pods", fresh, namespace=meta["namespace"])
    status = bound.setdefault("status", {})
    set_condition(
        status,
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": now_rfc3339(),
        },
    )
    status.setdefault("phase", "Pending")
    return api.update("pods", bound, namespace=meta["namespace"], subresource="status")


def controller_ref(owner: Obj) -> Obj:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Obj, owner_uid: str) -> bool:
    return any(
        ref.get("uid") == owner_uid and ref.get("controller")
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
    )


def pod_from_template(owner: Obj, template: Obj, *, generate_name: str, extra_labels: dict[str, str]) -> Obj:
    """A pod built from a pod template, owned by `owner`, as ReplicaSet/Job/DaemonSet controllers do."""
    tmeta = template.get("metadata") or {}
    pod_meta: Obj = {
        "generateName": generate_name,
        "namespace": owner["metadata"]["namespace"],
        "labels": {**(tmeta.get("labels") or {}), **extra_labels},
        "ownerReferences": [controller_ref(owner)],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": dict(template.get("spec") or {})}
