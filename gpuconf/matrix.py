"""What the suite is parametrized over, known before any cluster exists: GPU nodes and workloads.

Tests are generated at collection time, so the GPU-node inventory must be known then:
  - backends that create the nodes know it from their settings (the embedded cluster: --vm-size x
    --nodes; AKS: one node per GPU pool);
  - for an existing cluster it is --vm-size x --nodes when given, else read from the cluster itself
    (one bounded `list nodes`);
  - when it cannot be known (an unreachable cluster: that run ends `unavailable` anyway) there is one
    slot that stands for every GPU node.
A slot is (VM size, ordinal): the ordinal-th GPU node of that size in natural name order, resolved
to a real node name when the test runs (AKS node names carry random suffixes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gpuconf.nodes import expected_gpu_count, node_vm_size
from gpuconf.workloads import WORKLOADS, Workload

# A collection-time read of an existing cluster's nodes: short, it only names the tests.
DISCOVERY_TIMEOUT_S = 10.0

Inventory = dict[str, int]  # GPU VM size -> GPU nodes of that size, in the order the user gave them


@dataclass(frozen=True)
class NodeSlot:
    vm_size: str | None  # None: every GPU node (inventory unknown at collection)
    ordinal: int = 0

    @property
    def id(self) -> str:
        return f"{self.vm_size}-{self.ordinal}" if self.vm_size else "every-gpu-node"


@dataclass(frozen=True)
class WorkloadCase:
    workload: Workload
    vm_size: str | None  # the VM size it must run on; None: any GPU node
    pinned: bool  # several VM sizes: pinned by nodeSelector and named after its size

    @property
    def id(self) -> str:
        return f"{self.workload.name}-on-{self.vm_size}" if self.vm_size else self.workload.name

    def object_name(self, manifest_name: str) -> str:
        """The manifest's name, verbatim unless several sizes run the same workload side by side."""
        if not self.pinned or not self.vm_size:
            return manifest_name
        slug = self.vm_size.lower().removeprefix("standard_").replace("_", "-")
        return f"{manifest_name}-{slug}"


def node_slots(inventory: Inventory | None) -> list[NodeSlot]:
    if not inventory:
        return [NodeSlot(None)]
    return [NodeSlot(size, i) for size, count in inventory.items() for i in range(count)]


def workload_cases(inventory: Inventory | None) -> list[WorkloadCase]:
    """Every workload on every GPU VM size: workloads outer, so each one reads as a block."""
    sizes: list[str | None] = list(inventory) if inventory else [None]
    pinned = len(sizes) > 1
    return [WorkloadCase(w, size, pinned) for w in WORKLOADS for size in sizes]


def planned_inventory(vm_sizes: tuple[str, ...], nodes_per_size: int) -> Inventory:
    return {size: nodes_per_size for size in dict.fromkeys(vm_sizes)}


def discover_inventory(kubeconfig: Path, gpu_count_option: int | None = None) -> Inventory | None:
    """The GPU nodes of an existing cluster by VM size, or None if it cannot be read right now."""
    from gpuconf.kube import Kube  # the official client: only imported when a cluster is read

    try:
        kube = Kube.from_kubeconfig(kubeconfig)
    except ValueError:
        return None
    try:
        nodes = kube.read(kube.core.list_node, _request_timeout=DISCOVERY_TIMEOUT_S)["items"]
    except Exception:  # noqa: BLE001 - unreachable or refusing: the run's fixtures say why
        return None
    finally:
        kube.close()
    sizes = Counter(
        node_vm_size(n) or "unknown-size" for n in nodes if expected_gpu_count(n, gpu_count_option) > 0
    )
    return dict(sorted(sizes.items())) or None
