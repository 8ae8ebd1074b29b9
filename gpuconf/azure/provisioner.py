"""Create (or adopt) the AKS cluster for a run, and delete exactly what was created, in reverse order.

Every resource is recorded BEFORE its create request is sent: if Ctrl-C lands while a PUT is in
flight, teardown still deletes it (deleting something that never came into being answers 204/404,
which counts as gone).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerservice.models import AgentPool, ManagedCluster

from gpuconf.azure.clients import ArmClients
from gpuconf.azure.kubeconfig_file import PrivateKubeconfig
from gpuconf.azure.operations import LongOperation, ProgressLog, run_all
from gpuconf.azure.plan import ClusterPlan, make_plan, table_gpu_count
from gpuconf.azure.settings import AksSettings
from gpuconf.azure.verdicts import ArmOperationFailed, arm_code_and_message, to_verdict
from gpuconf.backends.base import BackendUnavailable


class TeardownFailed(RuntimeError):
    """Something this run created could not be deleted: the run fails (nothing may leak silently)."""


@dataclass
class Created:
    kind: str  # "group" | "cluster" | "pool"
    name: str


@dataclass
class Provisioned:
    resource_group: str
    cluster: str
    kubeconfig: Path
    reused: bool
    gpu_pools: dict[str, str]  # pool name -> VM size
    gpus_per_node: dict[str, int | None] = field(default_factory=dict)  # VM size -> GPUs
    tags: dict[str, str] = field(default_factory=dict)


class AksProvisioner:
    def __init__(self, settings: AksSettings, clients: ArmClients, progress: ProgressLog) -> None:
        self.settings = settings
        self.clients = clients
        self.progress = progress
        self.created: list[Created] = []
        self._lock = threading.Lock()
        self._kubeconfig = PrivateKubeconfig()
        self.resource_group = ""
        self.cluster = ""

    # -- helpers -------------------------------------------------------------------------------
    def _verdict(self, err: Exception, what: str, headers: dict[str, str] | None = None) -> Exception:
        return to_verdict(err, what, self.clients.credential_description, headers)

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        self.progress.line(what)
        try:
            return fn()
        except HttpResponseError as err:
            raise self._verdict(err, what) from err

    def _run(self, operations: list[LongOperation]) -> list[Any]:
        return run_all(
            operations,
            timeout_s=self.settings.operation_timeout_s,
            progress_every_s=self.settings.progress_every_s,
            progress=self.progress,
            translate=lambda err, op: self._verdict(err, op.what, op.headers),
        )

    def _record(self, kind: str, name: str) -> None:
        with self._lock:
            self.created.append(Created(kind, name))

    # -- provisioning ------------------------------------------------------------------------------
    def provision(self) -> Provisioned:
        if self.settings.existing_cluster is not None:
            return self._adopt(*self.settings.existing_cluster)
        plan = make_plan(self.settings)
        self.resource_group, self.cluster = plan.resource_group, plan.cluster
        self._ensure_group(plan)
        self._create_cluster(plan)
        self._create_gpu_pools(plan)
        pools = {p.name: p.vm_size for p in plan.gpu_pools}
        if plan.inline_gpu_pool is not None:
            pools[plan.inline_gpu_pool[0]] = plan.inline_gpu_pool[1]
        kubeconfig = self._fetch_kubeconfig(plan.resource_group, plan.cluster)
        return Provisioned(
            plan.resource_group, plan.cluster, kubeconfig, False, pools, plan.gpus_per_node, plan.tags
        )

    def _ensure_group(self, plan: ClusterPlan) -> None:
        groups = self.clients.resources.resource_groups
        if self.settings.resource_group and self._call(
            f"checking resource group {plan.resource_group}",
            lambda: groups.check_existence(plan.resource_group),
        ):
            # The user's own group: we put our cluster in it but never delete or retag it.
            self.progress.line(
                f"using existing resource group {plan.resource_group} (it will not be deleted)"
            )
            return
        self._record("group", plan.resource_group)
        body = {"location": plan.location, "tags": plan.tags}
        self._call(
            f"creating resource group {plan.resource_group} in {plan.location}",
            lambda: groups.create_or_update(plan.resource_group, body),
        )

    def _create_cluster(self, plan: ClusterPlan) -> None:
        clusters = self.clients.aks.managed_clusters
        self._record("cluster", plan.cluster)
        pools = ", ".join(
            f"{p['name']}: {p['vmSize']}" for p in plan.cluster_body["properties"]["agentPoolProfiles"]
        )
        operation = LongOperation(
            f"creating AKS cluster {plan.cluster} ({pools})",
            partial(
                clusters.begin_create_or_update,
                plan.resource_group,
                plan.cluster,
                ManagedCluster(plan.cluster_body),
                headers=plan.cluster_headers,
            ),
            headers=plan.cluster_headers,
        )
        self._run([operation])

    def _create_gpu_pools(self, plan: ClusterPlan) -> None:
        pools = self.clients.aks.agent_pools
        operations = []
        for pool in plan.gpu_pools:
            self._record("pool", pool.name)
            operations.append(
                LongOperation(
                    f"creating GPU node pool {pool.name} ({pool.vm_size})",
                    partial(
                        pools.begin_create_or_update,
                        plan.resource_group,
                        plan.cluster,
                        pool.name,
                        AgentPool(pool.body),
                        headers=pool.headers,
                    ),
                    headers=pool.headers,
                )
            )
        if operations:
            self._run(operations)

    def _fetch_kubeconfig(self, group: str, cluster: str) -> Path:
        credentials = self._call(
            f"fetching user credentials of {group}/{cluster}",
            lambda: self.clients.aks.managed_clusters.list_cluster_user_credentials(group, cluster),
        )
        kubeconfigs = credentials.kubeconfigs or []
        if not kubeconfigs or not kubeconfigs[0].value:
            raise ArmOperationFailed(
                f"fetching credentials of {group}/{cluster}", "NoKubeconfig", "ARM returned none"
            )
        return self._kubeconfig.write(bytes(kubeconfigs[0].value))

    def _adopt(self, group: str, name: str) -> Provisioned:
        self.resource_group, self.cluster = group, name
        cluster = self._call(
            f"reusing AKS cluster {group}/{name} (nothing will be created or deleted in Azure)",
            lambda: self.clients.aks.managed_clusters.get(group, name),
        )
        state = cluster.provisioning_state
        if state != "Succeeded":
            raise BackendUnavailable(
                f"--aks-cluster {group}/{name} is {state}, not Succeeded: wait or pick another"
            )
        every_pool = {p.name: p.vm_size for p in cluster.agent_pool_profiles or []}
        counts = {size: table_gpu_count(size) for size in every_pool.values()}
        # GPU pools: sizes with GPUs, and sizes the table does not know (the suites will look at them).
        pools = {pool: size for pool, size in every_pool.items() if counts[size] != 0}
        sizes = {size: counts[size] for size in pools.values()}
        kubeconfig = self._fetch_kubeconfig(group, name)
        return Provisioned(group, name, kubeconfig, True, pools, sizes, dict(cluster.tags or {}))

    # -- teardown ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Leave everything in Azure (--keep-cluster) and say what was left; drop only the local
        kubeconfig. Nothing is deleted through ARM, whatever the settings."""
        try:
            if self.created:
                kept = ", ".join(f"{c.kind} {c.name}" for c in self.created)
                self.progress.line(
                    f"--keep-cluster: leaving {kept} (expires-at tag set; the janitor removes it)"
                )
                self.created = []
        finally:
            self._kubeconfig.remove()

    def teardown(self) -> None:
        """Delete pools, then the cluster, then the group (unless --keep-cluster); drop the kubeconfig."""
        if self.settings.keep_cluster:
            self.close()
            return
        try:
            if self.created:
                try:
                    self._delete_created()
                except KeyboardInterrupt:
                    # A second Ctrl-C abandons the cleanup: say exactly what is left and how to sweep it.
                    left = ", ".join(f"{c.kind} {c.name}" for c in self.created)
                    self.progress.line(
                        f"teardown interrupted, left: {left}; run python -m gpuconf.azure.janitor"
                    )
                    raise
        finally:
            self._kubeconfig.remove()

    def _delete_created(self) -> None:
        rg, cluster = self.resource_group, self.cluster
        aks, groups_api = self.clients.aks, self.clients.resources.resource_groups
        pools = [c.name for c in self.created if c.kind == "pool"]
        clusters = [c.name for c in self.created if c.kind == "cluster"]
        groups = [c.name for c in self.created if c.kind == "group"]
        delete_pool, delete_cluster = aks.agent_pools.begin_delete, aks.managed_clusters.begin_delete
        steps: list[tuple[str, list[LongOperation]]] = [
            ("pool", [
                LongOperation(f"deleting node pool {name}", partial(delete_pool, rg, cluster, name))
                for name in pools
            ]),
            ("cluster", [
                LongOperation(f"deleting AKS cluster {name}", partial(delete_cluster, rg, name))
                for name in clusters
            ]),
            ("group", [
                LongOperation(f"deleting resource group {name}", partial(groups_api.begin_delete, name))
                for name in groups
            ]),
        ]  # fmt: skip
        failures: list[str] = []
        for kind, operations in steps:
            if not operations:
                continue
            try:
                self._run_deletes(operations)
            except Exception as err:  # noqa: BLE001 - one failed step must not stop the outer deletions
                failures.append(str(err))
                self.progress.line(f"teardown: {err}")
                continue
            with self._lock:
                self.created = [c for c in self.created if c.kind != kind]
            if kind == "group":
                failures = []  # everything inside the group went with it
        if failures:
            left = ", ".join(f"{c.kind} {c.name}" for c in self.created)
            raise TeardownFailed(
                f"could not delete {left}: {'; '.join(failures)} (run python -m gpuconf.azure.janitor)"
            )

    def _run_deletes(self, operations: list[LongOperation]) -> None:
        def translate(err: Exception, op: LongOperation) -> Exception:
            if isinstance(err, ClientAuthenticationError):
                return self._verdict(err, op.what)
            if isinstance(err, HttpResponseError):
                code, message = arm_code_and_message(err)
                return ArmOperationFailed(op.what, code, message)
            return err

        wrapped = [LongOperation(op.what, _tolerate_missing(op.start)) for op in operations]
        run_all(
            wrapped,
            timeout_s=self.settings.operation_timeout_s,
            progress_every_s=self.settings.progress_every_s,
            progress=self.progress,
            translate=translate,
        )


class _Gone:
    """Stands in for a delete poller when the resource was already gone (404 on the DELETE)."""

    def result(self, timeout: float | None = None) -> None:
        return None

    def done(self) -> bool:
        return True

    def status(self) -> str:
        return "Gone"


def _tolerate_missing(start: Callable[[], Any]) -> Callable[[], Any]:
    def guarded() -> Any:
        try:
            return start()
        except ResourceNotFoundError:
            return _Gone()

    return guarded
