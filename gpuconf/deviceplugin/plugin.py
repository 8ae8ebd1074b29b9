"""The device plugin itself: the v1beta1 DevicePlugin service and its lifecycle against a kubelet.

Lifecycle (one log line each): serve our socket, register with kubelet.sock when it exists, and
whenever kubelet.sock is re-created (a kubelet restart deletes every socket in the directory)
serve again and re-register. Health can change through the control file, the in-process
`DevicePlugin.set_health`, or NVML polling; every change sends the full device list on every
open ListAndWatch stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import grpc  # type: ignore[import-untyped]  # grpcio ships no type information

from gpuconf.deviceplugin import api
from gpuconf.deviceplugin.config import PluginConfig
from gpuconf.deviceplugin.devices import GpuDevice, fake_devices, nvml_devices, nvml_healthy
from gpuconf.deviceplugin.health import HealthFileError, read_unhealthy
from gpuconf.deviceplugin.statpoller import Signature, shared_poller

REGISTER_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 1.0
STOP_GRACE_S = 1.0  # in-flight RPCs (an Allocate) may finish; streams end at once
PREFIX = "gpuconf-device-plugin:"


def load_nvml() -> ModuleType:
    """pynvml (package nvidia-ml-py), initialised; RuntimeError with one line when unusable."""
    try:
        nvml = importlib.import_module("pynvml")
    except ImportError:
        raise RuntimeError("--mode nvml needs the nvidia-ml-py package (pip install nvidia-ml-py)") from None
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as err:
        raise RuntimeError(f"NVML could not start (is the NVIDIA driver loaded?): {err}") from None
    return nvml


def discover(config: PluginConfig, nvml: ModuleType | None = None) -> list[GpuDevice]:
    if config.mode == "nvml":
        return nvml_devices(nvml or load_nvml(), config.nvml_hide)
    if config.devices == 0:
        return []
    return fake_devices(config.devices, config.fake_product(), seed=str(config.socket_dir.resolve()))


class DevicePlugin:
    """One plugin instance. `await plugin.run(stop)` serves until stop is set."""

    def __init__(self, config: PluginConfig, nvml: ModuleType | None = None) -> None:
        self.config = config
        self.log = config.logger
        self._nvml = nvml if nvml is not None or config.mode != "nvml" else load_nvml()
        self.devices = discover(config, self._nvml)
        self._by_id = {d.id: d for d in self.devices}
        # Unhealthy IDs per source; a device is Unhealthy if any source says so.
        self._unhealthy: dict[str, set[str]] = {"api": set(), "file": set(), "nvml": set()}
        self._changed = asyncio.Event()  # replaced on every change; streams wait on the current one
        self._server: grpc.aio.Server | None = None
        self.registrations = 0  # how many times Register succeeded (tests and benchmarks read it)
        self.registered = asyncio.Event()  # set on each successful Register, cleared when re-serving
        self.serving = asyncio.Event()  # set while our socket is up
        self._background: set[asyncio.Task[Any]] = set()

    # ----- health -------------------------------------------------------------------------------
    def health(self, device_id: str) -> str:
        unhealthy = any(device_id in ids for ids in self._unhealthy.values())
        return api.UNHEALTHY if unhealthy else api.HEALTHY

    def set_health(self, device_id: str, healthy: bool) -> None:
        """In-process health control (what the control file does, without the file)."""
        if device_id not in self._by_id:
            raise ValueError(f"unknown device {device_id!r}; devices: {', '.join(self._by_id)}")
        self._update(
            "api", self._unhealthy["api"] - {device_id} if healthy else self._unhealthy["api"] | {device_id}
        )

    def _update(self, source: str, unhealthy: set[str]) -> None:
        before = {d.id: self.health(d.id) for d in self.devices}
        self._unhealthy[source] = unhealthy
        flipped = [d.id for d in self.devices if self.health(d.id) != before[d.id]]
        for device_id in flipped:
            self.log.info("%s device %s is now %s", PREFIX, device_id, self.health(device_id))
        if flipped:
            self._notify_streams()

    def _notify_streams(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _reload_health_file(self, _signature: Signature = None) -> None:
        assert self.config.health_file is not None
        try:
            self._update("file", read_unhealthy(self.config.health_file, self.devices))
        except HealthFileError as err:
            self.log.warning("%s ignoring health file: %s", PREFIX, err)

    async def _poll_nvml_health(self) -> None:
        assert self._nvml is not None
        nvml = self._nvml
        while True:
            checks = await asyncio.to_thread(lambda: {d.id: nvml_healthy(nvml, d) for d in self.devices})
            self._update("nvml", {i for i, ok in checks.items() if not ok})
            await asyncio.sleep(self.config.nvml_health_interval_s)

    def device_list(self) -> Any:
        pb = api.pb2
        return pb.ListAndWatchResponse(
            devices=[pb.Device(ID=d.id, health=self.health(d.id)) for d in self.devices]
        )

    # ----- the DevicePlugin service -------------------------------------------------------------
    def options(self) -> Any:
        return api.pb2.DevicePluginOptions(pre_start_required=False, get_preferred_allocation_available=True)

    async def list_and_watch(self) -> AsyncIterator[Any]:
        while self.serving.is_set():
            changed = self._changed  # taken before building the list, so no change can slip between
            yield self.device_list()
            await changed.wait()

    def allocate_envs(self, device_ids: list[str]) -> dict[str, str]:
        """NVIDIA's default strategy (NVIDIA_VISIBLE_DEVICES) plus GPUCONF_GPU_* describing each device:
        unprefixed for the container's first GPU, GPUCONF_GPU_<i>_* for every one."""
        for device_id in device_ids:
            if device_id not in self._by_id:
                raise ValueError(
                    f"invalid allocation request for '{self.config.resource}': unknown device: {device_id}"
                )
            if self.health(device_id) != api.HEALTHY:
                raise ValueError(
                    f"invalid allocation request for '{self.config.resource}': unhealthy device: {device_id}"
                )
        chosen = [self._by_id[i] for i in device_ids]
        envs = {"NVIDIA_VISIBLE_DEVICES": ",".join(device_ids), "GPUCONF_GPU_COUNT": str(len(chosen))}
        for position, device in enumerate(chosen):
            envs.update(device.envs(f"GPUCONF_GPU_{position}_"))
        if chosen:
            envs.update(chosen[0].envs("GPUCONF_GPU_"))
        return envs

    def preferred(self, request: Any) -> list[str]:
        """Must-include devices first, then the lowest-indexed available ones."""
        picked = list(request.must_include_deviceIDs)
        order = {d.id: d.index for d in self.devices}
        rest = sorted(
            (i for i in request.available_deviceIDs if i not in picked), key=lambda i: order.get(i, 1 << 30)
        )
        return (picked + rest)[: request.allocation_size]

    # ----- lifecycle ----------------------------------------------------------------------------
    async def _serve(self) -> None:
        path = self.config.socket_path
        self.config.socket_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a previous run's socket would make bind fail
        server = grpc.aio.server()
        api.pb2_grpc.add_DevicePluginServicer_to_server(_Servicer(self), server)
        server.add_insecure_port(f"unix://{path}")
        await server.start()
        self._server = server
        self.serving.set()
        self.log.info(
            "%s serving %s on %s (%d devices)", PREFIX, self.config.resource, path, len(self.devices)
        )

    async def _stop_serving(self) -> None:
        # End open ListAndWatch streams normally first (kubelet reads a finished stream as "plugin
        # gone"); cancelling them instead makes grpc log a CancelledError traceback per stream.
        self.serving.clear()
        self._notify_streams()
        if self._server is not None:
            await self._server.stop(grace=STOP_GRACE_S)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.config.socket_path.unlink()

    async def _register(self) -> None:
        pb = api.pb2
        request = pb.RegisterRequest(
            version=api.VERSION,
            endpoint=self.config.endpoint,
            resource_name=self.config.resource,
            options=self.options(),
        )
        channel = grpc.aio.insecure_channel(f"unix://{self.config.kubelet_socket}")
        try:
            await api.pb2_grpc.RegistrationStub(channel).Register(
                request, timeout=REGISTER_TIMEOUT_S, wait_for_ready=True
            )
        except grpc.aio.AioRpcError as err:
            self.log.warning(
                "%s registration with kubelet failed: %s: %s", PREFIX, err.code().name, err.details()
            )
            return
        finally:
            # channel.close() can take ~190 ms; keep it off the registration path.
            self._spawn(channel.close())
        self.registrations += 1
        self.registered.set()
        self.log.info(
            "%s registered with kubelet as %s (%d devices)", PREFIX, self.config.resource, len(self.devices)
        )

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def run(self, stop: asyncio.Event) -> None:
        poller = shared_poller()
        kubelet_changed = asyncio.Event()
        kubelet_watch = poller.watch(self.config.kubelet_socket, lambda _sig: kubelet_changed.set())
        health_watch = None
        if self.config.health_file is not None:
            self._reload_health_file()
            health_watch = poller.watch(self.config.health_file, self._reload_health_file)
        nvml_poller = None
        if self._nvml is not None:
            nvml_poller = asyncio.get_running_loop().create_task(self._poll_nvml_health())
        stopping = asyncio.get_running_loop().create_task(stop.wait())
        try:
            restart = True
            while not stop.is_set():
                kubelet_changed.clear()
                if restart:
                    await self._stop_serving()
                    self.registered.clear()
                    await self._serve()
                if self.config.kubelet_socket.exists():
                    # A stale kubelet.sock can hold Register for REGISTER_TIMEOUT_S; SIGTERM must not wait.
                    registering = asyncio.get_running_loop().create_task(self._register())
                    await asyncio.wait({stopping, registering}, return_when=asyncio.FIRST_COMPLETED)
                    registering.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await registering
                else:
                    self.log.info("%s waiting for kubelet at %s", PREFIX, self.config.kubelet_socket)
                changed = asyncio.get_running_loop().create_task(kubelet_changed.wait())
                await asyncio.wait({stopping, changed}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                # A vanished kubelet needs nothing yet; a new one has deleted our socket.
                restart = self.config.kubelet_socket.exists()
                if kubelet_changed.is_set() and not stop.is_set():
                    what = "re-created" if restart else "removed"
                    self.log.info("%s kubelet socket %s", PREFIX, what)
        finally:
            stopping.cancel()
            poller.unwatch(kubelet_watch)
            if health_watch is not None:
                poller.unwatch(health_watch)
            if nvml_poller is not None:
                nvml_poller.cancel()
                await asyncio.gather(nvml_poller, return_exceptions=True)
            await self._stop_serving()
            await self._finish_channel_closes()
            if self._nvml is not None:
                with contextlib.suppress(Exception):
                    self._nvml.nvmlShutdown()
            self.log.info("%s stopped, removed %s", PREFIX, self.config.socket_path)

    async def _finish_channel_closes(self) -> None:
        """Let registration channels finish closing (bounded), so none outlives the plugin."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=CLOSE_TIMEOUT_S)


class _Servicer(api.pb2_grpc.DevicePluginServicer):  # type: ignore[misc,name-defined]
    def __init__(self, plugin: DevicePlugin) -> None:
        self.plugin = plugin

    async def GetDevicePluginOptions(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self.plugin.options()

    async def ListAndWatch(self, request: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
        async for response in self.plugin.list_and_watch():
            yield response

    async def GetPreferredAllocation(self, request: Any, context: Any) -> Any:  # noqa: N802
        pb = api.pb2
        return pb.PreferredAllocationResponse(
            container_responses=[
                pb.ContainerPreferredAllocationResponse(deviceIDs=self.plugin.preferred(r))
                for r in request.container_requests
            ]
        )

    async def Allocate(self, request: Any, context: Any) -> Any:  # noqa: N802
        pb = api.pb2
        responses = []
        for container in request.container_requests:
            try:
                envs = self.plugin.allocate_envs(list(container.devices_ids))
            except ValueError as err:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
            responses.append(pb.ContainerAllocateResponse(envs=envs))
        return pb.AllocateResponse(container_responses=responses)

    async def PreStartContainer(self, request: Any, context: Any) -> Any:  # noqa: N802
        return api.pb2.PreStartContainerResponse()


async def run_plugin(config: PluginConfig, stop: asyncio.Event) -> None:
    """Run one plugin in the current event loop until `stop` is set (the 1,000-node emulator runs
    one of these per node; `python -m gpuconf.deviceplugin` runs one per process)."""
    await DevicePlugin(config).run(stop)
