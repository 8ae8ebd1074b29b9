"""End to end without a cluster: the fake device plugin's Allocate envs, handed to the workload the
way a kubelet hands them to a container, make it announce exactly the GPU it was given."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from gpuconf.deviceplugin import DevicePlugin, PluginConfig
from gpuconf.deviceplugin.api import pb2
from gpuconf.workload import mnist
from tests.deviceplugin.recording_kubelet import RecordingKubelet

STEP_TIMEOUT_S = 5.0


async def allocated_envs(socket_dir: Path) -> tuple[dict[str, str], str]:
    kubelet = RecordingKubelet(socket_dir)
    await kubelet.start()
    plugin = DevicePlugin(PluginConfig(socket_dir=socket_dir, devices=2, product="Tesla T4"))
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(plugin.run(stop))
    try:
        await kubelet.wait_until(
            lambda: kubelet.allocatable() == 2, timeout=STEP_TIMEOUT_S, describe="2 GPUs"
        )
        second = plugin.devices[1]
        request = pb2.AllocateRequest(
            container_requests=[pb2.ContainerAllocateRequest(devices_ids=[second.id])]
        )
        reply = await kubelet.stub.Allocate(request, timeout=STEP_TIMEOUT_S)
        return dict(reply.container_responses[0].envs), second.pci_bus_id
    finally:
        stop.set()
        await asyncio.wait_for(task, STEP_TIMEOUT_S)
        await kubelet.stop()


def test_workload_announces_the_gpu_the_plugin_allocated() -> None:
    socket_dir = Path(tempfile.mkdtemp(prefix="gc", dir="/tmp"))
    try:
        envs, pci_bus_id = asyncio.run(allocated_envs(socket_dir))
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)
    lines: list[str] = []
    # CUDA_VISIBLE_DEVICES="": what the emulated cluster gives a pod with no real GPU (see
    # gpuconf.emulator.runtime.images), so a GPU machine with PyTorch announces the emulated T4 too.
    assert mnist.run(["--max_steps", "20"], {**envs, "CUDA_VISIBLE_DEVICES": ""}, lines.append) == 0
    creating = [line for line in lines if "Creating TensorFlow device" in line]
    assert len(creating) == 1
    assert creating[0].endswith(
        f"(device: 0, name: Tesla T4, pci bus id: {pci_bus_id}, compute capability: 7.5) (emulated)"
    )
    assert "totalMemory: 15.00GiB" in "\n".join(lines)
