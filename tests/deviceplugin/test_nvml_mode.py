"""nvml mode against a test double of NVML (a pynvml-shaped module): real GPUs are enumerated by
UUID with their NVML properties, and a GPU NVML loses turns Unhealthy."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from gpuconf.deviceplugin import DevicePlugin, PluginConfig
from gpuconf.deviceplugin.api import HEALTHY, UNHEALTHY
from tests.deviceplugin.recording_kubelet import RecordingKubelet

STEP_TIMEOUT_S = 5.0
ROOT = Path(__file__).resolve().parents[2]


class FakeNvml(types.ModuleType):
    """Just the NVML calls the plugin makes, over two A100s; `lost` GPUs fail like a GPU off the bus."""

    NVML_CLOCK_MEM = 2

    class NVMLError(Exception):
        pass

    def __init__(self) -> None:
        super().__init__("pynvml")
        self.gpus = [
            {"uuid": "GPU-11111111-2222-3333-4444-555555555555", "bus": "00000000:3B:00.0"},
            {"uuid": "GPU-66666666-7777-8888-9999-000000000000", "bus": "00000000:AF:00.0"},
        ]
        self.lost: set[str] = set()
        self.initialised = False

    def nvmlInit(self) -> None:  # noqa: N802
        self.initialised = True

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.initialised = False

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, str]:  # noqa: N802
        return self.gpus[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> dict[str, str]:  # noqa: N802
        if uuid in self.lost:
            raise self.NVMLError("GPU is lost")
        return next(g for g in self.gpus if g["uuid"] == uuid)

    def nvmlDeviceGetUUID(self, handle: dict[str, str]) -> str:  # noqa: N802
        return handle["uuid"]

    def nvmlDeviceGetName(self, handle: dict[str, str]) -> bytes:  # noqa: N802
        return b"NVIDIA A100 80GB PCIe"  # older pynvml returned bytes

    def nvmlDeviceGetCudaComputeCapability(self, handle: dict[str, str]) -> tuple[int, int]:  # noqa: N802
        return (8, 0)

    def nvmlDeviceGetMaxClockInfo(self, handle: dict[str, str], clock: int) -> int:  # noqa: N802
        assert clock == self.NVML_CLOCK_MEM
        return 1512

    def nvmlDeviceGetMemoryInfo(self, handle: dict[str, str]) -> Any:  # noqa: N802
        return types.SimpleNamespace(total=85899345920)

    def nvmlDeviceGetPciInfo(self, handle: dict[str, str]) -> Any:  # noqa: N802
        return types.SimpleNamespace(busId=handle["bus"])


def test_nvml_devices_are_advertised_by_uuid_and_a_lost_gpu_turns_unhealthy(socket_dir: Path) -> None:
    nvml = FakeNvml()

    async def body() -> None:
        kubelet = RecordingKubelet(socket_dir)
        await kubelet.start()
        config = PluginConfig(socket_dir=socket_dir, mode="nvml", nvml_health_interval_s=0.02)
        plugin = DevicePlugin(config, nvml=nvml)
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(plugin.run(stop))
        first, second = (g["uuid"] for g in nvml.gpus)
        await kubelet.wait_until(
            lambda: kubelet.allocatable() == 2, timeout=STEP_TIMEOUT_S, describe="2 GPUs"
        )
        assert set(kubelet.latest()) == {first, second}
        reply = await kubelet.stub.Allocate(_allocate_request(second), timeout=STEP_TIMEOUT_S)
        envs = dict(reply.container_responses[0].envs)
        assert envs["NVIDIA_VISIBLE_DEVICES"] == second
        assert envs["GPUCONF_GPU_PRODUCT"] == "NVIDIA A100 80GB PCIe"
        assert envs["GPUCONF_GPU_COMPUTE_CAPABILITY"] == "8.0" and envs["GPUCONF_GPU_MEMORY_GIB"] == "80.00"
        assert envs["GPUCONF_GPU_PCI_BUS_ID"] == "00000000:AF:00.0" and envs["GPUCONF_GPU_EMULATED"] == "0"

        nvml.lost.add(first)
        await kubelet.wait_until(
            lambda: kubelet.allocatable() == 1, timeout=STEP_TIMEOUT_S, describe="lost GPU"
        )
        assert kubelet.latest() == {first: UNHEALTHY, second: HEALTHY}
        nvml.lost.clear()
        await kubelet.wait_until(
            lambda: kubelet.allocatable() == 2, timeout=STEP_TIMEOUT_S, describe="recovered"
        )
        stop.set()
        await asyncio.wait_for(task, STEP_TIMEOUT_S)
        await kubelet.stop()

    asyncio.run(body())
    assert not nvml.initialised  # NVML is shut down with the plugin


def _allocate_request(device_id: str) -> Any:
    from gpuconf.deviceplugin.api import pb2

    return pb2.AllocateRequest(container_requests=[pb2.ContainerAllocateRequest(devices_ids=[device_id])])


def test_nvml_mode_without_a_driver_fails_with_one_line(
    socket_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpuconf.deviceplugin",
            "--mode",
            "nvml",
            "--list",
            "--socket-dir",
            str(socket_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    # This machine has nvidia-ml-py but no driver; a GPU machine would list its GPUs instead.
    if done.returncode == 0:
        assert all(" GPU-" in line for line in done.stdout.splitlines())
    else:
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert done.stderr.startswith("gpuconf-device-plugin: error: ")
