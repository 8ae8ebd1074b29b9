"""Defaulting a real API server applies on create and update, per resource type.

Controllers and tests rely on these fields being present (the typed Python client refuses to
deserialize a DaemonSetStatus without its counters; kubectl's describe prints restartPolicy), so the
emulator fills exactly what kube-apiserver's defaulting functions fill for these kinds.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _default_image_pull_policy(image: str) -> str:
    # Kubernetes: "Always" when the tag is :latest or missing (a digest counts as pinned).
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_container(container: Obj) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    if isinstance(container.get("image"), str):
        container.setdefault("imagePullPolicy", _default_image_pull_policy(container["image"]))
    resources = container.setdefault("resources", {})
    limits = resources.get("limits") or {}
    if limits:
        # Requests default to limits for any resource that only has a limit (extended resources
        # such as nvidia.com/gpu may only be given as limits, as the article does).
        requests = resources.setdefault("requests", {})
        for name, value in limits.items():
            requests.setdefault(name, value)
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def default_pod_spec(spec: Obj, *, restart_policy: str = "Always") -> None:
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            _default_container(container)
    for toleration in spec.get("tolerations") or []:
        if "operator" not in toleration:
            toleration["operator"] = "Equal"


def _default_pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    default_pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("priority", 0)
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _default_daemonset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
    status = obj.setdefault("status", {})
    for counter in ("currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled", "numberReady"):
        status.setdefault(counter, 0)


def _default_job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template = spec.setdefault("template", {})
    default_pod_spec(template.setdefault("spec", {}), restart_policy="Never")
    if not spec.get("manualSelector"):
        # The Job controller finds its pods by the Job's uid, exactly as kube-apiserver generates it.
        uid = obj["metadata"]["uid"]
        name = obj["metadata"]["name"]
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.setdefault("batch.kubernetes.io/controller-uid", uid)
        labels.setdefault("batch.kubernetes.io/job-name", name)
        labels.setdefault("controller-uid", uid)
        labels.setdefault("job-name", name)
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})


def _default_namespace(obj: Obj) -> None:
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _default_event(obj: Obj) -> None:
    obj.setdefault("type", "Normal")
    obj.setdefault("count", 1)


_DEFAULTERS = {
    "pods": _default_pod,
    "daemonsets": _default_daemonset,
    "jobs": _default_job,
    "namespaces": _default_namespace,
    "events": _default_event,
}


def apply_defaults(resource: str, obj: Obj) -> None:
    """Fill defaulted fields in place (needs metadata.name and, for jobs, metadata.uid set)."""
    defaulter = _DEFAULTERS.get(resource)
    if defaulter is not None:
        defaulter(obj)
