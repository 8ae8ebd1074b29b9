"""Named timeouts, defined once (ARCHITECTURE principle 4).

Every wait in the suite takes one of these by name, so a failure says which budget ran out and a
user can stretch all of them at once with --timeout-factor. Defaults differ per tier: the embedded
cluster finishes the whole article in seconds; a fresh AKS GPU node pool pulls multi-GB images.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Timeouts:
    api_ready: float  # the API server answers /version
    namespace_active: float
    nodes_ready: float  # every node Ready
    daemonset_rollout: float  # the device-plugin DaemonSet fully rolled out
    gpu_advertised: float  # capacity and allocatable show the GPUs on every GPU node
    pod_scheduled: float  # the workload pod is bound to a node
    job_complete: float  # the article's Job reaches 1/1 (includes image pull and training)
    object_deleted: float  # an object (and its dependants) is gone after delete

    def scaled(self, factor: float) -> Timeouts:
        if factor <= 0:
            raise ValueError(f"--timeout-factor must be positive, not {factor}")
        return replace(self, **{f.name: getattr(self, f.name) * factor for f in fields(self)})

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# The embedded cluster: generous against a loaded 2-core CI machine, still far below what a hung
# step would burn on the polling tools (REFERENCE §8).
EMULATED = Timeouts(
    api_ready=20,
    namespace_active=10,
    nodes_ready=20,
    daemonset_rollout=30,
    gpu_advertised=30,
    pod_scheduled=20,
    job_complete=60,
    object_deleted=30,
)

# Real clusters (kind, an existing cluster, AKS): image pulls and driver setup take minutes.
REAL = Timeouts(
    api_ready=60,
    namespace_active=60,
    nodes_ready=600,
    daemonset_rollout=600,
    gpu_advertised=600,
    pod_scheduled=300,
    job_complete=1800,
    object_deleted=300,
)


def for_backend(emulated: bool, factor: float = 1.0) -> Timeouts:
    return (EMULATED if emulated else REAL).scaled(factor)
