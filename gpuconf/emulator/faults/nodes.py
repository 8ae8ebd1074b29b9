"""Injectors that change the cluster after it is up: node state, other tenants' pods, finalizers.

Each works through the cluster's normal paths (the store's API, the kubelet's fault hooks), so
what a client sees is what Kubernetes would show for the same situation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from gpuconf.emulator import profiles
from gpuconf.emulator.interface import ApiError

Obj = dict[str, Any]
Stop = Callable[[], Awaitable[None]]

GPU_TAINT = {"key": "sku", "value": "gpu", "effect": "NoSchedule"}
OTHER_TENANT_NAMESPACE = "ai-research"
# The pause container: the smallest thing that keeps a pod (and the GPU it was given) running.
HOLDER_IMAGE = "mcr.microsoft.com/oss/kubernetes/pause:3.6"
# What a third-party controller (an audit or backup operator) would put on the Job's pods.
BLOCKING_FINALIZER = "audit.example.com/retain-logs"


def gpu_kubelets(cluster: Any) -> dict[str, Any]:
    """Node name -> kubelet, for nodes whose VM size has GPUs."""
    return {name: k for name, k in cluster.kubelets.items() if k.size.gpu is not None}


def _update_node(cluster: Any, name: str, change: Callable[[Obj], None]) -> None:
    node = cluster.api.get("nodes", name)
    change(node)
    node["metadata"].pop("resourceVersion", None)
    cluster.api.update("nodes", node)


def taint_gpu_nodes(cluster: Any) -> None:
    """AKS `--node-taints sku=gpu:NoSchedule` on the GPU pool."""

    def add_taint(node: Obj) -> None:
        node["spec"]["taints"] = [*(node["spec"].get("taints") or []), dict(GPU_TAINT)]

    for name in gpu_kubelets(cluster):
        _update_node(cluster, name, add_taint)


def cordon_gpu_nodes(cluster: Any) -> None:
    """`kubectl cordon` on every GPU node (as a node-image upgrade leaves them when it stalls)."""

    def cordon(node: Obj) -> None:
        node["spec"]["unschedulable"] = True

    for name in gpu_kubelets(cluster):
        _update_node(cluster, name, cordon)


def all_gpus_unhealthy(cluster: Any) -> None:
    """Every GPU reports an XID error to the plugin: capacity stays, allocatable drops to 0."""
    for name, kubelet in gpu_kubelets(cluster).items():
        for index in range(kubelet.size.gpu_count):
            cluster.set_device_health(name, index, False)


def gpu_nodes_not_ready(cluster: Any) -> None:
    for name in gpu_kubelets(cluster):
        cluster.set_node_ready(name, False, "container runtime network not ready: NetworkReady=false")


def advertise_one_gpu_fewer(cluster: Any) -> None:
    """A GPU fell off the bus: the plugin lists one device fewer than the VM size has."""
    for name, kubelet in gpu_kubelets(cluster).items():
        cluster.set_advertised_gpus(name, kubelet.size.gpu_count - 1)


def hold_every_gpu(cluster: Any) -> None:
    """Another team's pods request every GPU of every GPU node.

    They exist before the article's Job, so once the device plugin registers the scheduler (oldest
    pod first) gives the GPUs to them and the Job's pod finds none left.
    """
    api = cluster.api
    with contextlib.suppress(ApiError):
        api.create(
            "namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OTHER_TENANT_NAMESPACE}},
        )
    for index, (name, kubelet) in enumerate(sorted(gpu_kubelets(cluster).items())):
        gpus = str(kubelet.size.gpu_count)
        api.create(
            "pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"gpu-holder-{index}", "namespace": OTHER_TENANT_NAMESPACE},
                "spec": {
                    "nodeSelector": {"kubernetes.io/hostname": name},
                    "containers": [
                        {
                            "name": "hold",
                            "image": HOLDER_IMAGE,
                            "resources": {"limits": {profiles.GPU_RESOURCE: gpus}},
                        }
                    ],
                },
            },
            namespace=OTHER_TENANT_NAMESPACE,
        )


def finalize_job_pods(cluster: Any) -> Stop:
    """Put BLOCKING_FINALIZER on every pod a Job creates, as a third-party operator would."""
    loop = asyncio.get_running_loop()
    api = cluster.api

    def add_finalizer(namespace: str, name: str) -> None:
        with contextlib.suppress(ApiError):  # gone or changed meanwhile: the next event retries
            pod = api.get("pods", name, namespace=namespace)
            finalizers = pod["metadata"].get("finalizers") or []
            if BLOCKING_FINALIZER in finalizers or pod["metadata"].get("deletionTimestamp"):
                return
            pod["metadata"]["finalizers"] = [*finalizers, BLOCKING_FINALIZER]
            api.update("pods", pod, namespace=namespace)

    def on_pod(event_type: str, pod: Obj) -> None:
        meta = pod["metadata"]
        if event_type == "DELETED" or "job-name" not in (meta.get("labels") or {}):
            return
        if BLOCKING_FINALIZER in (meta.get("finalizers") or []) or meta.get("deletionTimestamp"):
            return
        # Not from inside the informer's dispatch: our own update would re-enter the handlers.
        loop.call_soon(add_finalizer, meta["namespace"], meta["name"])

    informer = cluster.controllers.pods
    informer.add_handler(on_pod)
    for pod in list(informer.values()):
        on_pod("ADDED", pod)

    async def stop() -> None:
        with contextlib.suppress(ValueError):
            informer.handlers.remove(on_pod)

    return stop


def release_blocked_pods(core_v1: Any) -> list[str]:
    """Remove BLOCKING_FINALIZER from every pod (the harness's last clean-up); returns ns/name of each.

    `core_v1` is the official client's CoreV1Api, so this works against any API server.
    """
    released = []
    for pod in core_v1.list_pod_for_all_namespaces().items:
        finalizers = pod.metadata.finalizers or []
        if BLOCKING_FINALIZER not in finalizers:
            continue
        remaining = [f for f in finalizers if f != BLOCKING_FINALIZER]
        core_v1.patch_namespaced_pod(
            pod.metadata.name,
            pod.metadata.namespace,
            {"metadata": {"finalizers": remaining or None, "resourceVersion": pod.metadata.resource_version}},
        )
        released.append(f"{pod.metadata.namespace}/{pod.metadata.name}")
    return released
