"""On a machine with an NVIDIA GPU (the lead's GPU tier): the real NVML, the real plugin in nvml
mode, the real workload on CUDA. Skipped, with the reason, where NVML finds no GPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gpuconf.emulator import profiles
from gpuconf.emulator.cluster import fast_test_options, running_cluster
from tests.emulator_gpu_real.test_real_profile import advertised_gpus

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD_TIMEOUT_S = 300.0
REAL = profiles.detect_real_gpus()

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(REAL is None, reason="NVML finds no NVIDIA GPU on this machine (no driver or no GPU)"),
]


def test_real_node_advertises_every_nvml_gpu_with_driver_labels() -> None:
    assert REAL is not None
    with running_cluster(options=fast_test_options(gpu="real")) as cluster:
        node, count = advertised_gpus(cluster, cluster.node_names[0])
    assert count == REAL.count
    labels = node["metadata"]["labels"]
    assert labels[profiles.LABEL_DRIVER_VERSION] == REAL.driver_version
    assert labels[profiles.LABEL_CUDA_VERSION] == REAL.cuda_version
    assert node["metadata"]["annotations"][profiles.ANNOTATION_GPU_UUIDS] == ",".join(REAL.uuids)


def test_hiding_a_real_gpu_advertises_one_fewer() -> None:
    assert REAL is not None
    with running_cluster(options=fast_test_options(gpu="real", hide_gpus=("0",))) as cluster:
        _, count = advertised_gpus(cluster, cluster.node_names[0])
    assert count == REAL.count - 1


def test_workload_on_cuda_announces_the_real_gpu() -> None:
    assert REAL is not None
    done = subprocess.run(
        [sys.executable, "-m", "gpuconf.workload.mnist", "--max_steps", "100", "--device", "cuda"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WORKLOAD_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"name: {REAL.product} major: " in done.stdout
    assert f"compute capability: {REAL.compute_capability})" in done.stdout
    assert "(emulated)" not in done.stdout
