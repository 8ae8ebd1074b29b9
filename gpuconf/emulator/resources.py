"""The resource types the emulated API server serves, and how each is addressed.

One table drives routing, discovery, OpenAPI, schema checks and Table output, so adding a
resource is one entry here (plus its defaulting/validation rules where it has any).
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuconf.emulator.interface import ApiError

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = {"status": ("get", "patch", "update"), "log": ("get",), "binding": ("create",)}


@dataclass(frozen=True)
class ResourceType:
    plural: str
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    # The kubernetes client model describing the wire schema (used for pruning/validation).
    model: str
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Resources whose spec changes bump metadata.generation (the others never set it).
    has_generation: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_version(self) -> tuple[str, str]:
        return (self.group, self.version)


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("namespaces", "Namespace", "", "v1", False, "V1Namespace", ("ns",), ("status",)),
    ResourceType("nodes", "Node", "", "v1", False, "V1Node", ("no",), ("status",)),
    ResourceType(
        "pods",
        "Pod",
        "",
        "v1",
        True,
        "V1Pod",
        ("po",),
        ("status", "log", "binding"),
        ("all",),
        has_generation=True,
    ),
    ResourceType("events", "Event", "", "v1", True, "CoreV1Event", ("ev",)),
    ResourceType("configmaps", "ConfigMap", "", "v1", True, "V1ConfigMap", ("cm",)),
    ResourceType("serviceaccounts", "ServiceAccount", "", "v1", True, "V1ServiceAccount", ("sa",)),
    ResourceType(
        "daemonsets",
        "DaemonSet",
        "apps",
        "v1",
        True,
        "V1DaemonSet",
        ("ds",),
        ("status",),
        ("all",),
        has_generation=True,
    ),
    ResourceType("jobs", "Job", "batch", "v1", True, "V1Job", (), ("status",), ("all",), has_generation=True),
    ResourceType("leases", "Lease", "coordination.k8s.io", "v1", True, "V1Lease"),
)

BY_PLURAL: dict[str, ResourceType] = {r.plural: r for r in RESOURCES}
BY_GROUP_VERSION: dict[tuple[str, str], dict[str, ResourceType]] = {}
for _r in RESOURCES:
    BY_GROUP_VERSION.setdefault(_r.group_version, {})[_r.plural] = _r


def resource_type(plural: str) -> ResourceType:
    """The type served under `plural`, or 404 NotFound as a real server answers an unknown resource."""
    try:
        return BY_PLURAL[plural]
    except KeyError:
        raise ApiError(
            404, "NotFound", f"the server could not find the requested resource ({plural})"
        ) from None


def served_at(group: str, version: str, plural: str) -> ResourceType:
    """The type for an URL's group/version/plural; 404 for anything the server does not serve there."""
    found = BY_GROUP_VERSION.get((group, version), {}).get(plural)
    if found is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return found
