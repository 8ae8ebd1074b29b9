"""The offline MNIST workload: article-shaped output, a real rising accuracy curve, honest GPU
discovery, and the fault hooks the emulated cluster uses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gpuconf.checks.workload import assess_training_log
from gpuconf.deviceplugin import DevicePlugin, PluginConfig
from gpuconf.workload import mnist

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 30.0
ACCURACY = re.compile(r"^Accuracy at step (\d+): (0(?:\.\d{1,4})?|1(?:\.0)?)$")
METADATA = re.compile(r"^Adding run metadata for (\d+)$")
FOUND = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}: I tensorflow/core/common_runtime/gpu/gpu_device\.cc:1030\] "
    r"Found device (\d+) with properties: $"
)
NAME = re.compile(r"^name: (.+) major: (\d+) minor: (\d+) memoryClockRate\(GHz\): [\d.]+$")
CREATING = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}: I tensorflow/core/common_runtime/gpu/gpu_device\.cc:1120\] "
    r"Creating TensorFlow device \(/device:GPU:(\d+)\) -> \(device: \d+, name: (.+), pci bus id: (\S+), "
    r"compute capability: (\d+\.\d+)\)( \(emulated\))?$"
)

K80_ENV = {
    "NVIDIA_VISIBLE_DEVICES": "GPU-5f2c",
    "GPUCONF_GPU_COUNT": "1",
    "GPUCONF_GPU_PRODUCT": "Tesla K80",
    "GPUCONF_GPU_COMPUTE_CAPABILITY": "3.7",
    "GPUCONF_GPU_MEMORY_GIB": "11.17",
    "GPUCONF_GPU_MEMORY_CLOCK_GHZ": "0.8235",
    "GPUCONF_GPU_PCI_BUS_ID": "2fd7:00:00.0",
    "GPUCONF_GPU_EMULATED": "1",
}


# What a container given no real GPU sees (the emulated cluster sets it so): CUDA finds no device
# even on a GPU machine with PyTorch, so these tests mean the same there as here.
NO_REAL_GPU = {"CUDA_VISIBLE_DEVICES": ""}
TORCH_DOUBLE = Path(__file__).resolve().parent / "torch_double"


def run(*argv: str, env: dict[str, str] | None = None) -> list[str]:
    lines: list[str] = []
    assert mnist.run(list(argv), {**NO_REAL_GPU, **(env or {})}, lines.append) == 0
    return lines


def curve(lines: list[str]) -> list[tuple[int, float]]:
    return [(int(m[1]), float(m[2])) for line in lines if (m := ACCURACY.match(line))]


@pytest.mark.parametrize(("seed", "max_steps"), [(0, 500), (1, 200), (7, 300), (42, 500)])
def test_accuracy_rises_like_the_articles_curve(seed: int, max_steps: int) -> None:
    points = curve(run("--max_steps", str(max_steps), "--seed", str(seed)))
    steps, values = [s for s, _ in points], [v for _, v in points]
    assert steps == list(range(0, max_steps, 10))
    assert steps[-1] == max_steps - 10
    assert values[0] <= 0.25, f"untrained accuracy should be near chance: {values[0]}"
    assert values[-1] >= 0.9, points
    assert values[-1] - values[0] >= 0.5
    tenth = max(1, len(values) // 10)
    assert sum(values[-tenth:]) / tenth > sum(values[:tenth]) / tenth


def test_runs_are_deterministic_per_seed_and_differ_between_seeds() -> None:
    assert run("--max_steps", "100", "--seed", "3") == run("--max_steps", "100", "--seed", "3")
    assert curve(run("--max_steps", "100", "--seed", "3")) != curve(run("--max_steps", "100", "--seed", "4"))


def test_run_metadata_lines_follow_the_tensorflow_sample() -> None:
    lines = run("--max-steps", "300")
    assert [int(m[1]) for line in lines if (m := METADATA.match(line))] == [99, 199, 299]
    assert not any("Found device" in line for line in lines)  # CPU: no GPU discovery at all


def test_an_allocated_emulated_gpu_is_announced_in_tensorflow_1_form() -> None:
    lines = run("--max_steps", "20", env=K80_ENV)
    found = next(i for i, line in enumerate(lines) if FOUND.match(line))
    name = NAME.match(lines[found + 1])
    assert name and name.groups() == ("Tesla K80", "3", "7")
    assert lines[found + 2] == "pciBusID: 2fd7:00:00.0"
    assert lines[found + 3] == "totalMemory: 11.17GiB freeMemory: 11.06GiB (emulated)"
    creating = CREATING.match(lines[found + 4])
    assert creating and creating.groups() == ("0", "Tesla K80", "2fd7:00:00.0", "3.7", " (emulated)")
    assert found < next(i for i, line in enumerate(lines) if ACCURACY.match(line))


def test_every_allocated_gpu_is_announced_and_none_without_visible_devices() -> None:
    env = {**K80_ENV, "GPUCONF_GPU_COUNT": "2", "NVIDIA_VISIBLE_DEVICES": "GPU-a,GPU-b"}
    for i, pci in enumerate(("0001:00:00.0", "0002:00:00.0")):
        env.update(
            {k.replace("GPUCONF_GPU_", f"GPUCONF_GPU_{i}_"): v for k, v in K80_ENV.items() if "_GPU_" in k}
        )
        env[f"GPUCONF_GPU_{i}_PCI_BUS_ID"] = pci
    lines = run("--max_steps", "10", env=env)
    assert [m.group(1, 3) for line in lines if (m := CREATING.match(line))] == [
        ("0", "0001:00:00.0"),
        ("1", "0002:00:00.0"),
    ]
    assert not any(
        FOUND.match(line)
        for line in run("--max_steps", "10", env={**K80_ENV, "NVIDIA_VISIBLE_DEVICES": "void"})
    )
    assert not any(FOUND.match(line) for line in run("--max_steps", "10", "--device", "cpu", env=K80_ENV))


def fake_plugin_allocation(product: str = "Tesla K80") -> dict[str, str]:
    """What the fake device plugin's Allocate hands a container for its one GPU (no gRPC needed:
    the servicer answers with exactly these envs)."""
    plugin = DevicePlugin(PluginConfig(socket_dir=Path("/tmp/gpuconf-unused-socket-dir"), product=product))
    return plugin.allocate_envs([plugin.devices[0].id])


def workload_output(*argv: str, env: dict[str, str]) -> str:
    """`python -m gpuconf.workload.mnist ARGV` as a container runs it; its stdout (the pod's log)."""
    done = subprocess.run(
        [sys.executable, "-m", "gpuconf.workload.mnist", *argv],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **NO_REAL_GPU, **env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("seed", [0, 1, 7, 42])
def test_real_output_passes_the_suites_log_check_at_every_seed(seed: int) -> None:
    text = workload_output("--max_steps", "500", "--seed", str(seed), env=fake_plugin_allocation())
    assessment = assess_training_log(text, expected_gpu_model="Tesla K80", max_steps=500)
    assert assessment.passed, assessment.problems
    discovery, accuracy = assessment.evidence
    assert discovery == "GPU 0: Tesla K80 (emulated), compute capability 3.7 (log line 1)"
    assert accuracy.startswith("accuracy rose from ") and accuracy.endswith(" at step 490 over 50 points")
    assert [step for step, _ in assessment.accuracy_points] == list(range(0, 500, 10))


def test_a_cpu_run_fails_the_log_check_for_want_of_a_discovery_line_only() -> None:
    text = workload_output("--max_steps", "500", "--seed", "0", env={})
    assessment = assess_training_log(text, expected_gpu_model="Tesla K80", max_steps=500)
    assert assessment.problems == ["no GPU discovery line in the log (the workload did not see a GPU)"]
    assert assessment.accuracy is not None and assessment.accuracy.passed  # it did train


def test_a_real_gpu_without_pytorch_is_reported_not_announced() -> None:
    real = {**K80_ENV, "GPUCONF_GPU_EMULATED": "0"}  # what the plugin's nvml mode allocates
    lines = run("--max_steps", "10", env=real)
    assert not any(FOUND.match(line) for line in lines)
    assert "GPU GPU-5f2c was allocated but PyTorch with CUDA is not available here; training on CPU" in lines


def test_fault_cpu_fallback_hides_the_gpu_but_still_trains() -> None:
    lines = run("--max_steps", "200", env={**K80_ENV, "GPUCONF_FAULT": "cpu-fallback"})
    assert not any("Found device" in line or "Creating TensorFlow device" in line for line in lines)
    assert curve(lines)[-1][1] >= 0.9


def test_fault_wrong_gpu_names_another_gpu() -> None:
    lines = run("--max_steps", "10", env={**K80_ENV, "GPUCONF_FAULT": "wrong-gpu"})
    creating = [m for line in lines if (m := CREATING.match(line))]
    assert len(creating) == 1 and creating[0][2] != "Tesla K80" and creating[0][4] != "3.7"


def test_fault_flat_accuracy_never_learns() -> None:
    values = [v for _, v in curve(run("--max_steps", "200", env={"GPUCONF_FAULT": "flat-accuracy"}))]
    assert len(values) == 20 and max(values) - min(values) < 0.05 and max(values) < 0.5


def test_fault_stop_early_stops_at_half_with_success() -> None:
    points = curve(run("--max_steps", "200", env={"GPUCONF_FAULT": "stop-early"}))
    assert points[-1][0] == 90


def test_fault_exit_nonzero_crashes_with_a_cuda_error_after_discovery() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpuconf.workload.mnist", "--max_steps", "100"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **NO_REAL_GPU, **K80_ENV, "GPUCONF_FAULT": "exit-nonzero"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 1
    assert "Found device 0" in done.stdout and "Accuracy at step" not in done.stdout
    assert "CUDA_ERROR_" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "env", "code", "message"),
    [
        (["--max_steps", "0"], {}, 2, "--max_steps must be at least 1"),
        (["--device", "tpu"], {}, 2, "invalid choice: 'tpu'"),
        (["--device", "cuda"], {}, 1, "no CUDA-capable device is detected"),
        ([], {"GPUCONF_FAULT": "gremlins"}, 1, "GPUCONF_FAULT must be one of"),
    ],
)
def test_bad_input_gets_one_clear_error(
    argv: list[str], env: dict[str, str], code: int, message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpuconf.workload.mnist", *argv],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **NO_REAL_GPU, **env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def workload_with_torch(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The workload on a machine that looks like it has PyTorch and a GPU (the torch double)."""
    return subprocess.run(
        [sys.executable, "-m", "gpuconf.workload.mnist", "--max_steps", "10"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(TORCH_DOUBLE),
            **env,
            "GPUCONF_FAULT": "exit-nonzero",
        },
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def test_with_pytorch_and_a_gpu_the_real_gpu_is_announced() -> None:
    # Proves the double works: without CUDA_VISIBLE_DEVICES the workload takes the "real" GPU.
    done = workload_with_torch(K80_ENV)
    assert "name: NVIDIA H200 major: 9 minor: 0" in done.stdout
    assert "Tesla K80" not in done.stdout


def test_cuda_visible_devices_empty_means_no_real_gpu_even_with_pytorch() -> None:
    done = workload_with_torch({**K80_ENV, **NO_REAL_GPU})
    assert "name: Tesla K80 major: 3 minor: 7" in done.stdout
    assert "NVIDIA H200" not in done.stdout


@pytest.mark.slow
def test_the_no_gpu_tests_pass_on_a_machine_with_pytorch_and_a_gpu() -> None:
    """Every test here and in tests/deviceplugin, rerun as if PyTorch with CUDA were installed."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow"]
        + ["tests/workload", "tests/deviceplugin", "-k", "not with_pytorch_and_a_gpu"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(TORCH_DOUBLE)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
