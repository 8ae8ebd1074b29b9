"""`--gpu real` against the NVML double: the node gets NVML's GPU model and count, its labels carry
the driver, CUDA and UUIDs, the nvml-mode plugin advertises exactly the NVML GPUs, and a hidden GPU
is missing from what the node advertises."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from gpuconf.emulator import profiles
from gpuconf.emulator.cluster import ClusterOptions, ClusterThread, fast_test_options, running_cluster
from gpuconf.emulator.runtime import images
from tests.emulator_cluster.kubectl import KUBECTL as KUBECTL_BINARY

ROOT = Path(__file__).resolve().parents[2]
ADVERTISE_TIMEOUT_S = 30.0
KUBECTL = str(KUBECTL_BINARY)
DAEMONSET = ROOT / "manifests/article/nvidia-device-plugin-ds.yaml"


def test_detect_real_gpus_reads_model_count_driver_and_cuda(fake_nvml: types.ModuleType) -> None:
    gpus = profiles.detect_real_gpus()
    assert gpus is not None
    assert (gpus.product, gpus.compute_capability, gpus.count) == ("NVIDIA H200", "9.0", 2)
    assert (gpus.driver_version, gpus.cuda_version) == ("550.54.15", "12.4")
    assert gpus.uuids == tuple(g["uuid"] for g in fake_nvml.GPUS)


def test_detect_real_gpus_is_none_without_a_driver() -> None:
    no_driver = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    def fail() -> None:
        raise NVMLError("NVML Shared Library Not Found")

    no_driver.nvmlInit = fail  # type: ignore[attr-defined]
    assert profiles.detect_real_gpus(no_driver) is None


def test_real_gpus_replace_the_profiles_gpus_but_keep_its_vm_size(fake_nvml: types.ModuleType) -> None:
    gpus = profiles.detect_real_gpus()
    assert gpus is not None
    size = profiles.with_real_gpus(profiles.vm_size("Standard_NC6"), gpus, ("1",))
    assert size.name == "Standard_NC6" and size.gpu_count == 2
    assert size.gpu is not None and size.gpu.product == "NVIDIA H200" and size.gpu.real
    labels, annotations = profiles.real_gpu_labels(gpus)
    assert labels[profiles.LABEL_GPU_PRODUCT] == "NVIDIA-H200"
    assert annotations[profiles.ANNOTATION_GPU_UUIDS] == ",".join(gpus.uuids)


def test_plugin_program_for_a_real_node_is_nvml_mode_and_hides_gpus(tmp_path: Path) -> None:
    gpu = profiles.GpuModel("NVIDIA H200", "9.0", 139.8, real=True, hidden=("1",))
    ctx = images.LaunchContext({}, {}, {images.DEVICE_PLUGIN_DIR: tmp_path}, gpu, 2)
    program = images.build_program(images.DEVICE_PLUGIN, ctx)
    assert program.argv[program.argv.index("--mode") + 1] == "nvml"
    assert program.env["GPUCONF_NVML_HIDE"] == "1"


@pytest.mark.parametrize(
    ("device_env", "visible"),
    [
        ({"NVIDIA_VISIBLE_DEVICES": "GPU-a", "GPUCONF_GPU_EMULATED": "0"}, "GPU-a"),
        ({"NVIDIA_VISIBLE_DEVICES": "GPU-a", "GPUCONF_GPU_EMULATED": "1"}, ""),
        ({}, ""),
    ],
)
def test_workload_sees_only_the_real_gpus_it_was_allocated(device_env: dict[str, str], visible: str) -> None:
    ctx = images.LaunchContext({"args": []}, dict(device_env), {}, None, 0)
    assert images.build_program(images.WORKLOAD, ctx).env["CUDA_VISIBLE_DEVICES"] == visible


def test_gpu_real_without_nvml_gpus_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiles, "detect_real_gpus", lambda nvml=None: None)
    with pytest.raises(ValueError, match="^--gpu real: NVML finds no NVIDIA GPU"):
        with running_cluster(gpu="real"):
            pass


def test_hide_gpu_needs_gpu_real_and_a_valid_id() -> None:
    with pytest.raises(ValueError, match="needs --gpu real"):
        ClusterOptions(hide_gpus=("0",)).validate()
    with pytest.raises(ValueError, match="expected a GPU index"):
        ClusterOptions(gpu="real", hide_gpus=("first",)).validate()


def kubectl(cluster: ClusterThread, *args: str) -> str:
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=ADVERTISE_TIMEOUT_S + 10,
        check=True,
    )
    return done.stdout


def advertised_gpus(cluster: ClusterThread, node: str) -> tuple[dict[str, Any], int]:
    """Apply the article's DaemonSet and wait (bounded) until the node advertises nvidia.com/gpu."""
    kubectl(cluster, "create", "namespace", "gpu-resources")
    kubectl(cluster, "apply", "-f", str(DAEMONSET))
    # kubectl wait watches the node (no polling) until the plugin's registration sets the capacity.
    kubectl(
        cluster,
        "wait",
        f"node/{node}",
        "--for=jsonpath={.status.capacity.nvidia\\.com/gpu}",
        f"--timeout={ADVERTISE_TIMEOUT_S:g}s",
    )
    obj = json.loads(kubectl(cluster, "get", "node", node, "-o", "json"))
    return obj, int(obj["status"]["capacity"][profiles.GPU_RESOURCE])


@pytest.mark.parametrize("runtime", ["process", "inprocess"])
def test_real_node_registers_nvml_gpus_and_the_plugin_advertises_them(
    fake_nvml: types.ModuleType, runtime: str
) -> None:
    options = fast_test_options(gpu="real", plugin_runtime=runtime)
    with running_cluster(options=options) as cluster:
        node, count = advertised_gpus(cluster, cluster.node_names[0])
    labels, annotations = node["metadata"]["labels"], node["metadata"]["annotations"]
    assert count == 2 == len(fake_nvml.GPUS)
    assert labels[profiles.LABEL_GPU_SOURCE] == "real"
    assert labels[profiles.LABEL_DRIVER_VERSION] == "550.54.15"
    assert labels[profiles.LABEL_CUDA_VERSION] == "12.4"
    assert labels["node.kubernetes.io/instance-type"] == "Standard_NC6"
    assert annotations[profiles.ANNOTATION_GPU_UUIDS].split(",") == [g["uuid"] for g in fake_nvml.GPUS]


def test_hide_gpu_makes_the_node_advertise_fewer_gpus_than_nvml_has(fake_nvml: types.ModuleType) -> None:
    hidden = fake_nvml.GPUS[0]["uuid"]
    options = fast_test_options(gpu="real", plugin_runtime="inprocess", hide_gpus=(hidden,))
    with running_cluster(options=options) as cluster:
        node, count = advertised_gpus(cluster, cluster.node_names[0])
    assert count == 1 < len(fake_nvml.GPUS)
    assert node["metadata"]["labels"][profiles.LABEL_GPU_SOURCE] == "real"


def test_serve_rejects_hide_gpu_without_gpu_real(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpuconf.emulator", "serve", "--kubeconfig", str(tmp_path / "kc")]
        + ["--hide-gpu", "0"],
        capture_output=True,
        text=True,
        timeout=ADVERTISE_TIMEOUT_S,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "error: --hide-gpu hides real GPUs: it needs --gpu real"
