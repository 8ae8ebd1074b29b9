"""The Node object an emulated kubelet registers, its Ready heartbeat and its Lease.

Hardware (capacity, GPU model) comes from the VM-size profile fixed at start; labels are only
written at registration, so relabelling the node later changes no hardware.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from gpuconf.emulator import profiles
from gpuconf.emulator.controllers.events import (
    KUBELET,
    NODE_CONTROLLER,
    EventRecorder,
    now_micro,
    now_rfc3339,
)
from gpuconf.emulator.controllers.podutil import set_condition
from gpuconf.emulator.interface import ApiError, ClusterAPI

Obj = dict[str, Any]

KUBELET_VERSION = "v1.31.2"
OS_IMAGE = "Ubuntu 22.04.5 LTS"
KERNEL_VERSION = "5.15.0-1079-azure"
CONTAINER_RUNTIME = "gpuconf-emulated://0.1.0"
LEASE_NAMESPACE = "kube-node-lease"
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
_ID_NAMESPACE = uuid.UUID("5b0f4d0e-7c53-4d8e-9f55-0c2b6a1a9e11")


@dataclass
class HeartbeatTiming:
    """Kubelet defaults: the Lease renewed every 10 s (a quarter of its 40 s duration); the node's
    status computed every 10 s (nodeStatusUpdateFrequency) but posted only when it changed or
    when 5 minutes have passed since the last post (nodeStatusReportFrequency, with the Lease)."""

    lease_duration_s: int = 40
    lease_renew_s: float = 10.0
    status_update_s: float = 10.0
    status_report_s: float = 300.0


def _stable_uuid(node_name: str, what: str) -> uuid.UUID:
    return uuid.uuid5(_ID_NAMESPACE, f"{node_name}/{what}")


def node_labels(name: str, pool: str, size: profiles.VmSize) -> dict[str, str]:
    labels = {
        "agentpool": pool,
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": size.name,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.azure.com/agentpool": pool,
        "kubernetes.azure.com/cluster": "MC_myResourceGroup_myAKSCluster_eastus",
        "kubernetes.azure.com/mode": "system" if pool == profiles.DEFAULT_POOL else "user",
        "kubernetes.azure.com/role": "agent",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/role": "agent",
        "node.kubernetes.io/instance-type": size.name,
        "topology.kubernetes.io/region": "eastus",
        "topology.kubernetes.io/zone": "0",
    }
    if size.gpu is not None:
        labels["accelerator"] = "nvidia"
    return labels


def ready_conditions(ready: bool, message: str = "kubelet is posting ready status") -> list[Obj]:
    stamp = now_rfc3339()

    def cond(kind: str, status: str, reason: str, text: str) -> Obj:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": text,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
        }

    return [
        cond(
            "MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"
        ),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        cond("Ready", "True", "KubeletReady", message)
        if ready
        else cond("Ready", "False", "KubeletNotReady", message),
    ]


def build_node(name: str, pool: str, size: profiles.VmSize, index: int) -> Obj:
    subnet_ip = f"10.224.{index // 250}.{4 + index % 250}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": node_labels(name, pool, size),
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "gpuconf.dev/emulated": "true",
            },
        },
        "spec": {
            "podCIDR": f"10.244.{index % 256}.0/24",
            "podCIDRs": [f"10.244.{index % 256}.0/24"],
            "providerID": (
                "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
                f"mc_myresourcegroup_myakscluster_eastus/providers/Microsoft.Compute/virtualMachines/{name}"
            ),
        },
        "status": {
            "capacity": profiles.capacity(size),
            "allocatable": profiles.allocatable(size),
            "conditions": ready_conditions(True),
            "addresses": [
                {"type": "InternalIP", "address": subnet_ip},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": _stable_uuid(name, "machine").hex,
                "systemUUID": str(_stable_uuid(name, "system")).upper(),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": KERNEL_VERSION,
                "osImage": OS_IMAGE,
                "containerRuntimeVersion": CONTAINER_RUNTIME,
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": [],
        },
    }


class NodeAgent:
    """Registers the node, keeps its status (incl. device-plugin resources) and Lease fresh."""

    def __init__(
        self,
        api: ClusterAPI,
        name: str,
        pool: str,
        size: profiles.VmSize,
        index: int,
        timing: HeartbeatTiming,
    ) -> None:
        self.api = api
        self.name = name
        self.size = size
        self.timing = timing
        self.recorder = EventRecorder(api, KUBELET, host=name)
        self._template = build_node(name, pool, size, index)
        self.extended: dict[str, tuple[int, int]] = {}  # resource -> (capacity, allocatable)
        self.ready = True
        self.not_ready_message = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._last_report = float("-inf")  # loop time of the last status post

    def register(self) -> None:
        try:
            created = self.api.create("nodes", self._template)
            self.recorder.normal(created, "Starting", "Starting kubelet.")
            for reason in (
                "NodeHasSufficientMemory",
                "NodeHasNoDiskPressure",
                "NodeHasSufficientPID",
                "NodeReady",
            ):
                self.recorder.normal(created, reason, f"Node {self.name} status is now: {reason}")
            EventRecorder(self.api, NODE_CONTROLLER).normal(
                created,
                "RegisteredNode",
                f"Node {self.name} event: Registered Node {self.name} in Controller",
            )
        except ApiError as err:
            if err.code != 409:
                raise
        self.push_status()
        self._renew_lease()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(
                self._every(self.timing.status_update_s, self.sync_status), name=f"status-{self.name}"
            ),
            loop.create_task(
                self._every(self.timing.lease_renew_s, self._renew_lease), name=f"lease-{self.name}"
            ),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _every(self, period: float, action: Any) -> None:
        while True:  # runs until stop() cancels it
            await asyncio.sleep(period)
            if self.ready:
                try:
                    action()
                except ApiError:
                    continue  # the next beat retries; a real kubelet logs and retries too

    def set_extended_resource(self, resource: str, capacity: int, allocatable: int) -> None:
        if self.extended.get(resource) == (capacity, allocatable):
            return
        self.extended[resource] = (capacity, allocatable)
        self.push_status()

    def set_ready(self, ready: bool, message: str) -> None:
        """Fault hook: a NotReady node, tainted not-ready by the node lifecycle controller."""
        self.ready = ready
        self.not_ready_message = message
        node = self.api.get("nodes", self.name)
        taints = [
            t for t in node.get("spec", {}).get("taints") or [] if t.get("key") != NOT_READY_TAINT["key"]
        ]
        if not ready:
            taints.append({**NOT_READY_TAINT, "timeAdded": now_rfc3339()})
        node["spec"]["taints"] = taints or None
        if not taints:
            node["spec"].pop("taints")
        node["metadata"].pop("resourceVersion", None)
        self.api.update("nodes", node)
        self.push_status()
        if ready:
            self.recorder.normal(node, "NodeReady", f"Node {self.name} status is now: NodeReady")
        else:
            self.recorder.normal(node, "NodeNotReady", f"Node {self.name} status is now: NodeNotReady")

    def sync_status(self) -> None:
        """The periodic status sync: post only a changed status, or an unchanged one once the
        report period has passed (kubelet_node_status.go, tryUpdateNodeStatus)."""
        due = asyncio.get_running_loop().time() - self._last_report >= self.timing.status_report_s
        self.push_status(only_if_changed=not due)

    def push_status(self, only_if_changed: bool = False) -> None:
        node = self.api.get("nodes", self.name)
        status = node.setdefault("status", {})
        before = _without_heartbeats(status)
        capacity = dict(profiles.capacity(self.size))
        allocatable = dict(profiles.allocatable(self.size))
        for resource, (cap, alloc) in self.extended.items():
            capacity[resource] = str(cap)
            allocatable[resource] = str(alloc)
        status["capacity"] = capacity
        status["allocatable"] = allocatable
        for condition in ready_conditions(
            self.ready, "kubelet is posting ready status" if self.ready else self.not_ready_message
        ):
            set_condition(status, condition)
        if only_if_changed and _without_heartbeats(status) == before:
            return
        stamp = now_rfc3339()
        for condition in status["conditions"]:
            condition["lastHeartbeatTime"] = stamp
        node["metadata"].pop("resourceVersion", None)
        self.api.update("nodes", node, subresource="status")
        self._last_report = asyncio.get_running_loop().time()

    def _renew_lease(self) -> None:
        stamp = now_micro()
        try:
            lease = self.api.get("leases", self.name, namespace=LEASE_NAMESPACE)
        except ApiError as err:
            if err.code != 404:
                raise
            node = self.api.get("nodes", self.name)
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": self.name,
                    "namespace": LEASE_NAMESPACE,
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Node",
                            "name": self.name,
                            "uid": node["metadata"]["uid"],
                        }
                    ],
                },
                "spec": {
                    "holderIdentity": self.name,
                    "leaseDurationSeconds": self.timing.lease_duration_s,
                    "renewTime": stamp,
                },
            }
            self.api.create("leases", lease, namespace=LEASE_NAMESPACE)
            return
        lease["spec"]["renewTime"] = stamp
        lease["metadata"].pop("resourceVersion", None)
        self.api.update("leases", lease, namespace=LEASE_NAMESPACE)


def _without_heartbeats(status: Obj) -> Obj:
    """The status as nodeStatusHasChanged compares it: conditions without lastHeartbeatTime."""
    conditions = [
        {k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in status.get("conditions") or []
    ]
    return {**status, "conditions": conditions}
