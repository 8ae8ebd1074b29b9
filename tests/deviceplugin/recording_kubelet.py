"""A small kubelet for the plugin's tests: the real v1beta1 Registration service on a unix socket.

On Register it dials the plugin's socket and consumes ListAndWatch, recording every device list it
receives. Tests wait on what it saw with a bounded deadline (`wait_until`) and call Allocate
through `stub`. Restarting it (`restart`) deletes every socket in the directory first, as a real
kubelet does on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from gpuconf.deviceplugin.api import HEALTHY, KUBELET_SOCKET, pb2, pb2_grpc

DIAL_TIMEOUT_S = 5.0


@dataclass
class Registration:
    request: Any
    at: float  # time.perf_counter() when Register arrived
    device_lists: list[dict[str, str]] = field(default_factory=list)  # each: id -> health


class RecordingKubelet:
    def __init__(self, socket_dir: Path) -> None:
        self.socket_dir = socket_dir
        self.registrations: list[Registration] = []
        self.stub: Any = None  # DevicePluginStub for the latest registration
        self._changed = asyncio.Condition()
        self._server: grpc.aio.Server | None = None
        self._channels: list[grpc.aio.Channel] = []
        self._streams: list[asyncio.Task[None]] = []
        self._retired: list[grpc.aio.Server] = []  # replaced by replace_socket_atomically, still serving

    @property
    def socket(self) -> Path:
        return self.socket_dir / KUBELET_SOCKET

    async def start(self) -> None:
        for stale in self.socket_dir.glob("*.sock"):  # what a starting kubelet does
            stale.unlink()
        server = grpc.aio.server()
        pb2_grpc.add_RegistrationServicer_to_server(_Registration(self), server)
        server.add_insecure_port(f"unix://{self.socket}")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        for task in self._streams:
            task.cancel()
        await asyncio.gather(*self._streams, return_exceptions=True)
        self._streams.clear()
        for channel in self._channels:
            await channel.close()
        self._channels.clear()
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None
        for retired in self._retired:
            await retired.stop(grace=None)
        self._retired.clear()
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def replace_socket_atomically(self, *, mtime_ns: int | None = None) -> None:
        """A new kubelet whose socket takes the old one's path in one rename(), so a stat() poller never
        sees the path missing (unlike `restart`); `mtime_ns` sets the new socket's mtime first.

        The old server keeps running on its now-unlinked socket until `stop()`: grpc unlinks a unix
        socket's path when its server stops, which would remove the new socket instead.
        """
        for task in self._streams:
            task.cancel()
        await asyncio.gather(*self._streams, return_exceptions=True)
        self._streams.clear()
        staged = self.socket_dir / "kubelet.sock.new"
        server = grpc.aio.server()
        pb2_grpc.add_RegistrationServicer_to_server(_Registration(self), server)
        server.add_insecure_port(f"unix://{staged}")
        await server.start()
        if mtime_ns is not None:
            os.utime(staged, ns=(mtime_ns, mtime_ns))
        os.rename(staged, self.socket)
        assert self._server is not None
        self._retired.append(self._server)
        self._server = server

    async def _on_register(self, request: Any) -> None:
        registration = Registration(request, time.perf_counter())
        channel = grpc.aio.insecure_channel(f"unix://{self.socket_dir / request.endpoint}")
        self._channels.append(channel)
        self.stub = pb2_grpc.DevicePluginStub(channel)
        async with self._changed:
            self.registrations.append(registration)
            self._changed.notify_all()
        self._streams.append(asyncio.get_running_loop().create_task(self._watch(registration, self.stub)))

    async def _watch(self, registration: Registration, stub: Any) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError):  # the stream ends when the plugin goes away
            async for response in stub.ListAndWatch(pb2.Empty(), timeout=None):
                async with self._changed:
                    registration.device_lists.append({d.ID: d.health for d in response.devices})
                    self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], Any], *, timeout: float, describe: str) -> Any:
        """Wait (bounded) until predicate() is truthy; re-checked whenever the kubelet records something."""
        async with self._changed:
            try:
                return await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {describe}; "
                    f"registrations={[r.request.resource_name for r in self.registrations]} "
                    f"latest lists={self.registrations[-1].device_lists[-3:] if self.registrations else []}"
                ) from None

    def latest(self) -> dict[str, str]:
        """The latest device list of the latest registration (empty before any)."""
        if not self.registrations or not self.registrations[-1].device_lists:
            return {}
        return self.registrations[-1].device_lists[-1]

    def allocatable(self) -> int:
        return sum(1 for health in self.latest().values() if health == HEALTHY)


class _Registration(pb2_grpc.RegistrationServicer):  # type: ignore[misc,name-defined]
    def __init__(self, kubelet: RecordingKubelet) -> None:
        self.kubelet = kubelet

    async def Register(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self.kubelet._on_register(request)
        return pb2.Empty()
