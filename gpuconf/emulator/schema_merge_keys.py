"""Strategic-merge metadata for the types the emulator serves, transcribed from k8s.io/api struct tags.

Strategic merge patch and server-side apply both need to know, for every list in an object, whether
it is merged element by element (and by which key), merged as a set of scalars, or replaced whole.
Kubernetes reads that from the `patchStrategy` / `patchMergeKey` Go struct tags of k8s.io/api; this
module holds the same facts for the kinds the emulator serves, and nothing the tags do not say:

- a list with `patchStrategy:"merge"` and a `patchMergeKey` merges maps by that key
  (containers by `name`, volumeMounts by `mountPath`, ports by `containerPort`, conditions by `type`,
  ownerReferences by `uid`, ...);
- a list of scalars with `patchStrategy:"merge"` is a set (metadata.finalizers, node spec.podCIDRs);
- every other list is atomic and is replaced whole: tolerations, args, command, envFrom, node
  spec.taints (NodeSpec.Taints carries no patch tags), containerStatuses;
- `patchStrategy:"retainKeys"` (Deployment spec.strategy; PodSpec volumes as "merge,retainKeys")
  only tells clients to send `$retainKeys`; the server honours that directive wherever it appears.

Only fields that change the merge (or lead to such a field) are listed; any other field merges as
a plain map or is replaced as an atomic list, which is what the Go schema does for them too.
"""

from __future__ import annotations

from dataclasses import dataclass

MERGE = "merge"
REPLACE = "replace"


@dataclass(frozen=True)
class FieldMeta:
    """How one JSON field merges: `type` names the struct (or list element struct) it holds."""

    type: str | None = None
    strategy: str = ""  # "", "merge", "retainKeys", "merge,retainKeys"
    merge_key: str | None = None
    atomic_struct: bool = False  # `+structType=atomic`: server-side apply owns it as one value

    @property
    def merges_list(self) -> bool:
        return MERGE in self.strategy.split(",")


PLAIN = FieldMeta()


def _list(element_type: str | None, merge_key: str | None, strategy: str = MERGE) -> FieldMeta:
    return FieldMeta(type=element_type, strategy=strategy, merge_key=merge_key)


def _struct(type_name: str, *, atomic: bool = False) -> FieldMeta:
    return FieldMeta(type=type_name, atomic_struct=atomic)


_OBJECT_META = {"metadata": _struct("ObjectMeta")}

TYPES: dict[str, dict[str, FieldMeta]] = {
    "ObjectMeta": {
        "finalizers": _list(None, None),
        "ownerReferences": _list(None, "uid"),
    },
    "LabelSelector": {},
    # --- core/v1 Pod ---
    "Pod": {**_OBJECT_META, "spec": _struct("PodSpec"), "status": _struct("PodStatus")},
    "PodTemplateSpec": {**_OBJECT_META, "spec": _struct("PodSpec")},
    "PodSpec": {
        "volumes": _list(None, "name", "merge,retainKeys"),
        "initContainers": _list("Container", "name"),
        "containers": _list("Container", "name"),
        "ephemeralContainers": _list("Container", "name"),
        "imagePullSecrets": _list(None, "name"),
        "hostAliases": _list(None, "ip"),
        "topologySpreadConstraints": _list(None, "topologyKey"),
        "schedulingGates": _list(None, "name"),
        "resourceClaims": _list(None, "name", "merge,retainKeys"),
    },
    "Container": {
        "ports": _list(None, "containerPort"),
        "env": _list(None, "name"),
        "volumeMounts": _list(None, "mountPath"),
        "volumeDevices": _list(None, "devicePath"),
    },
    "PodStatus": {
        "conditions": _list(None, "type"),
        "podIPs": _list(None, "ip"),
        "hostIPs": _list(None, "ip"),
        "resourceClaimStatuses": _list(None, "name", "merge,retainKeys"),
    },
    # --- core/v1 Node, Namespace, ServiceAccount, Service ---
    "Node": {**_OBJECT_META, "spec": _struct("NodeSpec"), "status": _struct("NodeStatus")},
    "NodeSpec": {"podCIDRs": _list(None, None)},
    "NodeStatus": {"conditions": _list(None, "type"), "addresses": _list(None, "type")},
    "Namespace": {**_OBJECT_META, "status": _struct("NamespaceStatus")},
    "NamespaceStatus": {"conditions": _list(None, "type")},
    "ServiceAccount": {**_OBJECT_META, "secrets": _list(None, "name")},
    "Service": {**_OBJECT_META, "spec": _struct("ServiceSpec"), "status": _struct("ConditionsStatus")},
    "ServiceSpec": {"ports": _list(None, "port")},
    # --- apps/v1, batch/v1 workloads: their pod template is where kubectl's patches land ---
    "DaemonSet": {**_OBJECT_META, "spec": _struct("DaemonSetSpec"), "status": _struct("ConditionsStatus")},
    "DaemonSetSpec": {
        "selector": _struct("LabelSelector", atomic=True),
        "template": _struct("PodTemplateSpec"),
    },
    "Deployment": {**_OBJECT_META, "spec": _struct("DeploymentSpec"), "status": _struct("ConditionsStatus")},
    "DeploymentSpec": {
        "selector": _struct("LabelSelector", atomic=True),
        "template": _struct("PodTemplateSpec"),
        "strategy": FieldMeta(strategy="retainKeys"),
    },
    "ReplicaSet": {**_OBJECT_META, "spec": _struct("ReplicaSetSpec"), "status": _struct("ConditionsStatus")},
    "ReplicaSetSpec": {
        "selector": _struct("LabelSelector", atomic=True),
        "template": _struct("PodTemplateSpec"),
    },
    "StatefulSet": {**_OBJECT_META, "spec": _struct("ReplicaSetSpec"), "status": _struct("ConditionsStatus")},
    "Job": {**_OBJECT_META, "spec": _struct("JobSpec"), "status": _struct("ConditionsStatus")},
    "JobSpec": {
        "selector": _struct("LabelSelector", atomic=True),
        "template": _struct("PodTemplateSpec"),
    },
    "CronJob": {**_OBJECT_META, "spec": _struct("CronJobSpec")},
    "CronJobSpec": {"jobTemplate": _struct("JobTemplateSpec")},
    "JobTemplateSpec": {**_OBJECT_META, "spec": _struct("JobSpec")},
    "ConditionsStatus": {"conditions": _list(None, "type")},
    # --- kinds whose only structured part is their metadata ---
    "ObjectWithMeta": dict(_OBJECT_META),
}

_KIND_ROOTS = {
    "Pod": "Pod",
    "PodTemplate": "PodTemplateHolder",
    "Node": "Node",
    "Namespace": "Namespace",
    "ServiceAccount": "ServiceAccount",
    "Service": "Service",
    "DaemonSet": "DaemonSet",
    "Deployment": "Deployment",
    "ReplicaSet": "ReplicaSet",
    "StatefulSet": "StatefulSet",
    "Job": "Job",
    "CronJob": "CronJob",
}
TYPES["PodTemplateHolder"] = {**_OBJECT_META, "template": _struct("PodTemplateSpec")}


def root_type(kind: str | None) -> str:
    """The schema type of a top-level object of `kind` (ConfigMap, Lease, Event: metadata only)."""
    return _KIND_ROOTS.get(kind or "", "ObjectWithMeta")


def field_meta(type_name: str | None, field: str) -> FieldMeta:
    """Merge metadata of `field` inside `type_name`; unknown types and fields merge plainly."""
    if type_name is None:
        return PLAIN
    return TYPES.get(type_name, {}).get(field, PLAIN)
