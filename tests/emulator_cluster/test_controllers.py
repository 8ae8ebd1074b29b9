"""Scheduler, DaemonSet and Job controllers on the real store (nodes registered directly, no kubelets)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from gpuconf.emulator import profiles
from gpuconf.emulator.controllers.job import JobTiming
from gpuconf.emulator.controllers.manager import ControllerManager
from gpuconf.emulator.kubelet.node import build_node
from gpuconf.emulator.store import Store
from tests.emulator_cluster.storewait import CONTROLLER_REACTION_S, events_for, named, wait_for

Obj = dict[str, Any]
GPU_POD_MESSAGE = (
    "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod.."
)


def run(scenario: Callable[[Store, ControllerManager], Awaitable[None]], *nodes: Obj) -> None:
    async def main() -> None:
        store = Store()
        for node in nodes:
            store.create("nodes", node)
        manager = ControllerManager(store, job_timing=JobTiming(0.1, 0.4))
        await manager.start()
        try:
            await scenario(store, manager)
        finally:
            await manager.stop()

    asyncio.run(main())


def node(index: int = 0, gpus: int | None = None, size: str = "Standard_NC6", **spec: Any) -> Obj:
    obj = build_node(f"aks-nodepool1-28993262-{index}", "nodepool1", profiles.vm_size(size), index)
    if gpus is not None:
        obj["status"]["capacity"]["nvidia.com/gpu"] = obj["status"]["allocatable"]["nvidia.com/gpu"] = str(
            gpus
        )
    obj["spec"].update(spec)
    return obj


def gpu_pod(name: str = "gpu", **spec: Any) -> Obj:
    container = {"name": "c", "image": "img:1", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], **spec},
    }


def condition(obj: Obj, kind: str) -> Obj:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def test_gpu_pod_without_advertised_gpu_is_unschedulable_then_binds_when_gpu_appears() -> None:
    async def scenario(store: Store, _m: ControllerManager) -> None:
        store.create("pods", gpu_pod(), namespace="default")
        pod = await wait_for(
            store,
            "pods",
            lambda ps: next(
                (p for p in ps if condition(p, "PodScheduled").get("reason") == "Unschedulable"), None
            ),
            timeout=CONTROLLER_REACTION_S,
            describe="PodScheduled=False/Unschedulable",
        )
        assert condition(pod, "PodScheduled")["status"] == "False"
        assert condition(pod, "PodScheduled")["message"] == GPU_POD_MESSAGE
        assert ("Warning", "FailedScheduling", GPU_POD_MESSAGE) in events_for(store, "gpu")

        registered = store.get("nodes", "aks-nodepool1-28993262-0")
        registered["status"]["capacity"]["nvidia.com/gpu"] = registered["status"]["allocatable"][
            "nvidia.com/gpu"
        ] = "1"
        store.update("nodes", registered, subresource="status")
        bound = await wait_for(
            store,
            "pods",
            lambda ps: next((p for p in ps if p["spec"].get("nodeName")), None),
            timeout=CONTROLLER_REACTION_S,
            describe="pod bound after the node advertised a GPU",
        )
        assert bound["spec"]["nodeName"] == "aks-nodepool1-28993262-0"
        assert condition(bound, "PodScheduled")["status"] == "True"
        assert (
            "Normal",
            "Scheduled",
            "Successfully assigned default/gpu to aks-nodepool1-28993262-0",
        ) in events_for(store, "gpu")

    run(scenario, node())


def test_second_gpu_pod_waits_for_the_first_to_free_the_only_gpu() -> None:
    async def scenario(store: Store, _m: ControllerManager) -> None:
        store.create("pods", gpu_pod("first"), namespace="default")
        await wait_for(
            store,
            "pods",
            lambda ps: named("first")(ps) and named("first")(ps)["spec"].get("nodeName"),
            timeout=CONTROLLER_REACTION_S,
            describe="first pod bound",
        )
        store.create("pods", gpu_pod("second"), namespace="default")
        second = await wait_for(
            store,
            "pods",
            lambda ps: next(
                (
                    p
                    for p in ps
                    if p["metadata"]["name"] == "second"
                    and condition(p, "PodScheduled").get("reason") == "Unschedulable"
                ),
                None,
            ),
            timeout=CONTROLLER_REACTION_S,
            describe="second pod Unschedulable",
        )
        assert condition(second, "PodScheduled")["message"] == GPU_POD_MESSAGE
        store.delete("pods", "first", namespace="default", grace_period_seconds=0)
        await wait_for(
            store,
            "pods",
            lambda ps: named("second")(ps) and named("second")(ps)["spec"].get("nodeName"),
            timeout=CONTROLLER_REACTION_S,
            describe="second pod bound once the GPU is free",
        )

    run(scenario, node(gpus=1))


def test_taint_not_tolerated_names_the_taint() -> None:
    async def scenario(store: Store, _m: ControllerManager) -> None:
        store.create("pods", gpu_pod(), namespace="default")
        pod = await wait_for(
            store,
            "pods",
            lambda ps: next(
                (p for p in ps if condition(p, "PodScheduled").get("reason") == "Unschedulable"), None
            ),
            timeout=CONTROLLER_REACTION_S,
            describe="Unschedulable",
        )
        assert condition(pod, "PodScheduled")["message"] == (
            "0/1 nodes are available: 1 node(s) had untolerated taint {sku: gpu}. preemption: 0/1 nodes are "
            "available: 1 Preemption is not helpful for scheduling.."
        )

    run(scenario, node(gpus=1, taints=[{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]))


def daemonset(**template_spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "plugin"},
        "spec": {
            "selector": {"matchLabels": {"name": "plugin"}},
            "template": {
                "metadata": {"labels": {"name": "plugin"}},
                "spec": {"containers": [{"name": "c", "image": "img:1"}], **template_spec},
            },
        },
    }


def test_daemonset_targets_eligible_nodes_including_cordoned_ones() -> None:
    async def scenario(store: Store, _m: ControllerManager) -> None:
        store.create("daemonsets", daemonset(nodeSelector={"accelerator": "nvidia"}), namespace="default")

        def ds_ready(items: list[Obj]) -> Obj | None:
            ds = named("plugin")(items)
            return ds if ds and (ds.get("status") or {}).get("currentNumberScheduled") == 2 else None

        ds = await wait_for(
            store, "daemonsets", ds_ready, timeout=CONTROLLER_REACTION_S, describe="2 daemon pods"
        )
        status = ds["status"]
        assert status["desiredNumberScheduled"] == 2
        assert status["updatedNumberScheduled"] == 2
        assert status["numberMisscheduled"] == 0
        assert status["numberReady"] == 0 and status["numberUnavailable"] == 2, "no kubelet runs them here"
        assert status["observedGeneration"] == ds["metadata"]["generation"]
        pods, _ = store.list("pods", namespace="default")
        assert sorted(p["spec"]["nodeName"] for p in pods) == [
            "aks-nodepool1-28993262-0",
            "aks-nodepool1-28993262-1",
        ]
        for pod in pods:
            assert pod["metadata"]["labels"]["name"] == "plugin"
            assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
            keys = {t["key"] for t in pod["spec"]["tolerations"]}
            assert "node.kubernetes.io/unschedulable" in keys
        assert any(e[1] == "SuccessfulCreate" for e in events_for(store, "plugin"))

    cpu_node = node(2, size="Standard_D4s_v3")
    run(scenario, node(0), node(1, unschedulable=True), cpu_node)


def test_daemonset_skips_nodes_with_untolerated_noschedule_taint() -> None:
    async def scenario(store: Store, _m: ControllerManager) -> None:
        store.create("daemonsets", daemonset(), namespace="default")
        ds = await wait_for(
            store,
            "daemonsets",
            lambda items: next(
                (d for d in items if (d.get("status") or {}).get("currentNumberScheduled") == 1), None
            ),
            timeout=CONTROLLER_REACTION_S,
            describe="1 daemon pod",
        )
        assert ds["status"]["desiredNumberScheduled"] == 1

    run(scenario, node(0), node(1, taints=[{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]))


def test_deleted_daemon_pod_is_replaced_only_once_it_is_gone() -> None:
    # As Kubernetes' controller without maxSurge: a Terminating pod still occupies its node, so the
    # replacement's device plugin never runs next to the old one still stopping on the same socket.
    def on(node_index: int) -> Callable[[list[Obj]], list[Obj]]:
        # By the node a daemon pod is pinned to, so a replacement counts before the scheduler binds it.
        name = f"aks-nodepool1-28993262-{node_index}"

        def pinned(pod: Obj) -> bool:
            terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            fields = terms["nodeSelectorTerms"][0]["matchFields"]
            return any(f["key"] == "metadata.name" and name in f["values"] for f in fields)

        return lambda pods: [p for p in pods if pinned(p)]

    async def scenario(store: Store, _m: ControllerManager) -> None:
        store.create("daemonsets", daemonset(), namespace="default")
        first = await wait_for(
            store,
            "pods",
            lambda ps: (
                ps
                if len(on(0)(ps)) == len(on(1)(ps)) == 1 and all(p["spec"].get("nodeName") for p in ps)
                else None
            ),
            timeout=CONTROLLER_REACTION_S,
            describe="a daemon pod bound to each node",
        )
        stopping, gone = on(0)(first)[0], on(1)(first)[0]
        # No kubelet here: a graceful delete leaves the bound pod Terminating until confirmed.
        store.delete("pods", stopping["metadata"]["name"], namespace="default")
        store.delete("pods", gone["metadata"]["name"], namespace="default", grace_period_seconds=0)
        # The reconcile that replaces node 1's pod has seen node 0's deletion too (same pod watch,
        # earlier event), so node 0 is checked only after the controller acted on it.
        await wait_for(
            store,
            "pods",
            lambda ps: [p for p in on(1)(ps) if p["metadata"]["uid"] != gone["metadata"]["uid"]],
            timeout=CONTROLLER_REACTION_S,
            describe="the pod deleted at once replaced on node 1",
        )
        pods, _ = store.list("pods", namespace="default")
        assert [p["metadata"]["uid"] for p in on(0)(pods)] == [stopping["metadata"]["uid"]], on(0)(pods)
        assert on(0)(pods)[0]["metadata"].get("deletionTimestamp")

        store.delete("pods", stopping["metadata"]["name"], namespace="default", grace_period_seconds=0)
        await wait_for(
            store,
            "pods",
            lambda ps: [p for p in on(0)(ps) if p["metadata"]["uid"] != stopping["metadata"]["uid"]],
            timeout=CONTROLLER_REACTION_S,
            describe="node 0's pod replaced once the kubelet confirmed its deletion",
        )

    run(scenario, node(0), node(1))


def test_job_creates_parallel_pods_with_job_labels() -> None:
    async def scenario(store: Store, _m: ControllerManager) -> None:
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "train"},
            "spec": {
                "completions": 3,
                "parallelism": 2,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "img:1"}]}
                },
            },
        }
        created = store.create("jobs", job, namespace="default")
        pods = await wait_for(
            store,
            "pods",
            lambda ps: ps if len(ps) == 2 else None,
            timeout=CONTROLLER_REACTION_S,
            describe="2 job pods (parallelism)",
        )
        uid = created["metadata"]["uid"]
        for pod in pods:
            labels = pod["metadata"]["labels"]
            assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == "train"
            assert labels["controller-uid"] == labels["batch.kubernetes.io/controller-uid"] == uid
            assert pod["metadata"]["name"].startswith("train-")
        job_now = await wait_for(
            store,
            "jobs",
            lambda js: js and js[0].get("status", {}).get("active") == 2 and js[0],
            timeout=CONTROLLER_REACTION_S,
            describe="status.active=2",
        )
        assert job_now["status"]["startTime"]

    run(scenario, node(0))
