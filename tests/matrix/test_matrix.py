"""The suite's parameters: GPU-node slots and workload cases, and where the inventory comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconf.emulator.cluster import running_cluster
from gpuconf.emulator.profiles import PoolSpec
from gpuconf.matrix import (
    NodeSlot,
    WorkloadCase,
    discover_inventory,
    node_slots,
    planned_inventory,
    workload_cases,
)
from gpuconf.nodes import expected_gpu_count, expected_gpu_model, natural_key
from gpuconf.workloads import MNIST_JOB, WORKLOADS


def test_one_slot_per_node_of_each_size_in_the_order_given() -> None:
    slots = node_slots(planned_inventory(("Standard_NC24", "Standard_NC6", "Standard_NC24"), 2))
    assert [s.id for s in slots] == ["Standard_NC24-0", "Standard_NC24-1", "Standard_NC6-0", "Standard_NC6-1"]


def test_an_unknown_inventory_is_one_catch_all_slot_and_unpinned_workloads() -> None:
    assert node_slots(None) == [NodeSlot(None)]
    assert node_slots(None)[0].id == "every-gpu-node"
    cases = workload_cases(None)
    assert [c.id for c in cases] == [w.name for w in WORKLOADS]
    assert not any(c.pinned for c in cases)


def test_each_workload_runs_on_each_size_workloads_outer() -> None:
    cases = workload_cases({"Standard_NC6": 1, "Standard_NC24": 1})
    assert [c.id for c in cases] == [
        f"{w.name}-on-{size}" for w in WORKLOADS for size in ("Standard_NC6", "Standard_NC24")
    ]
    assert all(c.pinned for c in cases)


def test_object_names_stay_verbatim_for_one_size_and_carry_the_size_for_several() -> None:
    single = WorkloadCase(MNIST_JOB, "Standard_NC6", pinned=False)
    assert single.object_name("samples-tf-mnist-demo") == "samples-tf-mnist-demo"
    pinned = WorkloadCase(MNIST_JOB, "Standard_NC4as_T4_v3", pinned=True)
    # A valid DNS-1123 name, different per size so two sizes' Jobs can exist side by side.
    assert pinned.object_name("samples-tf-mnist-demo") == "samples-tf-mnist-demo-nc4as-t4-v3"


def _node(labels: dict[str, str]) -> dict:
    return {"metadata": {"name": "n", "labels": labels}}


@pytest.mark.parametrize(
    ("labels", "option", "count"),
    [
        ({"node.kubernetes.io/instance-type": "Standard_NC24"}, None, 4),
        ({"beta.kubernetes.io/instance-type": "Standard_NC6"}, None, 1),
        ({"node.kubernetes.io/instance-type": "Standard_D4s_v3"}, None, 0),  # a CPU size
        ({"accelerator": "nvidia"}, None, 1),  # no size label, but a GPU node
        ({"accelerator": "nvidia", "nvidia.com/gpu.count": "8"}, None, 8),  # GPU feature discovery
        ({"node.kubernetes.io/instance-type": "Standard_NC24"}, 2, 2),  # --gpu-count
        ({"node.kubernetes.io/instance-type": "Standard_Unknown"}, None, 0),
    ],
)
def test_expected_gpu_count_from_labels(labels: dict[str, str], option: int | None, count: int) -> None:
    assert expected_gpu_count(_node(labels), option) == count


def test_expected_model_prefers_feature_discovery_over_the_size_table() -> None:
    assert expected_gpu_model(_node({"node.kubernetes.io/instance-type": "Standard_NC6"})) == "Tesla K80"
    labels = {"node.kubernetes.io/instance-type": "Standard_NC6", "nvidia.com/gpu.product": "NVIDIA-H200"}
    assert expected_gpu_model(_node(labels)) == "NVIDIA H200"


def test_natural_order_puts_node_2_before_node_10() -> None:
    names = ["aks-gpu-1-10", "aks-gpu-1-2", "aks-gpu-1-1"]
    assert sorted(names, key=natural_key) == ["aks-gpu-1-1", "aks-gpu-1-2", "aks-gpu-1-10"]


def test_discovery_reads_an_existing_clusters_gpu_nodes_by_size() -> None:
    with running_cluster(
        pools=[
            PoolSpec("gpu", "Standard_NC24", 2),
            PoolSpec("cpu", "Standard_D4s_v3", 1),
            PoolSpec("t4", "Standard_NC4as_T4_v3", 1),
        ]
    ) as cluster:
        assert discover_inventory(cluster.kubeconfig) == {"Standard_NC24": 2, "Standard_NC4as_T4_v3": 1}


def test_discovery_of_an_unreachable_cluster_is_none(tmp_path: Path) -> None:
    import socket

    import yaml

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    assert discover_inventory(kubeconfig) is None
    assert discover_inventory(tmp_path / "absent") is None


def test_compute_capability_from_feature_discovery_labels_else_the_size_table() -> None:
    from gpuconf.nodes import expected_compute_capability

    labels = {"nvidia.com/gpu.compute.major": "9", "nvidia.com/gpu.compute.minor": "0"}
    assert expected_compute_capability(_node(labels)) == "9.0"
    assert expected_compute_capability(_node({"node.kubernetes.io/instance-type": "Standard_NC6"})) == "3.7"
    assert expected_compute_capability(_node({"node.kubernetes.io/instance-type": "Standard_D4s_v3"})) is None
