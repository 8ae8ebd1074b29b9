"""Choose a backend by name, and share one cluster among pytest-xdist workers.

pytest-kind has no lock, so xdist workers race to create and delete the same cluster (REFERENCE §8).
Here a file lock guards a small state file: the first worker to arrive provisions and records the
cluster (kubeconfig, capabilities, how to tear it down); later workers reuse it and count themselves
in; the last to leave tears it down. Without xdist the same code runs with one participant.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from gpuconf.backends.base import Backend, ClusterHandle
from gpuconf.settings import SuiteSettings

LOCK_TIMEOUT_S = 900.0  # provisioning AKS can take this long while other workers wait


def make_backend(settings: SuiteSettings, config: Any = None) -> Backend:
    if settings.cluster == "emulated":
        from gpuconf.backends.emulated import EmulatedBackend

        return EmulatedBackend(settings)
    if settings.cluster == "kubeconfig":
        from gpuconf.backends.kubeconfig import KubeconfigBackend

        return KubeconfigBackend(settings)
    if settings.cluster == "kind":
        from gpuconf.backends.kind import KindBackend

        return KindBackend(settings)
    from gpuconf.backends.aks import AksBackend  # imports the Azure SDK: only when asked for

    return AksBackend(config if config is not None else settings)


@dataclass
class SharedCluster:
    """One cluster per test run, however many xdist workers take part."""

    run_id: str  # the same in every worker of one run (PYTEST_XDIST_TESTRUNUID), unique per run
    settings: SuiteSettings
    config: Any = None

    def __post_init__(self) -> None:
        base = Path(tempfile.gettempdir()) / f"gpuconf-run-{self.run_id}"
        base.mkdir(parents=True, exist_ok=True)
        self.state_path = base / "cluster.json"
        self.lock = FileLock(str(base / "cluster.lock"))
        self.backend: Backend | None = None

    def acquire(self) -> ClusterHandle:
        with self.lock.acquire(timeout=LOCK_TIMEOUT_S):
            state = self._read()
            if state and state.get("handle"):
                state["users"] += 1
                self._write(state)
                return _handle_from_dict(state["handle"])
            self.backend = make_backend(self.settings, self.config)
            handle = self.backend.provision()
            spec = self.backend.teardown_spec() if hasattr(self.backend, "teardown_spec") else {}
            self._write(
                {"users": 1, "handle": _handle_to_dict(handle), "owner_pid": os.getpid(), "spec": spec}
            )
            return handle

    def release(self) -> None:
        """Leave; the last participant tears the cluster down (unless --keep-cluster)."""
        with self.lock.acquire(timeout=LOCK_TIMEOUT_S):
            state = self._read()
            if not state:
                return
            state["users"] -= 1
            if state["users"] > 0:
                self._write(state)
                return
            self.state_path.unlink(missing_ok=True)
            if self.settings.keep_cluster:
                return
            if self.backend is not None:
                self.backend.teardown()
            elif self.settings.cluster == "emulated":
                from gpuconf.backends.emulated import teardown_from_spec

                teardown_from_spec(state.get("spec", {}))

    def _read(self) -> dict[str, Any] | None:
        if not self.state_path.exists():
            return None
        return json.loads(self.state_path.read_text())

    def _write(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_path)


def _handle_to_dict(handle: ClusterHandle) -> dict[str, Any]:
    return {
        "backend": handle.backend,
        "kubeconfig": str(handle.kubeconfig),
        "capabilities": sorted(handle.capabilities),
        "properties": handle.properties,
        "vm_sizes": handle.vm_sizes,
    }


def _handle_from_dict(data: dict[str, Any]) -> ClusterHandle:
    return ClusterHandle(
        backend=data["backend"],
        kubeconfig=Path(data["kubeconfig"]),
        capabilities=frozenset(data["capabilities"]),
        properties=data["properties"],
        vm_sizes=data["vm_sizes"],
    )
