"""A device plugin the test scripts: the devices it lists and what its Allocate answers.

It speaks the real v1beta1 DevicePlugin service on its own unix socket and registers with a
kubelet's Registration service, like any plugin; unlike the fake NVIDIA plugin it can return
mounts, device specs and annotations, and its list can be changed or its stream ended at will.
`stop()` ends every ListAndWatch stream and removes the socket: to the kubelet, the plugin is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from gpuconf.deviceplugin.api import HEALTHY, KUBELET_SOCKET, VERSION, pb2, pb2_grpc

REGISTER_TIMEOUT_S = 15.0  # above the kubelet's 10 s dial inside Register
STOP_GRACE_S = 0.5


@dataclass
class AllocateAnswer:
    """What Allocate returns for every container ({ids} in an env or annotation value: the device IDs)."""

    envs: dict[str, str] = field(default_factory=dict)
    mounts: list[tuple[str, str, bool]] = field(default_factory=list)  # container_path, host_path, ro
    devices: list[tuple[str, str, str]] = field(default_factory=list)  # container_path, host_path, perms
    annotations: dict[str, str] = field(default_factory=dict)

    def response(self, ids: list[str]) -> Any:
        joined = ",".join(ids)
        return pb2.ContainerAllocateResponse(
            envs={k: v.replace("{ids}", joined) for k, v in self.envs.items()},
            mounts=[pb2.Mount(container_path=c, host_path=h, read_only=ro) for c, h, ro in self.mounts],
            devices=[
                pb2.DeviceSpec(container_path=c, host_path=h, permissions=p) for c, h, p in self.devices
            ],
            annotations={k: v.replace("{ids}", joined) for k, v in self.annotations.items()},
        )


class ScriptedPlugin:
    def __init__(
        self,
        socket_dir: Path,
        resource: str,
        devices: dict[str, str],
        *,
        answer: AllocateAnswer | None = None,
        endpoint: str = "scripted.sock",
    ) -> None:
        self.socket_dir = socket_dir
        self.resource = resource
        self.devices = dict(devices)  # id -> health
        self.answer = answer or AllocateAnswer()
        self.endpoint = endpoint
        self.allocations: list[list[str]] = []  # device IDs of every Allocate, in order
        self._changed = asyncio.Condition()
        self._stopping = False
        self._server: grpc.aio.Server | None = None

    @property
    def socket(self) -> Path:
        return self.socket_dir / self.endpoint

    async def serve(self) -> None:
        server = grpc.aio.server()
        pb2_grpc.add_DevicePluginServicer_to_server(_Servicer(self), server)
        server.add_insecure_port(f"unix://{self.socket}")
        await server.start()
        self._server = server

    async def register(self) -> None:
        """Register with the kubelet in socket_dir; raises grpc.aio.AioRpcError if it refuses."""
        request = pb2.RegisterRequest(
            version=VERSION,
            endpoint=self.endpoint,
            resource_name=self.resource,
            options=pb2.DevicePluginOptions(),
        )
        async with grpc.aio.insecure_channel(f"unix://{self.socket_dir / KUBELET_SOCKET}") as channel:
            await pb2_grpc.RegistrationStub(channel).Register(request, timeout=REGISTER_TIMEOUT_S)

    async def start(self) -> None:
        await self.serve()
        await self.register()

    async def set_devices(self, devices: dict[str, str]) -> None:
        async with self._changed:
            self.devices = dict(devices)
            self._changed.notify_all()

    async def stop(self) -> None:
        async with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._server is not None:
            await self._server.stop(grace=STOP_GRACE_S)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    async def list_and_watch(self) -> AsyncIterator[Any]:
        while not self._stopping:  # one response per change; stop() ends the stream
            sent = dict(self.devices)
            yield pb2.ListAndWatchResponse(
                devices=[pb2.Device(ID=i, health=h) for i, h in sorted(sent.items())]
            )
            async with self._changed:  # never held across the yield
                await self._changed.wait_for(functools.partial(self._differs, sent))

    def _differs(self, sent: dict[str, str]) -> bool:
        return self._stopping or self.devices != sent


class _Servicer(pb2_grpc.DevicePluginServicer):  # type: ignore[misc,name-defined]
    def __init__(self, plugin: ScriptedPlugin) -> None:
        self.plugin = plugin

    async def GetDevicePluginOptions(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb2.DevicePluginOptions()

    async def ListAndWatch(self, request: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
        async for response in self.plugin.list_and_watch():
            yield response

    async def Allocate(self, request: Any, context: Any) -> Any:  # noqa: N802
        responses = []
        for container in request.container_requests:
            ids = list(container.devices_ids)
            self.plugin.allocations.append(ids)
            responses.append(self.plugin.answer.response(ids))
        return pb2.AllocateResponse(container_responses=responses)


def healthy(*ids: str) -> dict[str, str]:
    return dict.fromkeys(ids, HEALTHY)
