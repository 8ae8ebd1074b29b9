"""Backend `aks`: a live AKS cluster created through ARM (or adopted with --aks-cluster RG/NAME).

From provision() to teardown(), SIGTERM is turned into KeyboardInterrupt (SIGINT already is one) so
that a runner cancelling the job unwinds through the same path as Ctrl-C: whatever was created is
deleted in reverse order, and the kubeconfig file is removed.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

from azure.core.exceptions import AzureError

from gpuconf.azure.clients import ArmClients, make_clients, make_credential
from gpuconf.azure.operations import ProgressLog
from gpuconf.azure.plan import expected_gpus
from gpuconf.azure.provisioner import AksProvisioner, Provisioned
from gpuconf.azure.settings import PUBLIC_ARM_ENDPOINT, AksSettings, from_options
from gpuconf.azure.verdicts import to_verdict
from gpuconf.backends.base import (
    AZURE,
    PLUGIN_RESTART,
    PROVISIONS_NODES,
    REAL_GPU,
    RUNS_CONTAINERS,
    Backend,
    BackendUnavailable,
    ClusterHandle,
)


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class AksBackend(Backend):
    name = "aks"

    def __init__(self, options: Any, progress: ProgressLog | None = None) -> None:
        """`options`: AksSettings, pytest's Config, or a namespace with the fixtures/aks.py dests.
        Bad values raise SettingsError (a ValueError) with one line naming the flag."""
        super().__init__(options)
        self.settings: AksSettings = from_options(options, os.environ)
        for size in self.settings.vm_sizes:
            expected_gpus(self.settings, size)  # a --gpu-count-per-node the table contradicts fails now
        self.progress = progress or ProgressLog()
        self._clients: ArmClients | None = None
        self._provisioner: AksProvisioner | None = None
        self._previous_sigterm: Any = None

    def provision(self) -> ClusterHandle:
        if not self.settings.subscription:
            raise BackendUnavailable(
                "no Azure subscription: pass --subscription or set AZURE_SUBSCRIPTION_ID"
            )
        self._trap_sigterm()
        try:
            credential, description = make_credential(self.settings)
            self._clients = make_clients(self.settings, credential, description)
            self._provisioner = AksProvisioner(self.settings, self._clients, self.progress)
            result = self._provisioner.provision()
        except BaseException as err:
            self.progress.line(f"provisioning stopped ({type(err).__name__}): deleting what was created")
            try:
                self.teardown()
            except Exception as cleanup_error:  # noqa: BLE001 - the provisioning error is the verdict
                err.add_note(f"teardown also failed: {cleanup_error}")
                self.progress.line(f"teardown also failed: {cleanup_error}")
            if isinstance(err, AzureError):
                description = (
                    self._clients.credential_description if self._clients else "DefaultAzureCredential"
                )
                raise to_verdict(err, "provisioning AKS", description) from err
            raise
        return self._handle(result)

    def _handle(self, result: Provisioned) -> ClusterHandle:
        capabilities = {RUNS_CONTAINERS, REAL_GPU, AZURE, PLUGIN_RESTART}
        if not result.reused:
            capabilities.add(PROVISIONS_NODES)
        properties = {
            "aks.resource_group": result.resource_group,
            "aks.cluster": result.cluster,
            "aks.mode": "reused" if result.reused else "created",
            "aks.doc_profile": self.settings.doc_profile,
            "aks.gpu_driver": self.settings.gpu_driver,
            "aks.gpu_pools": ",".join(f"{n}={s}" for n, s in sorted(result.gpu_pools.items())),
            "aks.gpus_per_node": ",".join(
                f"{size}={count}" for size, count in sorted(result.gpus_per_node.items()) if count is not None
            ),
        }
        if not result.reused:
            properties["aks.location"] = self.settings.location
            properties["aks.expires_at"] = result.tags.get("expires-at", "")
        if self.settings.arm_endpoint != PUBLIC_ARM_ENDPOINT:
            # Reports must show when "AKS" was a sovereign cloud or the offline fake ARM.
            properties["aks.arm_endpoint"] = self.settings.arm_endpoint
        return ClusterHandle(self.name, result.kubeconfig, frozenset(capabilities), properties)

    def teardown(self) -> None:
        try:
            if self._provisioner is not None:
                self._provisioner.teardown()
        finally:
            self._release_local()

    def close(self) -> None:
        """--keep-cluster: leave the cluster in Azure, but remove the kubeconfig file and close the
        ARM clients (and give SIGTERM back)."""
        try:
            if self._provisioner is not None:
                self._provisioner.close()
        finally:
            self._release_local()

    def _release_local(self) -> None:
        if self._clients is not None:
            self._clients.close()
            self._clients = None
        self._restore_sigterm()

    def _trap_sigterm(self) -> None:
        # signal handlers can only be installed from the main thread (xdist workers run there too).
        if threading.current_thread() is threading.main_thread() and self._previous_sigterm is None:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
