"""Cluster profiles (pools, the GPU VHD) and teardown, through the real server and real kubectl."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gpuconf.emulator import profiles
from gpuconf.emulator.cluster import ClusterOptions, ClusterThread, fast_test_options, running_cluster
from gpuconf.emulator.runtime.process import live_process_groups
from tests.emulator_cluster.clusterkit import (
    DAEMONSET_MANIFEST,
    STATE_TIMEOUT_S,
    gpu_pod_manifest,
    install_device_plugin,
)
from tests.emulator_cluster.kubectl import Kubectl
from tests.emulator_cluster.storewait import POD_START_S, wait_for_version


def test_mixed_pools_advertise_each_sizes_gpu_count_and_relabelling_changes_no_hardware() -> None:
    pools = [
        profiles.PoolSpec("gpupool", "Standard_NC12", 1),
        profiles.PoolSpec("syspool", "Standard_D4s_v3", 1),
    ]
    with running_cluster(pools=pools, options=fast_test_options()) as cluster:
        kubectl = Kubectl(cluster.kubeconfig)
        install_device_plugin(kubectl)
        gpu_node, cpu_node = "aks-gpupool-28993262-0", "aks-syspool-28993262-0"
        kubectl.wait(
            f"node/{gpu_node}", "jsonpath={.status.capacity.nvidia\\.com/gpu}=2", timeout_s=STATE_TIMEOUT_S
        )
        nodes = {n["metadata"]["name"]: n for n in kubectl.json("get", "nodes")["items"]}
        assert nodes[gpu_node]["status"]["allocatable"]["nvidia.com/gpu"] == "2"
        assert nodes[gpu_node]["metadata"]["labels"]["accelerator"] == "nvidia"
        assert nodes[cpu_node]["status"]["capacity"].get("nvidia.com/gpu", "0") == "0"
        assert "accelerator" not in nodes[cpu_node]["metadata"]["labels"]
        info = nodes[gpu_node]["status"]["nodeInfo"]
        assert info["containerRuntimeVersion"].startswith("gpuconf-emulated")
        assert all(
            info[k]
            for k in (
                "machineID",
                "systemUUID",
                "bootID",
                "kernelVersion",
                "osImage",
                "kubeletVersion",
                "kubeProxyVersion",
                "operatingSystem",
                "architecture",
            )
        )

        kubectl.run(
            "label", "node", cpu_node, "node.kubernetes.io/instance-type=Standard_NC24", "--overwrite"
        )
        cluster.call(cluster.cluster.kubelet(cpu_node).node.push_status)
        relabelled = kubectl.json("get", "node", cpu_node)
        assert relabelled["status"]["capacity"]["cpu"] == "4", "a label is not hardware"
        assert relabelled["status"]["capacity"].get("nvidia.com/gpu", "0") == "0"


def test_gpu_vhd_nodes_advertise_gpus_without_a_daemonset() -> None:
    options = fast_test_options(node_image="gpu-vhd")
    with running_cluster(options=options) as cluster:
        kubectl = Kubectl(cluster.kubeconfig)
        node = cluster.node_names[0]
        kubectl.wait(
            f"node/{node}", "jsonpath={.status.allocatable.nvidia\\.com/gpu}=1", timeout_s=STATE_TIMEOUT_S
        )
        assert kubectl.json("get", "daemonsets", "-A")["items"] == []
        assert kubectl.json("get", "pods", "-A")["items"] == []


def test_stopping_ends_every_process_and_removes_sockets_and_root() -> None:
    with running_cluster(options=fast_test_options()) as cluster:
        kubectl = Kubectl(cluster.kubeconfig)
        install_device_plugin(kubectl)
        root = cluster.cluster.root
        assert root is not None and root.is_dir()
        sockets = list(root.rglob("*.sock"))
        assert sockets, "kubelet.sock and the plugin's socket exist while running"
        assert all(len(str(s).encode()) < 107 for s in sockets), sockets
        groups = live_process_groups()
        assert groups, "the plugin container runs as a process group"
    assert not root.exists()
    assert not (groups & live_process_groups())
    for pgid in groups:
        assert not Path(f"/proc/{pgid}").exists() or "Z" in Path(f"/proc/{pgid}/stat").read_text().split()[2]


def test_unknown_option_and_bad_profile_fail_with_one_clear_line() -> None:
    with pytest.raises(TypeError, match="unknown option 'gpus'"), running_cluster(gpus=2):
        pass
    with pytest.raises(ValueError, match="--node-image 'gpu'"):
        ClusterOptions(node_image="gpu").validate()


def test_daemonset_rolling_update_replaces_the_plugin_pod(kubectl: Kubectl) -> None:
    install_device_plugin(kubectl)
    old = kubectl.json("get", "pods", "-n", "gpu-resources")["items"][0]["metadata"]["name"]
    kubectl.run(
        "set",
        "image",
        "-n",
        "gpu-resources",
        "daemonset/nvidia-device-plugin-daemonset",
        "nvidia-device-plugin-ctr=nvcr.io/nvidia/k8s-device-plugin:v0.18.0",
    )
    kubectl.run(
        "rollout",
        "status",
        "-n",
        "gpu-resources",
        "daemonset/nvidia-device-plugin-daemonset",
        f"--timeout={STATE_TIMEOUT_S:g}s",
        timeout=STATE_TIMEOUT_S + 30,
    )
    ds = kubectl.json("get", "daemonset", "-n", "gpu-resources", "nvidia-device-plugin-daemonset")
    status = ds["status"]
    assert status["observedGeneration"] == ds["metadata"]["generation"] == 2
    assert (
        status["desiredNumberScheduled"] == status["updatedNumberScheduled"] == status["numberAvailable"] == 1
    )
    pods = kubectl.json("get", "pods", "-n", "gpu-resources")["items"]
    assert [p["spec"]["containers"][0]["image"] for p in pods] == ["nvcr.io/nvidia/k8s-device-plugin:v0.18.0"]
    assert pods[0]["metadata"]["name"] != old
    assert pods[0]["metadata"]["labels"]["pod-template-generation"] == "2"


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (
            ["--pool", "gpupool:Standard_NC6"],
            "argument --pool: --pool 'gpupool:Standard_NC6': expected NAME:VM_SIZE:COUNT",
        ),
        (["--vm-size", "Standard_NC7"], "argument --vm-size: unknown VM size 'Standard_NC7'"),
        (["--nodes", "-1"], "argument --nodes: --nodes must be a whole number >= 0"),
        (["--node-image", "ubuntu"], "argument --node-image: invalid choice: 'ubuntu'"),
    ],
)
def test_serve_rejects_bad_cluster_flags_in_one_line(
    tmp_path: Path, flags: list[str], complaint: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpuconf.emulator", "serve", "--kubeconfig", str(tmp_path / "kc"), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert complaint in last, done.stderr
    assert "Traceback" not in done.stderr


def test_inprocess_plugin_runtime_serves_every_node_from_one_process() -> None:
    options = fast_test_options(plugin_runtime="inprocess")
    with running_cluster(nodes=3, vm_size="Standard_NC24", options=options) as cluster:
        kubectl = Kubectl(cluster.kubeconfig)
        install_device_plugin(kubectl)
        for node in cluster.node_names:
            kubectl.wait(
                f"node/{node}", "jsonpath={.status.allocatable.nvidia\\.com/gpu}=4", timeout_s=STATE_TIMEOUT_S
            )
        assert not live_process_groups(), "in-process plugins start no processes"
        logs = kubectl.out("logs", "-n", "gpu-resources", "-l", "name=nvidia-device-plugin-ds")
        assert logs.count("registered with kubelet as nvidia.com/gpu (4 devices)") == 3, logs


# From the plugin pod's deletion to the node advertising its GPUs again: the kubelet's confirmation,
# the DaemonSet's replacement, scheduling and the new plugin's registration (well under 1 s here).
PLUGIN_RESTART_S = 15.0
PLUGIN_NAMESPACE = "gpu-resources"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"  # holds GPUs without doing work
GPU = profiles.GPU_RESOURCE


def _gpus(node: dict) -> tuple[str | None, str | None]:
    status = node.get("status") or {}
    return (status.get("capacity") or {}).get(GPU), (status.get("allocatable") or {}).get(GPU)


def _restart_plugin(cluster: ClusterThread, node: str, gpus: str) -> None:
    """Delete the node's plugin pod gracefully (as `kubectl delete` does); wait, by watch, for the node
    to stop offering its GPUs and then to advertise all `gpus` again, in capacity and allocatable."""
    api = cluster.cluster.api
    assert api is not None

    async def scenario() -> None:
        pods, since = api.list("pods", namespace=PLUGIN_NAMESPACE)
        (old,) = [p for p in pods if p["spec"].get("nodeName") == node]
        api.delete("pods", old["metadata"]["name"], namespace=PLUGIN_NAMESPACE)
        gone = await wait_for_version(
            api,
            "nodes",
            lambda n: n["metadata"]["name"] == node and _gpus(n)[1] != gpus,
            since=since,
            timeout=PLUGIN_RESTART_S,
            describe=f"{node} to stop offering its GPUs once its device plugin stops",
        )
        await wait_for_version(
            api,
            "nodes",
            lambda n: n["metadata"]["name"] == node and _gpus(n) == (gpus, gpus),
            since=int(gone["metadata"]["resourceVersion"]),
            timeout=PLUGIN_RESTART_S,
            describe=f"{node} to advertise {gpus} {GPU} again after the plugin restart",
        )
        pods, _ = api.list("pods", namespace=PLUGIN_NAMESPACE)
        (new,) = [p for p in pods if p["spec"].get("nodeName") == node]
        assert new["metadata"]["uid"] != old["metadata"]["uid"] and new["status"]["phase"] == "Running"

    cluster.run(scenario, timeout=2 * PLUGIN_RESTART_S + 5)


@pytest.mark.parametrize("runtime", ["inprocess", "process"])
def test_capacity_comes_back_after_the_plugin_pod_is_replaced(runtime: str) -> None:
    size = "Standard_NC12"
    gpus = str(profiles.vm_size(size).gpu_count)
    with running_cluster(vm_size=size, options=fast_test_options(plugin_runtime=runtime)) as cluster:
        kubectl = Kubectl(cluster.kubeconfig)
        install_device_plugin(kubectl)
        node = cluster.node_names[0]
        kubectl.wait(
            f"node/{node}",
            f"jsonpath={{.status.allocatable.nvidia\\.com/gpu}}={gpus}",
            timeout_s=STATE_TIMEOUT_S,
        )
        for _ in range(2):  # the second restart starts from what the first one left behind
            _restart_plugin(cluster, node, gpus)
        # Admission calls Allocate on the plugin the kubelet now knows: the replacement's endpoint.
        kubectl.apply(
            gpu_pod_manifest("holder", image=PAUSE_IMAGE, args=[], restart="Always", gpus=int(gpus))
        )
        kubectl.wait("pod/holder", "jsonpath={.status.phase}=Running", timeout_s=POD_START_S)


def test_daemonset_pods_count_as_available_only_after_min_ready_seconds(kubectl: Kubectl) -> None:
    kubectl.run("create", "namespace", "gpu-resources")
    manifest = DAEMONSET_MANIFEST.read_text().replace(
        "spec:\n  selector:", "spec:\n  minReadySeconds: 3\n  selector:", 1
    )
    kubectl.apply(manifest)
    target = "daemonset/nvidia-device-plugin-daemonset"
    kubectl.wait(
        target, "jsonpath={.status.numberReady}=1", timeout_s=STATE_TIMEOUT_S, namespace="gpu-resources"
    )
    early = kubectl.json("get", "-n", "gpu-resources", target)["status"]
    assert "numberAvailable" not in early and early["numberUnavailable"] == 1, early
    kubectl.wait(
        target, "jsonpath={.status.numberAvailable}=1", timeout_s=STATE_TIMEOUT_S, namespace="gpu-resources"
    )
