"""The kubelet's device manager: the real v1beta1 Registration service on the node's kubelet.sock.

Registration follows kubelet's pkg/kubelet/cm/devicemanager (plugin/v1beta1 server.go, client.go,
manager.go): Register dials the plugin's own socket and asks for its DevicePluginOptions *inside*
the call, so a plugin whose socket does not answer gets an error back (`failed to dial device
plugin: ...`) and is not registered. Then ListAndWatch is consumed and the Node shows capacity
(all devices) and allocatable (healthy devices).

When the stream ends (plugin gone) the endpoint is stopped: every device is marked unhealthy, so
capacity keeps the device count and allocatable drops to 0. Only after the endpoint's grace
period (`endpointStopGracePeriod`, 5 minutes; `DevicePluginTiming.endpoint_stop_grace_s`) is the
resource removed, which the Node shows as capacity 0 and allocatable 0 (kubelet writes an explicit
0, not an absent key, for a resource a plugin once served). A plugin that registers again within
the grace period replaces the stopped endpoint.

`allocate` picks healthy free devices for a container and calls the plugin's Allocate; everything
it returns (envs, mounts, device specs, annotations) is kept as the container's `DeviceRunOptions`,
what kubelet's GetDeviceRunContainerOptions hands to the container runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
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
CHANNEL_CLOSE_TIMEOUT_S = 2.0
UNHEALTHY = "Unhealthy"


@dataclass
class DevicePluginTiming:
    """kubelet's constants: a 10 s dial (client.go), a 5 min endpointStopGracePeriod (types.go).

    Tests shorten them; the states and messages stay the same."""

    dial_timeout_s: float = 10.0
    endpoint_stop_grace_s: float = 300.0


class AllocationError(Exception):
    """Admission failure; the message is the kubelet's (it becomes the pod's status message)."""


class RegistrationError(Exception):
    """A Register the kubelet refuses; the message is the kubelet's (the plugin's RPC error)."""


def _admission(reason: str) -> str:
    return f"Allocate failed due to {reason}, which is unexpected"


_QUALIFIED_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def is_extended_resource_name(name: str) -> bool:
    """v1helper.IsExtendedResourceName: domain-prefixed, outside kubernetes.io, a qualified name."""
    if "/" not in name or name.startswith("requests."):
        return False
    domain, rest = name.split("/", 1)
    if domain == "kubernetes.io" or domain.endswith(".kubernetes.io"):
        return False
    return bool(_QUALIFIED_NAME.match(name)) and len(rest) <= 63 and len(domain) <= 253


@dataclass(frozen=True)
class Mount:
    container_path: str
    host_path: str
    read_only: bool = False


@dataclass(frozen=True)
class DeviceSpec:
    container_path: str
    host_path: str
    permissions: str = "rwm"


@dataclass
class DeviceRunOptions:
    """What a plugin's Allocate returned for one container (kubelet's DeviceRunContainerOptions)."""

    envs: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    devices: list[DeviceSpec] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)

    def merge(self, other: DeviceRunOptions) -> None:
        """Add another resource's options (a container may use several device plugins)."""
        self.envs.update(other.envs)
        self.mounts.extend(m for m in other.mounts if m not in self.mounts)
        self.devices.extend(d for d in other.devices if d not in self.devices)
        self.annotations.update(other.annotations)


@dataclass
class ContainerDevices:
    device_ids: list[str]
    options: DeviceRunOptions


@dataclass
class _Endpoint:
    resource: str
    socket: Path
    channel: grpc.aio.Channel
    stub: pb2_grpc.DevicePluginStub
    devices: dict[str, str] = field(default_factory=dict)  # id -> health
    task: asyncio.Task[None] | None = None
    stopped_at: float | None = None  # loop time the ListAndWatch stream ended
    expiry: asyncio.TimerHandle | None = None  # removes the resource after the grace period


