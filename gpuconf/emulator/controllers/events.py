"""Kubernetes Events (core/v1) written the way client-go's recorder writes them.

Repeated events with the same source, object, reason and message are aggregated into one Event
whose `count` and `lastTimestamp` grow, which is what `kubectl describe` shows as "(x5 over 2m)".
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from gpuconf.emulator.interface import ApiError, ClusterAPI

Obj = dict[str, Any]

SCHEDULER = "default-scheduler"
KUBELET = "kubelet"
JOB_CONTROLLER = "job-controller"
DAEMONSET_CONTROLLER = "daemonset-controller"
NODE_CONTROLLER = "node-controller"

_sequence = itertools.count(1)
# Aggregation memory per recorder; beyond this the oldest keys are forgotten (a new Event starts).
AGGREGATION_KEYS = 4096


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def object_reference(obj: Obj, field_path: str | None = None) -> Obj:
    meta = obj.get("metadata") or {}
    ref: Obj = {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class EventRecorder:
    """Writes Events for one component (and host, for kubelets) through ClusterAPI."""

    def __init__(self, api: ClusterAPI, component: str, host: str | None = None) -> None:
        self.api = api
        self.component = component
        self.host = host
        self._aggregated: dict[tuple[str, ...], str] = {}

    def emit(
        self, obj: Obj, event_type: str, reason: str, message: str, *, field_path: str | None = None
    ) -> None:
        ref = object_reference(obj, field_path)
        # Nodes and namespaces are cluster-scoped: their events live in "default", as in Kubernetes.
        namespace = ref.get("namespace") or "default"
        key = (namespace, str(ref.get("uid")), field_path or "", reason, message, event_type)
        stamp = now_rfc3339()
        existing = self._aggregated.get(key)
        if existing is not None:
            try:
                event = self.api.get("events", existing, namespace=namespace)
                event["count"] = int(event.get("count") or 1) + 1
                event["lastTimestamp"] = stamp
                event["metadata"].pop("resourceVersion", None)
                self.api.update("events", event, namespace=namespace)
                return
            except ApiError:
                self._aggregated.pop(key, None)  # deleted (namespace gone, TTL): start a new one
        name = f"{ref.get('name')}.{dt.datetime.now(dt.UTC).strftime('%H%M%S%f')}{next(_sequence):04x}"
        source: Obj = {"component": self.component}
        if self.host:
            source["host"] = self.host
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": source,
            "reportingComponent": self.component,
            "reportingInstance": self.host or "",
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            self.api.create("events", event, namespace=namespace)
        except ApiError:
            return  # the namespace is terminating: Kubernetes drops such events too
        self._aggregated[key] = name
        if len(self._aggregated) > AGGREGATION_KEYS:
            del self._aggregated[next(iter(self._aggregated))]

    def normal(self, obj: Obj, reason: str, message: str, *, field_path: str | None = None) -> None:
        self.emit(obj, "Normal", reason, message, field_path=field_path)

    def warning(self, obj: Obj, reason: str, message: str, *, field_path: str | None = None) -> None:
        self.emit(obj, "Warning", reason, message, field_path=field_path)
