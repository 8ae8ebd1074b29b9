"""The kubelet's device manager: the real v1beta1 Registration service on the node's kubelet.sock.

A plugin registers; the manager dials the plugin's own socket, consumes ListAndWatch and
publishes capacity (all devices) and allocatable (healthy devices) on the Node. When the stream
ends (plugin gone) the resource is kept at 0, as the real kubelet does. `allocate` picks healthy
free devices for a container and calls the plugin's Allocate; the envs and mounts it returns go
into the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    from gpuconf.deviceplugin.api import pb2, pb2_grpc

# The v1beta1 stubs are generated when gpuconf.deviceplugin.api is imported; importing it lazily
# keeps `serve --nodes 0` and the controllers usable without grpcio-tools doing that work.

log = logging.getLogger(__name__)
ResourceCallback = Callable[[str, int, int], None]  # (resource, capacity, allocatable)
ALLOCATE_TIMEOUT_S = 5.0
DIAL_TIMEOUT_S = 5.0
CHANNEL_CLOSE_TIMEOUT_S = 2.0


class AllocationError(Exception):
    """Admission failure; the message is the kubelet's (it becomes the pod's status message)."""


@dataclass
class ContainerDevices:
    device_ids: list[str]
    envs: dict[str, str]
    mounts: list[tuple[str, str, bool]]  # (container_path, host_path, read_only)


@dataclass
class _Endpoint:
    resource: str
    socket: Path
    channel: grpc.aio.Channel
    stub: pb2_grpc.DevicePluginStub
    devices: dict[str, str] = field(default_factory=dict)  # id -> health
    task: asyncio.Task[None] | None = None


class DeviceManager:
    def __init__(self, plugin_dir: Path, on_resource: ResourceCallback) -> None:
        self.plugin_dir = plugin_dir
        self.socket_path: Path | None = None  # <plugin_dir>/kubelet.sock once started
        self._on_resource = on_resource
        self._endpoints: dict[str, _Endpoint] = {}
        # (pod uid, container name) -> resource -> allocation, kept across container restarts
        self._allocations: dict[tuple[str, str], dict[str, ContainerDevices]] = {}
        self._server: grpc.aio.Server | None = None
        self._api: Any = None
        self._closing: set[asyncio.Task[None]] = set()
        # Fault injection: a cap on how many of the plugin's devices the node advertises.
        self._caps: dict[str, int] = {}

    async def start(self) -> None:
        self.plugin_dir.mkdir(parents=True, exist_ok=True)
        # A starting kubelet removes every socket in the directory; plugins notice and re-register.
        for stale in self.plugin_dir.glob("*.sock"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        from gpuconf.deviceplugin import api

        self._api = api
        self.socket_path = self.plugin_dir / api.KUBELET_SOCKET
        server = grpc.aio.server()
        api.pb2_grpc.add_RegistrationServicer_to_server(_registration_servicer(self), server)
        server.add_insecure_port(f"unix://{self.socket_path}")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        for endpoint in list(self._endpoints.values()):
            await self._drop(endpoint)
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=CHANNEL_CLOSE_TIMEOUT_S)
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()

    def resources(self) -> dict[str, dict[str, str]]:
        return {name: self._effective(e) for name, e in self._endpoints.items()}

    def _effective(self, endpoint: _Endpoint) -> dict[str, str]:
        """The devices as the kubelet counts them: the plugin's list after injected faults."""
        ids = sorted(endpoint.devices)
        cap = self._caps.get(endpoint.resource)
        if cap is not None:
            ids = ids[:cap]
        return {i: endpoint.devices[i] for i in ids}

    def cap_devices(self, resource: str, count: int | None) -> None:
        if count is None:
            self._caps.pop(resource, None)
        else:
            self._caps[resource] = max(0, count)
        endpoint = self._endpoints.get(resource)
        if endpoint is not None:
            self._publish(endpoint)

    async def register(self, request: pb2.RegisterRequest) -> None:
        version = self._api.VERSION
        if request.version != version:
            raise ValueError(f"unsupported device plugin API version {request.version!r}, want {version}")
        endpoint_path = self.plugin_dir / request.endpoint
        old = self._endpoints.get(request.resource_name)
        if old is not None:
            await self._drop(old, publish=False)  # a re-registering plugin replaces its old endpoint
        channel = grpc.aio.insecure_channel(f"unix://{endpoint_path}")
        endpoint = _Endpoint(
            request.resource_name, endpoint_path, channel, self._api.pb2_grpc.DevicePluginStub(channel)
        )
        self._endpoints[request.resource_name] = endpoint
        endpoint.task = asyncio.get_running_loop().create_task(
            self._list_and_watch(endpoint), name=f"listandwatch-{request.resource_name}"
        )

    async def _list_and_watch(self, endpoint: _Endpoint) -> None:
        try:
            await asyncio.wait_for(endpoint.channel.channel_ready(), timeout=DIAL_TIMEOUT_S)
            async for response in endpoint.stub.ListAndWatch(self._api.pb2.Empty()):
                endpoint.devices = {d.ID: d.health for d in response.devices}
                self._publish(endpoint)
        except (grpc.aio.AioRpcError, TimeoutError) as err:
            log.info("device plugin %s stream ended: %s", endpoint.resource, err)
        finally:
            if self._endpoints.get(endpoint.resource) is endpoint:
                endpoint.devices = {}
                self._publish(endpoint)  # plugin gone: the resource drops to 0

    def _publish(self, endpoint: _Endpoint) -> None:
        devices = self._effective(endpoint)
        healthy = sum(1 for h in devices.values() if h == "Healthy")
        self._on_resource(endpoint.resource, len(devices), healthy)

    async def _drop(self, endpoint: _Endpoint, publish: bool = True) -> None:
        if endpoint.task is not None:
            endpoint.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await endpoint.task
        # channel.close() can take ~190 ms: keep it off the caller's path (stop() awaits them).
        closing = asyncio.get_running_loop().create_task(endpoint.channel.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        if self._endpoints.get(endpoint.resource) is endpoint:
            del self._endpoints[endpoint.resource]
            if publish:
                self._on_resource(endpoint.resource, 0, 0)

    async def allocate(self, pod_uid: str, container: str, resource: str, count: int) -> ContainerDevices:
        key = (pod_uid, container)
        existing = self._allocations.get(key, {}).get(resource)
        if existing is not None:
            return existing  # a restarted container keeps its devices
        endpoint = self._endpoints.get(resource)
        in_use = {
            d
            for allocs in self._allocations.values()
            for r, a in allocs.items()
            if r == resource
            for d in a.device_ids
        }
        free = (
            sorted(i for i, h in endpoint.devices.items() if h == "Healthy" and i not in in_use)
            if endpoint
            else []
        )
        if len(free) < count:
            raise AllocationError(
                f"Allocate failed due to requested number of devices unavailable for {resource}. "
                f"Requested: {count}, Available: {len(free)}, which is unexpected"
            )
        assert endpoint is not None
        chosen = free[:count]
        pb = self._api.pb2
        request = pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devices_ids=chosen)])
        try:
            response = await endpoint.stub.Allocate(request, timeout=ALLOCATE_TIMEOUT_S)
        except grpc.aio.AioRpcError as err:
            raise AllocationError(f"Allocate failed for {resource}: {err.details()}") from None
        reply = response.container_responses[0]
        devices = ContainerDevices(
            chosen,
            dict(reply.envs),
            [(m.container_path, m.host_path, m.read_only) for m in reply.mounts],
        )
        self._allocations.setdefault(key, {})[resource] = devices
        return devices

    def release(self, pod_uid: str) -> None:
        for key in [k for k in self._allocations if k[0] == pod_uid]:
            del self._allocations[key]


def _registration_servicer(manager: DeviceManager) -> Any:
    """The kubelet's v1beta1 Registration service, bound to one node's device manager."""
    from gpuconf.deviceplugin.api import pb2, pb2_grpc

    class Registration(pb2_grpc.RegistrationServicer):  # type: ignore[misc,name-defined]
        async def Register(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
            try:
                await manager.register(request)
            except ValueError as err:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
            return pb2.Empty()

    return Registration()
