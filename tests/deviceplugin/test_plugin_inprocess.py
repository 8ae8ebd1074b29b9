"""The plugin running in-process (as the 1,000-node emulator runs it) against a real Registration server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from gpuconf.deviceplugin import ConfigError, DevicePlugin, PluginConfig, statpoller
from gpuconf.deviceplugin.api import HEALTHY, UNHEALTHY, VERSION, pb2
from tests.deviceplugin.recording_kubelet import RecordingKubelet

STEP_TIMEOUT_S = 5.0  # each observable step; the plugin needs ~0.1 s at most
SAME_INODE = 4242  # what the patched stat signature reports for every file


@contextlib.asynccontextmanager
async def running(plugin: DevicePlugin) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(plugin.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, STEP_TIMEOUT_S)


def scenario(body: Callable[[Path], Awaitable[None]], socket_dir: Path) -> None:
    asyncio.run(body(socket_dir))


def allocate(kubelet: RecordingKubelet, *ids: str) -> Awaitable[pb2.AllocateResponse]:
    request = pb2.AllocateRequest(container_requests=[pb2.ContainerAllocateRequest(devices_ids=list(ids))])
    return kubelet.stub.Allocate(request, timeout=STEP_TIMEOUT_S)


def test_registers_and_lists_every_device_healthy(socket_dir: Path) -> None:
    async def body(d: Path) -> None:
        kubelet = RecordingKubelet(d)
        await kubelet.start()
        plugin = DevicePlugin(PluginConfig(socket_dir=d, devices=2, product="Tesla K80"))
        async with running(plugin):
            await kubelet.wait_until(
                lambda: len(kubelet.latest()) == 2, timeout=STEP_TIMEOUT_S, describe="2 devices"
            )
            request = kubelet.registrations[0].request
            assert (request.version, request.resource_name, request.endpoint) == (
                VERSION,
                "nvidia.com/gpu",
                "nvidia-gpu.sock",
            )
            assert (
                request.options.get_preferred_allocation_available and not request.options.pre_start_required
            )
            assert kubelet.latest() == {d.id: HEALTHY for d in plugin.devices}
            assert all(i.startswith("GPU-") for i in kubelet.latest())
            options = await kubelet.stub.GetDevicePluginOptions(pb2.Empty(), timeout=STEP_TIMEOUT_S)
            assert options.get_preferred_allocation_available
            await kubelet.stub.PreStartContainer(
                pb2.PreStartContainerRequest(devices_ids=[plugin.devices[0].id])
            )
        assert not (d / "nvidia-gpu.sock").exists()
        await kubelet.stop()

    scenario(body, socket_dir)


def test_health_flip_drops_allocatable_then_recovers_via_api_and_control_file(socket_dir: Path) -> None:
    async def body(d: Path) -> None:
        kubelet = RecordingKubelet(d)
        await kubelet.start()
        health_file = d / "gpuconf-health.json"
        plugin = DevicePlugin(PluginConfig(socket_dir=d, devices=2, health_file=health_file))
        first, second = (dev.id for dev in plugin.devices)
        async with running(plugin):
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 2, timeout=STEP_TIMEOUT_S, describe="2 healthy"
            )
            plugin.set_health(first, healthy=False)
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 1, timeout=STEP_TIMEOUT_S, describe="api flip"
            )
            assert kubelet.latest() == {first: UNHEALTHY, second: HEALTHY}  # full list, capacity stays 2
            plugin.set_health(first, healthy=True)
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 2, timeout=STEP_TIMEOUT_S, describe="recovery"
            )

            health_file.write_text(json.dumps({"unhealthy": [second, 0]}))
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 0, timeout=STEP_TIMEOUT_S, describe="file flip"
            )
            assert len(kubelet.latest()) == 2
            health_file.write_text("{not json")  # logged and ignored: state stays
            health_file.unlink()
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 2, timeout=STEP_TIMEOUT_S, describe="file gone"
            )
            with pytest.raises(ValueError, match="unknown device 'GPU-nope'"):
                plugin.set_health("GPU-nope", healthy=False)
        await kubelet.stop()

    scenario(body, socket_dir)


def test_allocate_returns_nvidia_envs_and_rejects_unknown_or_unhealthy_devices(socket_dir: Path) -> None:
    async def body(d: Path) -> None:
        kubelet = RecordingKubelet(d)
        await kubelet.start()
        plugin = DevicePlugin(PluginConfig(socket_dir=d, devices=3, product="T4"))
        ids = [dev.id for dev in plugin.devices]
        async with running(plugin):
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 3, timeout=STEP_TIMEOUT_S, describe="3 healthy"
            )
            reply = await allocate(kubelet, ids[1], ids[2])
            envs = dict(reply.container_responses[0].envs)
            assert envs["NVIDIA_VISIBLE_DEVICES"] == f"{ids[1]},{ids[2]}"
            assert envs["GPUCONF_GPU_COUNT"] == "2"
            assert (
                envs["GPUCONF_GPU_PRODUCT"] == "Tesla T4" and envs["GPUCONF_GPU_COMPUTE_CAPABILITY"] == "7.5"
            )
            assert envs["GPUCONF_GPU_MEMORY_GIB"] == "15.00" and envs["GPUCONF_GPU_EMULATED"] == "1"
            assert envs["GPUCONF_GPU_PCI_BUS_ID"] == plugin.devices[1].pci_bus_id
            assert envs["GPUCONF_GPU_1_PCI_BUS_ID"] == plugin.devices[2].pci_bus_id
            assert envs["GPUCONF_GPU_1_UUID"] == ids[2]

            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await allocate(kubelet, ids[0], "GPU-not-here")
            assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "unknown device: GPU-not-here" in (unknown.value.details() or "")

            plugin.set_health(ids[0], healthy=False)
            with pytest.raises(grpc.aio.AioRpcError) as unhealthy:
                await allocate(kubelet, ids[0])
            assert f"unhealthy device: {ids[0]}" in (unhealthy.value.details() or "")

            preferred = await kubelet.stub.GetPreferredAllocation(
                pb2.PreferredAllocationRequest(
                    container_requests=[
                        pb2.ContainerPreferredAllocationRequest(
                            available_deviceIDs=[ids[2], ids[1]],
                            must_include_deviceIDs=[ids[2]],
                            allocation_size=2,
                        )
                    ]
                ),
                timeout=STEP_TIMEOUT_S,
            )
            assert list(preferred.container_responses[0].deviceIDs) == [ids[2], ids[1]]
        await kubelet.stop()

    scenario(body, socket_dir)


def test_survives_absent_kubelet_and_reregisters_when_kubelet_socket_is_recreated(socket_dir: Path) -> None:
    async def body(d: Path) -> None:
        kubelet = RecordingKubelet(d)
        plugin = DevicePlugin(PluginConfig(socket_dir=d, devices=1))
        async with running(plugin) as task:
            # No kubelet yet: the plugin serves and waits.
            await asyncio.wait_for(plugin.serving.wait(), STEP_TIMEOUT_S)
            assert not task.done() and plugin.registrations == 0
            await kubelet.start()
            await kubelet.wait_until(
                lambda: len(kubelet.registrations) == 1, timeout=STEP_TIMEOUT_S, describe="1st"
            )
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 1, timeout=STEP_TIMEOUT_S, describe="list"
            )
            for expected in (2, 3):  # a kubelet restart deletes the plugin's socket too
                await kubelet.restart()
                await kubelet.wait_until(
                    lambda n=expected: len(kubelet.registrations) == n,
                    timeout=STEP_TIMEOUT_S,
                    describe=f"registration {expected}",
                )
                await kubelet.wait_until(
                    lambda: kubelet.allocatable() == 1, timeout=STEP_TIMEOUT_S, describe="list"
                )
            assert (d / "nvidia-gpu.sock").exists()
        assert not (d / "nvidia-gpu.sock").exists()
        await kubelet.stop()

    scenario(body, socket_dir)


def test_reregisters_when_kubelet_socket_is_recreated_with_the_same_inode_number(
    socket_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-created file often gets its old inode number back; only the change time tells it apart.

    The stat signature is made to report one inode number for kubelet.sock whatever the file, and
    the new socket is renamed over the old path with the old mtime: a poller that compared the inode
    (or mtime, or size) alone would never see the new kubelet.
    """
    real_signature = statpoller.signature
    monkeypatch.setattr(
        statpoller,
        "signature",
        lambda path: None if (sig := real_signature(path)) is None else (SAME_INODE, *sig[1:]),
    )

    async def body(d: Path) -> None:
        kubelet = RecordingKubelet(d)
        await kubelet.start()
        plugin = DevicePlugin(PluginConfig(socket_dir=d, devices=1))
        async with running(plugin):
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 1, timeout=STEP_TIMEOUT_S, describe="list"
            )
            before, seen_before = os.stat(kubelet.socket), statpoller.signature(kubelet.socket)
            await kubelet.replace_socket_atomically(mtime_ns=before.st_mtime_ns)
            after, seen_after = os.stat(kubelet.socket), statpoller.signature(kubelet.socket)
            # The premise: a new file (another real inode) whose signature differs only in change time.
            assert after.st_ino != before.st_ino
            assert seen_before is not None and seen_after is not None
            assert seen_before[0] == seen_after[0] == SAME_INODE
            assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
            assert after.st_ctime_ns != before.st_ctime_ns
            await kubelet.wait_until(
                lambda: len(kubelet.registrations) == 2, timeout=STEP_TIMEOUT_S, describe="re-registration"
            )
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 1,
                timeout=STEP_TIMEOUT_S,
                describe="list after re-registration",
            )
            assert plugin.registrations == 2
        await kubelet.stop()

    scenario(body, socket_dir)


