"""kube-scheduler's NodeResourcesFit wording for cpu, memory and the pod count, end to end.

kube-scheduler (pkg/scheduler/framework/plugins/noderesources/fit.go) says `Too many pods` when a
node's pod slots are used up and `Insufficient <resource>` for cpu, memory and every other
resource; all of them are shortages preemption could solve, so with no lower-priority pod to evict
the suffix is `No preemption victims found for incoming pod` (as for nvidia.com/gpu).
The NC6 node allocates cpu 5916m, memory 51702904Ki and 110 pods.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gpuconf.emulator import profiles
from gpuconf.emulator.controllers import fit
from gpuconf.emulator.controllers.manager import ControllerManager
from gpuconf.emulator.kubelet.node import build_node
from gpuconf.emulator.store import Store
from tests.emulator_cluster.storewait import CONTROLLER_REACTION_S, events_for, named, wait_for

Obj = dict[str, Any]
NODE = "aks-nodepool1-28993262-0"
NO_VICTIMS = "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.."


def message(reasons: str) -> str:
    return f"0/1 nodes are available: {reasons}. {NO_VICTIMS}"


def nc6(pods: str | None = None) -> Obj:
    node = build_node(NODE, "nodepool1", profiles.vm_size("Standard_NC6"), 0)
    if pods is not None:
        node["status"]["allocatable"]["pods"] = node["status"]["capacity"]["pods"] = pods
    return node


def pod(name: str, **requests: str) -> Obj:
    container: Obj = {"name": "c", "image": "img:1"}
    if requests:
        container["resources"] = {"requests": requests}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container]},
    }


def test_fit_reasons_and_messages_for_cpu_memory_and_pods() -> None:
    node = nc6()
    assert fit.unfit_reasons(pod("p", cpu="5916m"), node, []) == []
    assert fit.unfit_reasons(pod("p", cpu="5917m"), node, []) == ["Insufficient cpu"]
    assert fit.unfit_reasons(pod("p", memory="51702905Ki"), node, []) == ["Insufficient memory"]
    both = fit.unfit_reasons(pod("p", cpu="8", memory="64Gi"), node, [])
    assert both == ["Insufficient cpu", "Insufficient memory"]
    assert fit.failed_scheduling_message({NODE: both}, 1) == message(
        "1 Insufficient cpu, 1 Insufficient memory"
    )
    # Requests already bound count: 4 cpu held leaves 1916m.
    assert fit.unfit_reasons(pod("p", cpu="2"), node, [pod("held", cpu="4")]) == ["Insufficient cpu"]

    full = nc6(pods="1")
    assert fit.unfit_reasons(pod("p"), full, []) == []
    reasons = fit.unfit_reasons(pod("p"), full, [pod("first")])
    assert reasons == ["Too many pods"]
    assert fit.failed_scheduling_message({NODE: reasons}, 1) == message("1 Too many pods")
    mixed = fit.unfit_reasons(pod("p", cpu="8"), full, [pod("first")])
    assert fit.failed_scheduling_message({NODE: mixed}, 1) == message("1 Insufficient cpu, 1 Too many pods")


def run(scenario: Any, node: Obj) -> None:
    async def main() -> None:
        store = Store()
        store.create("nodes", node)
        manager = ControllerManager(store)
        await manager.start()
        try:
            await scenario(store)
        finally:
            await manager.stop()

    asyncio.run(main())


async def unschedulable(store: Store, name: str) -> Obj:
    def marked(pods: list[Obj]) -> Obj | None:
        found = named(name)(pods)
        conditions = (found or {}).get("status", {}).get("conditions") or []
        return found if any(c.get("reason") == "Unschedulable" for c in conditions) else None

    return await wait_for(
        store,
        "pods",
        marked,
        timeout=CONTROLLER_REACTION_S,
        describe=f"{name} Unschedulable",
        namespace="default",
    )


def assert_failed_scheduling(store: Store, found: Obj, expected: str) -> None:
    name = found["metadata"]["name"]
    (scheduled,) = [c for c in found["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert (scheduled["status"], scheduled["reason"], scheduled["message"]) == (
        "False",
        "Unschedulable",
        expected,
    )
    assert found["status"]["phase"] == "Pending" and not found["spec"].get("nodeName")
    assert ("Warning", "FailedScheduling", expected) in events_for(store, name)


def test_scheduler_reports_insufficient_cpu() -> None:
    async def scenario(store: Store) -> None:
        store.create("pods", pod("big-cpu", cpu="6"), namespace="default")
        assert_failed_scheduling(store, await unschedulable(store, "big-cpu"), message("1 Insufficient cpu"))

    run(scenario, nc6())


def test_scheduler_reports_insufficient_memory() -> None:
    async def scenario(store: Store) -> None:
        store.create("pods", pod("big-memory", memory="64Gi"), namespace="default")
        assert_failed_scheduling(
            store, await unschedulable(store, "big-memory"), message("1 Insufficient memory")
        )

    run(scenario, nc6())


def test_scheduler_reports_too_many_pods_once_the_nodes_pod_slots_are_taken() -> None:
    async def scenario(store: Store) -> None:
        store.create("pods", pod("first"), namespace="default")
        await wait_for(
            store,
            "pods",
            lambda pods: (named("first")(pods) or {}).get("spec", {}).get("nodeName"),
            timeout=CONTROLLER_REACTION_S,
            describe="first pod bound",
            namespace="default",
        )
        store.create("pods", pod("second"), namespace="default")
        assert_failed_scheduling(store, await unschedulable(store, "second"), message("1 Too many pods"))

    run(scenario, nc6(pods="1"))
