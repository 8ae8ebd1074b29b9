"""One Cluster protocol, several backends (emulated, kind, kubeconfig, aks).

A backend is chosen once per test session. It provisions (or adopts) a cluster and hands back a
`ClusterHandle`: everything after that talks to "a Kubernetes API at a kubeconfig", so the suites
cannot tell an emulated cluster from a real one except through the declared capabilities.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Capabilities a backend may declare. A test needing one the backend lacks skips with a reason
# that says how to get it (see `missing_capability_reason`).
RUNS_CONTAINERS = "runs_containers"  # pods really run (processes or containers), logs are real
PROVISIONS_NODES = "provisions_nodes"  # the backend created the nodes and knows their VM size
REAL_GPU = "real_gpu"  # GPUs are physical (NVML), not faked
EMULATED = "emulated"  # the API server is gpuconf's embedded emulator
FAULT_INJECTION = "fault_injection"  # --emulator-fault works
AZURE = "azure"  # resources live in Azure (ARM), doc drift of sizes/headers is measurable
PLUGIN_RESTART = "plugin_restart"  # deleting a device-plugin pod brings a new one (DaemonSet controller)

CAPABILITY_HINTS = {
    RUNS_CONTAINERS: "use --cluster emulated, kind, or a real cluster",
    PROVISIONS_NODES: "use --cluster emulated, kind or aks, which create the nodes",
    REAL_GPU: "run on a GPU machine with --gpu real, or against a real GPU cluster "
    "(--cluster aks/kubeconfig)",
    EMULATED: "only the embedded cluster (--cluster emulated) supports this",
    FAULT_INJECTION: "fault injection needs the embedded cluster: --cluster emulated --emulator-fault NAME",
    AZURE: "needs a live AKS cluster: --cluster aks (with Azure credentials)",
    PLUGIN_RESTART: "needs a cluster whose DaemonSet controller recreates pods",
}


def missing_capability_reason(backend: str, capability: str) -> str:
    hint = CAPABILITY_HINTS.get(capability, "")
    return f"backend {backend!r} lacks capability {capability!r}" + (f": {hint}" if hint else "")


@dataclass
class ClusterHandle:
    """A running cluster as the suites see it."""

    backend: str
    kubeconfig: Path
    capabilities: frozenset[str]
    # Facts for reports (JUnit properties, summary header). Never put secrets here.
    properties: dict[str, str] = field(default_factory=dict)
    # Node-level expectations known from provisioning, by node name -> VM size (may be empty:
    # then the suites read node labels).
    vm_sizes: dict[str, str] = field(default_factory=dict)

    @property
    def emulated(self) -> bool:
        return EMULATED in self.capabilities

    def has(self, capability: str) -> bool:
        return capability in self.capabilities


class BackendUnavailable(Exception):
    """Infrastructure for this backend is missing (no Docker, no credentials): verdict `unavailable`."""


class DocDrift(Exception):
    """The article's instruction no longer works on today's platform: verdict `doc-drift`."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class Backend(abc.ABC):
    """Provision or adopt a cluster; always tear down what this backend created, and only that."""

    name: str = "abstract"

    def __init__(self, options: Any) -> None:
        self.options = options

    @abc.abstractmethod
    def provision(self) -> ClusterHandle:
        """Create or adopt the cluster. Raise BackendUnavailable or DocDrift where those apply."""

    @abc.abstractmethod
    def teardown(self) -> None:
        """Remove what provision() created (idempotent; safe after a partial provision)."""

    def close(self) -> None:
        """--keep-cluster: leave the cluster running but release what this process holds locally
        (credential files, SDK clients, signal handlers). Deletes nothing remote; idempotent.
        Backends holding nothing local need not override it."""
        return None
