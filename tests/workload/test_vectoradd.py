"""The offline CUDA vectorAdd sample: the sample's exact output on the GPU the plugin allocated, a real
sum checked element by element, and the sample's own failure when no GPU was given."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gpuconf.checks.logs import VectorAddLog, parse_workload_log
from gpuconf.workload import vectoradd
from tests.workload.test_plugin_to_workload import allocated_envs

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 30.0
# What the emulated cluster gives a pod with no real GPU: CUDA sees none, even on a GPU machine.
NO_REAL_GPU = {"CUDA_VISIBLE_DEVICES": ""}
SAMPLE_OUTPUT = [
    "[Vector addition of 50000 elements]",
    "Copy input data from the host memory to the CUDA device",
    "CUDA kernel launch with 196 blocks of 256 threads",
    "Copy output data from the CUDA device to the host memory",
    "Test PASSED",
    "Done",
]
NO_DEVICE_FAILURE = "Failed to allocate device vector A (error code no CUDA-capable device is detected)!\n"


@pytest.fixture(scope="module")
def plugin_env() -> Iterator[dict[str, str]]:
    """The fake plugin's Allocate envs for one emulated Tesla T4, plus no real GPU."""
    socket_dir = Path(tempfile.mkdtemp(prefix="gc", dir="/tmp"))
    try:
        envs, _ = asyncio.run(allocated_envs(socket_dir))
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)
    yield {**envs, **NO_REAL_GPU}


def run(argv: list[str], env: dict[str, str]) -> list[str]:
    lines: list[str] = []
    assert vectoradd.run(argv, env, lines.append) == 0
    return lines


def program(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuconf.workload.vectoradd", *argv],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **NO_REAL_GPU, **env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def test_on_the_allocated_gpu_it_prints_the_samples_output_and_parses_as_passed(
    plugin_env: dict[str, str],
) -> None:
    lines = run([], plugin_env)
    assert lines == SAMPLE_OUTPUT
    log = parse_workload_log("\n".join(lines), parser="vectoradd")
    assert isinstance(log, VectorAddLog)
    assert (log.elements, log.passed, log.done, log.failures) == (50000, True, True, [])


@pytest.mark.parametrize(("elements", "blocks"), [(1, 1), (256, 1), (257, 2), (50000, 196), (1 << 20, 4096)])
def test_blocks_are_the_samples_ceiling_of_elements_over_256(
    plugin_env: dict[str, str], elements: int, blocks: int
) -> None:
    lines = run(["--elements", str(elements)], plugin_env)
    assert lines[0] == f"[Vector addition of {elements} elements]"
    assert lines[2] == f"CUDA kernel launch with {blocks} blocks of 256 threads"
    assert parse_workload_log("\n".join(lines), parser="vectoradd").elements == elements


def test_the_check_finds_the_first_wrong_element_like_the_sample() -> None:
    a, b = np.arange(10, dtype=np.float32), np.ones(10, dtype=np.float32)
    c = a + b
    assert vectoradd.first_wrong_element(a, b, c) is None
    near = c.copy()
    near[3] += 4e-6  # within the sample's 1e-5
    assert vectoradd.first_wrong_element(a, b, near) is None
    wrong = c.copy()
    wrong[[7, 4]] = [0.0, np.nan]
    assert vectoradd.first_wrong_element(a, b, wrong) == 4


def test_without_a_gpu_it_fails_as_the_sample_does() -> None:
    done = program(env={})
    assert done.returncode == 1
    assert done.stdout == "[Vector addition of 50000 elements]\n"  # printed before the first CUDA call
    assert done.stderr == NO_DEVICE_FAILURE
    log = parse_workload_log(done.stdout + done.stderr, parser="vectoradd")
    assert (log.passed, log.done, log.failure_names) == (False, False, ["no-cuda-device"])


def test_an_emulated_cluster_pod_given_no_gpu_fails_the_same_even_with_void_devices() -> None:
    assert program(env={"NVIDIA_VISIBLE_DEVICES": "void"}).stderr == NO_DEVICE_FAILURE


def test_fault_exit_nonzero_is_a_kernel_launch_failure(plugin_env: dict[str, str]) -> None:
    done = program(env={**plugin_env, "GPUCONF_FAULT": "exit-nonzero"})
    assert done.returncode == 1
    assert done.stdout.splitlines() == SAMPLE_OUTPUT[:3]
    assert (
        done.stderr == "Failed to launch vectorAdd kernel (error code uncorrectable ECC error encountered)!\n"
    )
    assert not parse_workload_log(done.stdout + done.stderr, parser="vectoradd").passed


def test_bad_element_count_is_a_clear_error() -> None:
    done = program("--elements", "0", env={})
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith("error: --elements must be at least 1, not 0")
    assert "Traceback" not in done.stderr