def test_many_plugins_share_one_event_loop(socket_dir: Path) -> None:
    async def body(d: Path) -> None:
        nodes = [d / f"n{i}" for i in range(20)]
        kubelets = [RecordingKubelet(n) for n in nodes]
        for node, kubelet in zip(nodes, kubelets, strict=True):
            node.mkdir()
            await kubelet.start()
        plugins = [DevicePlugin(PluginConfig(socket_dir=n, devices=2)) for n in nodes]
        stop = asyncio.Event()
        tasks = [asyncio.get_running_loop().create_task(p.run(stop)) for p in plugins]
        for kubelet in kubelets:
            await kubelet.wait_until(
                lambda k=kubelet: k.allocatable() == 2, timeout=STEP_TIMEOUT_S, describe="2"
            )
        # Device IDs differ between nodes, as real GPU UUIDs do.
        assert len({dev.id for p in plugins for dev in p.devices}) == 40
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), STEP_TIMEOUT_S)
        for kubelet in kubelets:
            await kubelet.stop()

    scenario(body, socket_dir)


def test_bad_settings_get_one_clear_line(socket_dir: Path) -> None:
    with pytest.raises(ConfigError, match="--mode must be one of fake, nvml"):
        PluginConfig(socket_dir=socket_dir, mode="cuda")
    with pytest.raises(ConfigError, match="--resource must look like"):
        PluginConfig(socket_dir=socket_dir, resource="gpu")
    with pytest.raises(ConfigError, match="too long for a unix socket"):
        PluginConfig(socket_dir=socket_dir / ("x" * 120))
    with pytest.raises(ConfigError, match="unknown GPU product 'Quantum 9000'"):
        DevicePlugin(PluginConfig(socket_dir=socket_dir, product="Quantum 9000"))
    custom = DevicePlugin(
        PluginConfig(socket_dir=socket_dir, product="Quantum 9000", compute_capability="12.0")
    )
    assert custom.devices[0].compute_capability == "12.0"


def test_stop_is_prompt_even_while_registering_with_a_dead_kubelet_socket(socket_dir: Path) -> None:
    async def body(d: Path) -> None:
        (d / "kubelet.sock").write_text("")  # left behind by a crashed kubelet: nobody answers
        plugin = DevicePlugin(PluginConfig(socket_dir=d, devices=1))
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(plugin.run(stop))
        await asyncio.wait_for(plugin.serving.wait(), STEP_TIMEOUT_S)
        stop.set()
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(task, STEP_TIMEOUT_S)
        # Register alone would hold on for REGISTER_TIMEOUT_S (5 s).
        assert asyncio.get_running_loop().time() - started < 1.0
        assert plugin.registrations == 0 and not (d / "nvidia-gpu.sock").exists()

    scenario(body, socket_dir)
