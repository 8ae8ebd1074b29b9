"""The offline `nvidia-smi -L`: the GPU the plugin allocated, in nvidia-smi's format; on real GPUs
only the allocated ones (through the NVML double); nvidia-smi's own failure with no GPU."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from gpuconf.checks.logs import DeviceListing, parse_workload_log
from gpuconf.workload import gpuinfo, nvidia_smi
from tests.workload.test_plugin_to_workload import allocated_envs

ROOT = Path(__file__).resolve().parents[2]
NVML_DOUBLE_DIR = ROOT / "tests/emulator_gpu_real/nvml_double"
RUN_TIMEOUT_S = 30.0
H200_A = "GPU-0a1b2c3d-0000-1111-2222-333344445555"  # the double's two GPUs, in NVML order
H200_B = "GPU-6e7f8091-6666-7777-8888-999900001111"
DRIVER_FAILURE = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)


@pytest.fixture(scope="module")
def plugin_env() -> Iterator[dict[str, str]]:
    """The fake plugin's Allocate envs for the second of its two emulated Tesla T4s."""
    socket_dir = Path(tempfile.mkdtemp(prefix="gc", dir="/tmp"))
    try:
        envs, _ = asyncio.run(allocated_envs(socket_dir))
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)
    yield envs


@pytest.fixture
def nvml_double() -> ModuleType:
    """The NVML double as a module object of its own (not installed as `pynvml`)."""
    spec = importlib.util.spec_from_file_location("nvml_double", NVML_DOUBLE_DIR / "pynvml.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(argv: list[str], env: dict[str, str]) -> tuple[int, list[str], list[str]]:
    out: list[str] = []
    err: list[str] = []
    code = nvidia_smi.run(argv, env, out.append, err.append)
    return code, out, err


def test_lists_the_gpu_the_plugin_allocated_and_parses_to_its_name_and_uuid(
    plugin_env: dict[str, str],
) -> None:
    allocated = plugin_env["NVIDIA_VISIBLE_DEVICES"]  # the one device id the kubelet asked for
    assert allocated.startswith("GPU-") and "," not in allocated
    code, out, err = run(["-L"], plugin_env)
    assert (code, out, err) == (0, [f"GPU 0: Tesla T4 (emulated) (UUID: {allocated})"], [])
    listing = parse_workload_log("\n".join(out), parser="nvidia-smi")
    assert isinstance(listing, DeviceListing)
    [gpu] = listing.discoveries
    assert (gpu.index, gpu.name, gpu.uuid, gpu.emulated) == (0, "Tesla T4", allocated, True)
    assert run(["--list-gpus"], plugin_env) == (code, out, err)


def test_every_allocated_gpu_is_listed_in_allocation_order() -> None:
    env = {"NVIDIA_VISIBLE_DEVICES": "GPU-b,GPU-a", "GPUCONF_GPU_COUNT": "2"}
    for i, (product, uuid) in enumerate([("Tesla K80", "GPU-b"), ("Tesla K80", "GPU-a")]):
        env |= {f"GPUCONF_GPU_{i}_PRODUCT": product, f"GPUCONF_GPU_{i}_UUID": uuid}
        env[f"GPUCONF_GPU_{i}_EMULATED"] = "1"
    code, out, _ = run(["-L"], env)
    assert code == 0
    assert [(d.index, d.uuid) for d in parse_workload_log("\n".join(out)).discoveries] == [
        (0, "GPU-b"),
        (1, "GPU-a"),
    ]


@pytest.mark.parametrize("visible", [None, "", "void", "none"])
def test_without_an_allocated_gpu_it_fails_like_nvidia_smi_without_a_driver(visible: str | None) -> None:
    env = {} if visible is None else {"NVIDIA_VISIBLE_DEVICES": visible}
    assert run(["-L"], env) == (9, [DRIVER_FAILURE], [])
    assert parse_workload_log(DRIVER_FAILURE).failure_names == ["driver-not-loaded"]


def test_emulated_gpus_never_fall_through_to_the_hosts_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpuinfo, "load_nvml", lambda: pytest.fail("NVML asked for an emulated allocation"))
    # Marked emulated but without product envs: nothing to list, and the host's GPUs stay unseen.
    env = {"NVIDIA_VISIBLE_DEVICES": H200_A, "GPUCONF_GPU_EMULATED": "1"}
    assert run(["-L"], env) == (6, ["No devices were found"], [])


@pytest.mark.parametrize(
    ("visible", "listed"),
    [
        (H200_B, [f"GPU 0: NVIDIA H200 (UUID: {H200_B})"]),
        (
            f"{H200_B},{H200_A}",
            [f"GPU 0: NVIDIA H200 (UUID: {H200_A})", f"GPU 1: NVIDIA H200 (UUID: {H200_B})"],
        ),
        ("1", [f"GPU 0: NVIDIA H200 (UUID: {H200_B})"]),
        ("all", [f"GPU 0: NVIDIA H200 (UUID: {H200_A})", f"GPU 1: NVIDIA H200 (UUID: {H200_B})"]),
        ("GPU-not-on-this-host", []),
    ],
)
def test_real_gpus_are_only_those_nvidia_visible_devices_names(
    nvml_double: ModuleType, visible: str, listed: list[str]
) -> None:
    assert nvidia_smi.real_listing(nvml_double, visible) == listed


def test_real_path_through_pynvml_lists_only_the_allocated_uuid() -> None:
    # The whole program with the double installed as `pynvml`, given what the plugin's nvml mode
    # allocates for the host's second GPU.
    done = subprocess.run(
        [sys.executable, "-m", "gpuconf.workload.nvidia_smi", "-L"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(NVML_DOUBLE_DIR),
            "NVIDIA_VISIBLE_DEVICES": H200_B,
            "GPUCONF_GPU_EMULATED": "0",
        },
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"GPU 0: NVIDIA H200 (UUID: {H200_B})\n", "")
    [gpu] = parse_workload_log(done.stdout, parser="nvidia-smi").discoveries
    assert (gpu.name, gpu.uuid, gpu.emulated) == ("NVIDIA H200", H200_B, False)


def test_a_real_allocation_without_nvml_is_the_driver_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpuinfo, "load_nvml", lambda: None)
    assert run(["-L"], {"NVIDIA_VISIBLE_DEVICES": H200_A, "GPUCONF_GPU_EMULATED": "0"}) == (
        9,
        [DRIVER_FAILURE],
        [],
    )


@pytest.mark.parametrize("argv", [[], ["-q"], ["-L", "-i", "0"], ["--query-gpu=name"]])
def test_other_arguments_are_one_line_naming_what_is_supported(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpuconf.workload.nvidia_smi", *argv],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1
    assert "supports only -L / --list-gpus, not: " in done.stderr