class DeviceManager:
    def __init__(
        self, plugin_dir: Path, on_resource: ResourceCallback, *, timing: DevicePluginTiming | None = None
    ) -> None:
        self.plugin_dir = plugin_dir
        self.timing = timing or DevicePluginTiming()
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
        """kubelet's server.Register: validate, then connect (dial + GetDevicePluginOptions) before
        answering; RegistrationError if the plugin cannot be reached. ListAndWatch starts after."""
        version = self._api.VERSION
        if request.version != version:
            raise RegistrationError(
                f'requested API version "{request.version}" is not supported by kubelet. '
                f'Supported version is ["{version}"]'
            )
        if not is_extended_resource_name(request.resource_name):
            raise RegistrationError(f'the ResourceName "{request.resource_name}" is invalid')
        endpoint_path = self.plugin_dir / request.endpoint
        channel = grpc.aio.insecure_channel(f"unix://{endpoint_path}")
        stub = self._api.pb2_grpc.DevicePluginStub(channel)
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout=self.timing.dial_timeout_s)
        except TimeoutError:
            self._close_later(channel)
            log.info("device plugin %s: %s did not answer", request.resource_name, endpoint_path)
            raise RegistrationError("failed to dial device plugin: context deadline exceeded") from None
        try:
            await stub.GetDevicePluginOptions(self._api.pb2.Empty(), timeout=self.timing.dial_timeout_s)
        except grpc.aio.AioRpcError as err:
            self._close_later(channel)
            raise RegistrationError(f"failed to get device plugin options: {err.details()}") from None
        old = self._endpoints.get(request.resource_name)
        if old is not None:
            await self._drop(old, publish=False)  # a re-registering plugin replaces its old endpoint
        endpoint = _Endpoint(request.resource_name, endpoint_path, channel, stub)
        self._endpoints[request.resource_name] = endpoint
        endpoint.task = asyncio.get_running_loop().create_task(
            self._list_and_watch(endpoint), name=f"listandwatch-{request.resource_name}"
        )

    async def _list_and_watch(self, endpoint: _Endpoint) -> None:
        try:
            async for response in endpoint.stub.ListAndWatch(self._api.pb2.Empty()):
                endpoint.devices = {d.ID: d.health for d in response.devices}
                self._publish(endpoint)
        except grpc.aio.AioRpcError as err:
            log.info("device plugin %s stream ended: %s", endpoint.resource, err)
        finally:
            if self._endpoints.get(endpoint.resource) is endpoint:
                self._stop_endpoint(endpoint)

    def _stop_endpoint(self, endpoint: _Endpoint) -> None:
        """Plugin gone (kubelet's PluginDisconnected): every device unhealthy, so capacity stays and
        allocatable is 0; the resource itself goes once the grace period has passed."""
        loop = asyncio.get_running_loop()
        endpoint.devices = dict.fromkeys(endpoint.devices, UNHEALTHY)
        endpoint.stopped_at = loop.time()
        endpoint.expiry = loop.call_later(self.timing.endpoint_stop_grace_s, self._expire, endpoint)
        self._publish(endpoint)

    def _expire(self, endpoint: _Endpoint) -> None:
        """The grace period is over and no plugin re-registered: remove the resource (shown as 0)."""
        if self._endpoints.get(endpoint.resource) is not endpoint:
            return
        del self._endpoints[endpoint.resource]
        self._close_later(endpoint.channel)
        self._on_resource(endpoint.resource, 0, 0)

    def stopped(self, resource: str) -> bool:
        """True while the resource's plugin is gone but its grace period has not run out."""
        endpoint = self._endpoints.get(resource)
        return endpoint is not None and endpoint.stopped_at is not None

    def _publish(self, endpoint: _Endpoint) -> None:
        devices = self._effective(endpoint)
        healthy = sum(1 for h in devices.values() if h == "Healthy")
        self._on_resource(endpoint.resource, len(devices), healthy)

    async def _drop(self, endpoint: _Endpoint, publish: bool = True) -> None:
        """Forget an endpoint at once (replaced by a re-registration, or the kubelet stops)."""
        current = self._endpoints.get(endpoint.resource) is endpoint
        if current:
            del self._endpoints[endpoint.resource]  # first: its stream's end must not stop it again
        if endpoint.expiry is not None:
            endpoint.expiry.cancel()
        if endpoint.task is not None:
            endpoint.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await endpoint.task
        self._close_later(endpoint.channel)
        if current and publish:
            self._on_resource(endpoint.resource, 0, 0)

    def _close_later(self, channel: grpc.aio.Channel) -> None:
        # channel.close() can take ~190 ms: keep it off the caller's path (stop() awaits them).
        closing = asyncio.get_running_loop().create_task(channel.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def allocate(self, pod_uid: str, container: str, resource: str, count: int) -> ContainerDevices:
        key = (pod_uid, container)
        existing = self._allocations.get(key, {}).get(resource)
        if existing is not None:
            return existing  # a restarted container keeps its devices
        endpoint = self._endpoints.get(resource)
        # kubelet's devicesToAllocate checks, in its order and words; the kubelet's admission
        # wraps them in "Allocate failed due to %v, which is unexpected".
        if endpoint is None:
            raise AllocationError(_admission(f"cannot allocate unregistered device {resource}"))
        healthy = sorted(i for i, h in endpoint.devices.items() if h == "Healthy")
        if not healthy:
            raise AllocationError(
                _admission(f"no healthy devices present; cannot allocate unhealthy devices {resource}")
            )
        in_use = {
            d
            for allocs in self._allocations.values()
            for r, a in allocs.items()
            if r == resource
            for d in a.device_ids
        }
        free = [i for i in healthy if i not in in_use]
        if len(free) < count:
            raise AllocationError(
                _admission(
                    f"requested number of devices unavailable for {resource}. "
                    f"Requested: {count}, Available: {len(free)}"
                )
            )
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
            DeviceRunOptions(
                envs=dict(reply.envs),
                mounts=[Mount(m.container_path, m.host_path, m.read_only) for m in reply.mounts],
                devices=[
                    DeviceSpec(d.container_path, d.host_path, d.permissions or "rwm") for d in reply.devices
                ],
                annotations=dict(reply.annotations),
            ),
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
            except RegistrationError as err:
                # kubelet returns a plain Go error, which gRPC sends as code Unknown.
                await context.abort(grpc.StatusCode.UNKNOWN, str(err))
            return pb2.Empty()

    return Registration()
