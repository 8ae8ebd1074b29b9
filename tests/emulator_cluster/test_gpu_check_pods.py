"""The GPU check pods (CUDA vectorAdd, `nvidia-smi -L`) through a live emulated cluster: applied with
real kubectl to a cluster whose device plugin runs, they succeed on the node's GPU, and their logs,
read through the API, parse as the real tools' output. Failures look like Kubernetes shows them."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import pytest
import yaml

from gpuconf.checks.logs import DeviceListing, VectorAddLog, parse_workload_log
from gpuconf.emulator import profiles
from gpuconf.emulator.cluster import ClusterThread, fast_test_options, running_cluster
from tests.emulator_cluster.clusterkit import ROOT, STATE_TIMEOUT_S, install_device_plugin
from tests.emulator_cluster.kubectl import Kubectl

NODE = "aks-nodepool1-28993262-0"
NODE_GPU = "Tesla K80"  # the default profile's Standard_NC6
# A pod runs one Python process (~0.5 s on 2 shared cores); its phase follows within a status write.
POD_DONE_TIMEOUT_S = STATE_TIMEOUT_S
CUDA_IMAGE = "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04"
_namespaces = count()


@pytest.fixture(scope="module")
def gpu_cluster() -> Iterator[ClusterThread]:
    """One cluster for the module, with the article's device plugin rolled out (saves ~5 s a test)."""
    with running_cluster(options=fast_test_options()) as cluster:
        install_device_plugin(Kubectl(cluster.kubeconfig))
        yield cluster


@pytest.fixture
def kubectl(gpu_cluster: ClusterThread) -> Kubectl:
    return Kubectl(gpu_cluster.kubeconfig)


@pytest.fixture
def namespace(kubectl: Kubectl) -> str:
    """A namespace per test: the manifests' fixed pod names never collide."""
    name = f"check-{next(_namespaces)}"
    kubectl.run("create", "namespace", name)
    return name


def node_gpu_uuid(cluster: ClusterThread) -> str:
    """The one GPU the node's plugin advertises, as the node's device manager knows it."""
    resources = cluster.call(lambda: cluster.cluster.kubelet(NODE).device_manager.resources())
    [uuid] = resources["nvidia.com/gpu"]
    return uuid


def run_to_the_end(kubectl: Kubectl, namespace: str, manifest: str, phase: str = "Succeeded") -> dict:
    """Apply a manifest (a path or YAML text), wait for the pod's final phase; return the pod."""
    text = (ROOT / manifest).read_text() if manifest.endswith(".yaml") else manifest
    name = yaml.safe_load(text)["metadata"]["name"]
    kubectl.run("apply", "-n", namespace, "-f", "-", stdin=text)
    kubectl.wait(
        f"pod/{name}",
        f"jsonpath={{.status.phase}}={phase}",
        timeout_s=POD_DONE_TIMEOUT_S,
        namespace=namespace,
    )
    return kubectl.json("get", "-n", namespace, "pod", name)


def log_of(kubectl: Kubectl, namespace: str, pod: dict) -> str:
    return kubectl.out("logs", "-n", namespace, pod["metadata"]["name"])  # GET .../pods/<name>/log


def terminated(pod: dict) -> dict:
    return pod["status"]["containerStatuses"][0]["state"]["terminated"]


def test_default_node_has_the_articles_gpu() -> None:
    assert profiles.vm_size(profiles.DEFAULT_VM_SIZE).gpu.product == NODE_GPU


@pytest.mark.parametrize(
    "manifest", ["manifests/workloads/cuda-vectoradd.yaml", "manifests/kind/cuda-vectoradd.yaml"]
)
def test_vectoradd_pod_succeeds_and_logs_the_samples_pass(
    kubectl: Kubectl, namespace: str, manifest: str
) -> None:
    pod = run_to_the_end(kubectl, namespace, manifest)
    assert pod["spec"]["nodeName"] == NODE
    assert (terminated(pod)["exitCode"], terminated(pod)["reason"]) == (0, "Completed")
    log = parse_workload_log(log_of(kubectl, namespace, pod), parser="vectoradd")
    assert isinstance(log, VectorAddLog)
    assert (log.elements, log.passed, log.done, log.failures) == (50000, True, True, [])


@pytest.mark.parametrize(
    "manifest", ["manifests/workloads/nvidia-smi.yaml", "manifests/kind/nvidia-smi.yaml"]
)
def test_nvidia_smi_pod_succeeds_and_lists_the_nodes_gpu(
    gpu_cluster: ClusterThread, kubectl: Kubectl, namespace: str, manifest: str
) -> None:
    pod = run_to_the_end(kubectl, namespace, manifest)
    assert (terminated(pod)["exitCode"], terminated(pod)["reason"]) == (0, "Completed")
    text = log_of(kubectl, namespace, pod)
    uuid = node_gpu_uuid(gpu_cluster)
    assert text == f"GPU 0: {NODE_GPU} (emulated) (UUID: {uuid})\n"
    listing = parse_workload_log(text, parser="nvidia-smi")
    assert isinstance(listing, DeviceListing)
    [gpu] = listing.discoveries
    assert (gpu.index, gpu.name, gpu.uuid, gpu.emulated) == (0, NODE_GPU, uuid, True)


def pod(name: str, image: str, command: list[str], gpus: int) -> str:
    container: dict = {"name": name, "image": image, "command": command}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
    spec = {"restartPolicy": "Never", "containers": [container]}
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})


def test_an_unknown_command_in_a_cuda_image_fails_to_start_as_containerd_reports_it(
    kubectl: Kubectl, namespace: str
) -> None:
    failed = run_to_the_end(
        kubectl, namespace, pod("typo", CUDA_IMAGE, ["nvidia-smi-typo", "-L"], 1), "Failed"
    )
    assert (terminated(failed)["exitCode"], terminated(failed)["reason"]) == (128, "Error")
    assert log_of(kubectl, namespace, failed) == (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
        "runc create failed: unable to start container process: "
        'exec: "nvidia-smi-typo": executable file not found in $PATH: unknown\n'
    )


def test_check_pods_given_no_gpu_fail_like_the_real_tools(kubectl: Kubectl, namespace: str) -> None:
    # No nvidia.com/gpu limit: the container gets no GPU, fake or real, so both tools find none.
    smi = run_to_the_end(kubectl, namespace, pod("smi", CUDA_IMAGE, ["nvidia-smi", "-L"], 0), "Failed")
    assert terminated(smi)["exitCode"] == 9
    assert parse_workload_log(log_of(kubectl, namespace, smi)).failure_names == ["driver-not-loaded"]
    add = run_to_the_end(
        kubectl, namespace, pod("add", "nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0", [], 0), "Failed"
    )
    assert terminated(add)["exitCode"] == 1
    assert log_of(kubectl, namespace, add) == (
        "[Vector addition of 50000 elements]\n"
        "Failed to allocate device vector A (error code no CUDA-capable device is detected)!\n"
    )
