"""The emulated kubelet's device manager against scripted plugins: Register's dial, plugin loss.

What real kubelet does (pkg/kubelet/cm/devicemanager): Register dials the plugin's socket inside the
call and fails it if the plugin does not answer (plugin/v1beta1 server.go, client.go); when the
ListAndWatch stream ends every device is marked unhealthy, so capacity stays and allocatable is 0
(manager.go PluginDisconnected / markResourceUnhealthy), and the resource goes only after
endpointStopGracePeriod (types.go, 5 min) — then the node shows it at 0.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from gpuconf.deviceplugin.api import UNHEALTHY, pb2, pb2_grpc
from gpuconf.emulator.kubelet.devicemanager import AllocationError, DeviceManager, DevicePluginTiming
from tests.deviceplugin.scripted_plugin import ScriptedPlugin, healthy

RESOURCE = "example.com/widget"
STEP_TIMEOUT_S = 5.0  # each observable step takes milliseconds
DIAL_TIMEOUT_S = 0.5  # the kubelet's dial timeout here (10 s in kubelet)
GRACE_S = 1.0  # endpointStopGracePeriod here (5 min in kubelet)
# A re-registered plugin must outlive the old endpoint's grace period: watched this long past it.
PAST_GRACE_S = GRACE_S + 0.5


class Published:
    """Every (resource, capacity, allocatable) the manager published, and a bounded wait on them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.times: list[float] = []
        self._changed = asyncio.Condition()

    def __call__(self, resource: str, capacity: int, allocatable: int) -> None:
        self.calls.append((resource, capacity, allocatable))
        self.times.append(asyncio.get_running_loop().time())

        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def wait(self, expected: tuple[int, int], describe: str) -> float:
        """Until the latest publication is (capacity, allocatable) == expected; when it came."""

        def seen() -> bool:
            return bool(self.calls) and self.calls[-1][1:] == expected

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(seen), STEP_TIMEOUT_S)
            except TimeoutError:
                raise AssertionError(
                    f"timed out after {STEP_TIMEOUT_S}s waiting for {describe}; published {self.calls}"
                ) from None
        return self.times[-1]


def scenario(body: Callable[[DeviceManager, Published, Path], Awaitable[None]], socket_dir: Path) -> None:
    async def main() -> None:
        published = Published()
        timing = DevicePluginTiming(dial_timeout_s=DIAL_TIMEOUT_S, endpoint_stop_grace_s=GRACE_S)
        manager = DeviceManager(socket_dir, published, timing=timing)
        await manager.start()
        try:
            await body(manager, published, socket_dir)
        finally:
            await manager.stop()

    asyncio.run(main())


