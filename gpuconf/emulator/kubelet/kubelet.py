"""An emulated kubelet: one node's registration, device manager, pod workers and container starts."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuconf.emulator import profiles
from gpuconf.emulator.controllers.events import KUBELET, EventRecorder
from gpuconf.emulator.controllers.podutil import is_terminal
from gpuconf.emulator.faults.runtime import RuntimeFaults
from gpuconf.emulator.interface import ApiError, ClusterAPI
from gpuconf.emulator.kubelet.devicemanager import DeviceManager, DevicePluginTiming, DeviceRunOptions
from gpuconf.emulator.kubelet.node import HeartbeatTiming, NodeAgent
from gpuconf.emulator.kubelet.pods import (
    BackoffTiming,
    PodWorker,
    device_mounts_for,
    device_nodes_for,
    mounts_for,
)
from gpuconf.emulator.runtime import images
from gpuconf.emulator.runtime.logs import LogStore
from gpuconf.emulator.runtime.process import RunningContainer, start_inprocess, start_process
from gpuconf.emulator.runtime.rootfs import ROOT_ENV, build_rootfs

Obj = dict[str, Any]
# An in-process device plugin: (program, stop event, log file) -> exit code.
InprocessPlugin = Callable[[images.Program, asyncio.Event, Path], Awaitable[int]]


STOP_GRACE_S = 0.5  # cluster shutdown: SIGTERM, then SIGKILL after this


@dataclass
class KubeletOptions:
    heartbeat: HeartbeatTiming = field(default_factory=HeartbeatTiming)
    backoff: BackoffTiming = field(default_factory=BackoffTiming)
    device_plugins: DevicePluginTiming = field(default_factory=DevicePluginTiming)
    plugin_runtime: str = "process"  # "process" (fidelity) or "inprocess" (1,000-node scale)
    faults: RuntimeFaults = field(default_factory=RuntimeFaults)  # injected by gpuconf.emulator.faults


class Kubelet:
    def __init__(
        self,
        api: ClusterAPI,
        *,
        name: str,
        pool: str,
        size: profiles.VmSize,
        index: int,
        root: Path,
        logs: LogStore,
        options: KubeletOptions,
        inprocess_plugin: InprocessPlugin | None = None,
    ) -> None:
        self.api = api
        self.name = name
        self.size = size
        self.root = root
        self.logs = logs
        self.options = options
        self.backoff = options.backoff
        self.inprocess_plugin = inprocess_plugin
        self.recorder = EventRecorder(api, KUBELET, host=name)
        self.node = NodeAgent(api, name, pool, size, index, options.heartbeat)
        self.host_ip = self.node._template["status"]["addresses"][0]["address"]
        self.device_manager = DeviceManager(
            root / images.DEVICE_PLUGIN_DIR.lstrip("/"),
            self.node.set_extended_resource,
            timing=options.device_plugins,
        )
        self.pulled_images: set[str] = set()
        self.workers: dict[str, PodWorker] = {}
        self._next_pod_ip = 2
        self._index = index

    @property
    def plugin_dir(self) -> Path:
        return self.device_manager.plugin_dir

    @property
    def gpu_health_file(self) -> Path:
        """JSON {"unhealthy": [index, ...]} the node's device plugin watches (fault injection)."""
        return self.root / "etc/gpuconf/gpu-health.json"

    def set_gpu_health(self, index: int, healthy: bool) -> None:
        if not 0 <= index < self.size.gpu_count:
            raise ValueError(f"{self.name} has GPUs 0..{self.size.gpu_count - 1}, not {index}")
        path = self.gpu_health_file
        current = set(json.loads(path.read_text()).get("unhealthy", [])) if path.exists() else set()
        current = current - {index} if healthy else current | {index}
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".tmp")
        staging.write_text(json.dumps({"unhealthy": sorted(current)}))
        staging.replace(path)  # atomic: the plugin never reads a half-written file

    async def start(self) -> None:
        await self.device_manager.start()
        self.node.register()
        self.node.start()

    async def stop(self) -> None:
        # Device manager first: closing our plugin streams before the plugins die keeps gRPC quiet.
        await self.node.stop()
        await self.device_manager.stop()
        workers, self.workers = list(self.workers.values()), {}
        await asyncio.gather(*(w.stop(grace_s=STOP_GRACE_S) for w in workers))

    # --- pods -----------------------------------------------------------------------------
    def on_pod(self, event_type: str, pod: Obj) -> None:
        """Called for every change of a pod bound to this node."""
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if event_type == "DELETED":
            if worker is not None:
                asyncio.get_running_loop().create_task(self._finish(worker, grace_s=0.0, confirm=False))
            return
        if pod["metadata"].get("deletionTimestamp"):
            if worker is None or not worker.stopping.is_set():
                grace = pod["metadata"].get("deletionGracePeriodSeconds")
                target = worker or self._adopt_dead(pod)
                asyncio.get_running_loop().create_task(self._finish(target, grace_s=grace, confirm=True))
            return
        if worker is None and not is_terminal(pod):
            worker = PodWorker(self, pod, self._allocate_pod_ip())
            self.workers[uid] = worker
            worker.start()

    def _adopt_dead(self, pod: Obj) -> PodWorker:
        """A terminal or never-started pod still needs the kubelet's deletion confirmation."""
        worker = PodWorker(self, pod, "")
        self.workers[pod["metadata"]["uid"]] = worker
        return worker

    async def _finish(self, worker: PodWorker, *, grace_s: float | None, confirm: bool) -> None:
        await worker.stop(grace_s)
        self.workers.pop(worker.uid, None)
        self.logs.forget_pod(worker.namespace, worker.name)
        if confirm:
            # The kubelet confirms a graceful deletion with grace 0 once its containers are gone.
            with contextlib.suppress(ApiError):
                self.api.delete("pods", worker.name, namespace=worker.namespace, grace_period_seconds=0)

    def _allocate_pod_ip(self) -> str:
        ip = f"10.244.{self._index % 256}.{self._next_pod_ip}"
        self._next_pod_ip = self._next_pod_ip + 1 if self._next_pod_ip < 254 else 2
        return ip

    async def start_container(
        self, worker: PodWorker, container: Obj, kind: str, devices: DeviceRunOptions
    ) -> RunningContainer:
        """Start one container with what its device plugins' Allocate returned (`devices`)."""
        # The kubelet puts the device plugins' envs first and the container's own after them
        # (GenerateRunContainerOptions); the runtime sets them in order, so the pod's value wins a
        # clash: a pod that sets NVIDIA_VISIBLE_DEVICES=all itself overrides its allocation.
        own = {str(e["name"]): str(e.get("value", "")) for e in container.get("env") or [] if "name" in e}
        env = {**devices.envs, **own}
        ctx = images.LaunchContext(
            container=container,
            env=env,
            # kubelet appends the volume mounts after the device plugin's: a volume wins a clash.
            mounts={
                **device_mounts_for(devices, self.root),
                **mounts_for(worker.pod, container, self.root),
            },
            gpu=self.size.gpu,
            gpu_count=self.size.gpu_count,
            health_file=self.gpu_health_file,
            extra_env={"HOSTNAME": worker.name, "KUBERNETES_NODE_NAME": self.name},
            devices=device_nodes_for(devices, self.root),
        )
        program = self.options.faults.build_program(kind, ctx)
        log_path = self.logs.new_attempt(worker.namespace, worker.name, worker.uid, container["name"])
        if program.kind == images.DEVICE_PLUGIN and self.options.plugin_runtime == "inprocess":
            if self.inprocess_plugin is None:
                raise ValueError("plugin_runtime=inprocess needs an in-process device plugin")
            plugin = self.inprocess_plugin

            async def run(stop: asyncio.Event, log: Path) -> int:
                return await plugin(program, stop, log)

            running = start_inprocess(run, log_path, name=f"plugin-{self.name}")
        else:
            workdir = self.root / "var/lib/kubelet/pods" / worker.uid / "containers" / container["name"]
            # The process sees its mounts under its root directory (runtime/rootfs.py).
            rootfs = build_rootfs(workdir / "rootfs", {**ctx.devices, **ctx.mounts})
            env = {**program.env, ROOT_ENV: str(rootfs)}
            running = await start_process(program.argv, env, log_path, rootfs)
        # The plugin's annotations go to the runtime with the container, as CRI annotations do
        # (`crictl inspect` shows them; neither the process nor the Pod object sees them).
        running.annotations = dict(devices.annotations)
        return running