def stale_socket(path: Path) -> None:
    """A socket file nobody listens on: what a crashed plugin leaves behind (connect is refused)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()


def test_register_for_a_socket_that_does_not_answer_fails_and_registers_nothing(socket_dir: Path) -> None:
    async def body(manager: DeviceManager, published: Published, d: Path) -> None:
        plugin = ScriptedPlugin(d, RESOURCE, healthy("w0"), endpoint="stale.sock")
        stale_socket(plugin.socket)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await plugin.register()
        assert refused.value.code() == grpc.StatusCode.UNKNOWN
        assert refused.value.details() == "failed to dial device plugin: context deadline exceeded"
        assert manager.resources() == {}
        assert published.calls == []

        # The same plugin, once it serves its socket, is accepted: the kubelet knows the endpoint by
        # the time Register returns, and the devices follow through ListAndWatch.
        plugin.socket.unlink()
        await plugin.start()
        assert RESOURCE in manager.resources()
        await published.wait((1, 1), "the plugin's one healthy device")
        assert manager.resources() == {RESOURCE: {"w0": "Healthy"}}
        await plugin.stop()

    scenario(body, socket_dir)


def test_register_refuses_another_api_version_and_a_non_extended_resource_name(socket_dir: Path) -> None:
    async def body(manager: DeviceManager, published: Published, d: Path) -> None:
        channel = grpc.aio.insecure_channel(f"unix://{manager.socket_path}")
        stub = pb2_grpc.RegistrationStub(channel)
        cases = {
            ("v1alpha", RESOURCE): 'requested API version "v1alpha" is not supported by kubelet. '
            'Supported version is ["v1beta1"]',
            ("v1beta1", "cpu"): 'the ResourceName "cpu" is invalid',
            ("v1beta1", "kubernetes.io/widget"): 'the ResourceName "kubernetes.io/widget" is invalid',
        }
        try:
            for (version, resource), message in cases.items():
                request = pb2.RegisterRequest(version=version, endpoint="x.sock", resource_name=resource)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.Register(request, timeout=STEP_TIMEOUT_S)
                assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.UNKNOWN, message)
        finally:
            await channel.close()
        assert manager.resources() == {} and published.calls == []

    scenario(body, socket_dir)


def test_plugin_gone_keeps_capacity_drops_allocatable_then_removes_the_resource_after_grace(
    socket_dir: Path,
) -> None:
    async def body(manager: DeviceManager, published: Published, d: Path) -> None:
        plugin = ScriptedPlugin(d, RESOURCE, healthy("w0", "w1"))
        await plugin.start()
        await published.wait((2, 2), "2 healthy devices")
        devices = await manager.allocate("pod-a", "main", RESOURCE, 1)
        assert devices.device_ids == ["w0"] and plugin.allocations == [["w0"]]
        manager.release("pod-a")

        await plugin.stop()
        stopped_at = await published.wait((2, 0), "capacity kept, allocatable 0 once the stream ended")
        assert manager.stopped(RESOURCE)
        assert manager.resources() == {RESOURCE: {"w0": UNHEALTHY, "w1": UNHEALTHY}}
        with pytest.raises(AllocationError) as refused:
            await manager.allocate("pod-b", "main", RESOURCE, 1)
        assert str(refused.value) == (
            "Allocate failed due to no healthy devices present; cannot allocate unhealthy devices "
            f"{RESOURCE}, which is unexpected"
        )

        removed_at = await published.wait((0, 0), "the resource removed after the grace period")
        assert removed_at - stopped_at >= GRACE_S
        assert published.calls == [(RESOURCE, 2, 2), (RESOURCE, 2, 0), (RESOURCE, 0, 0)]
        assert manager.resources() == {} and not manager.stopped(RESOURCE)
        with pytest.raises(AllocationError) as unregistered:
            await manager.allocate("pod-b", "main", RESOURCE, 1)
        assert str(unregistered.value) == (
            f"Allocate failed due to cannot allocate unregistered device {RESOURCE}, which is unexpected"
        )

    scenario(body, socket_dir)


def test_a_plugin_registering_again_within_the_grace_period_replaces_the_stopped_endpoint(
    socket_dir: Path,
) -> None:
    async def body(manager: DeviceManager, published: Published, d: Path) -> None:
        first = ScriptedPlugin(d, RESOURCE, healthy("w0", "w1"), endpoint="first.sock")
        await first.start()
        await published.wait((2, 2), "the first plugin's devices")
        await first.stop()
        await published.wait((2, 0), "the first plugin gone")

        second = ScriptedPlugin(d, RESOURCE, healthy("w0", "w1", "w2"), endpoint="second.sock")
        await second.start()
        await published.wait((3, 3), "the second plugin's devices")
        assert not manager.stopped(RESOURCE)
        await asyncio.sleep(PAST_GRACE_S)  # what must not happen: the old endpoint's expiry
        assert published.calls == [(RESOURCE, 2, 2), (RESOURCE, 2, 0), (RESOURCE, 3, 3)]
        devices = await manager.allocate("pod-a", "main", RESOURCE, 3)
        assert second.allocations == [["w0", "w1", "w2"]] and first.allocations == []
        assert devices.device_ids == ["w0", "w1", "w2"]
        await second.stop()

    scenario(body, socket_dir)
