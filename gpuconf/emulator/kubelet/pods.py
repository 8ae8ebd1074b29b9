"""The pod worker: one per pod bound to the node; pulls, allocates devices, runs and restarts containers.

Events and status fields follow the real kubelet: Pulling/Pulled/Created/Started, ErrImagePull then
ImagePullBackOff, CrashLoopBackOff with exponential back-off, terminated states with exit codes,
Killing on deletion, UnexpectedAdmissionError when devices cannot be allocated.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuconf.emulator.controllers.events import now_rfc3339
from gpuconf.emulator.controllers.resources import extended_requests
from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.kubelet.devicemanager import AllocationError, DeviceRunOptions
from gpuconf.emulator.kubelet.podstatus import ContainerRecord, pod_status, qos_class
from gpuconf.emulator.runtime import images
from gpuconf.emulator.runtime.process import RunningContainer
from gpuconf.emulator.runtime.rootfs import on_node

if TYPE_CHECKING:
    from gpuconf.emulator.kubelet.kubelet import Kubelet

Obj = dict[str, Any]
# After its containers are killed a worker only writes a status; if it still hangs, cancel it.
WORKER_EXIT_MARGIN_S = 5.0


@dataclass
class BackoffTiming:
    """Kubernetes uses 10 s doubling to 300 s for both; tests shorten them (see EmulatedCluster options)."""

    crashloop_base_s: float = 10.0
    crashloop_max_s: float = 300.0
    image_pull_base_s: float = 10.0
    image_pull_max_s: float = 300.0
    default_grace_s: float = 30.0


def _backoff(base: float, cap: float, attempt: int) -> float:
    return min(base * 2 ** max(attempt - 1, 0), cap)


def _is_device_resource(name: str) -> bool:
    """Extended resources outside the kubernetes.io namespace are served by device plugins."""
    domain = name.split("/", 1)[0] if "/" in name else ""
    return bool(domain) and domain != "kubernetes.io" and not domain.endswith(".kubernetes.io")


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints it (what kubelet messages contain)."""
    if seconds >= 1:
        return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.6f}".rstrip("0").rstrip(".") + "ms"
    return f"{seconds * 1e6:.3f}".rstrip("0").rstrip(".") + "µs"


def _pull_policy(container: Obj) -> str:
    if container.get("imagePullPolicy"):
        return str(container["imagePullPolicy"])
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    return "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent"


def _image_id(image: str) -> str:
    return f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


class PodWorker:
    def __init__(self, kubelet: Kubelet, pod: Obj, pod_ip: str) -> None:
        self.kubelet = kubelet
        self.pod = pod
        meta = pod["metadata"]
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.spec = pod.get("spec") or {}
        self.restart_policy = self.spec.get("restartPolicy", "Always")
        self.records = [
            ContainerRecord(c["name"], c.get("image", "")) for c in self.spec.get("containers") or []
        ]
        self.pod_ip = pod_ip
        self.start_time = now_rfc3339()
        self.running: dict[str, RunningContainer] = {}
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.terminal = False

    # --- status -----------------------------------------------------------------------------
    def write_status(self, *, override: Obj | None = None) -> None:
        status = override or pod_status(
            self.records,
            self.restart_policy,
            host_ip=self.kubelet.host_ip,
            pod_ip=self.pod_ip,
            start_time=self.start_time,
            qos_class=qos_class(self.pod),
        )
        try:
            fresh = self.kubelet.api.get("pods", self.name, namespace=self.namespace)
        except ApiError:
            return  # deleted meanwhile
        if fresh["metadata"].get("uid") != self.uid:
            return
        old_conditions = {c.get("type"): c for c in (fresh.get("status") or {}).get("conditions") or []}
        for cond in status.get("conditions") or []:
            prior = old_conditions.get(cond["type"])
            if prior and prior.get("status") == cond.get("status"):
                cond["lastTransitionTime"] = prior.get("lastTransitionTime")  # only transitions move it
        fresh["status"] = status
        fresh["metadata"].pop("resourceVersion", None)
        try:
            self.kubelet.api.update("pods", fresh, namespace=self.namespace, subresource="status")
        except ApiError:
            return

    def event(self, kind: str, reason: str, message: str, container: str | None = None) -> None:
        field_path = f"spec.containers{{{container}}}" if container else None
        self.kubelet.recorder.emit(self.pod, kind, reason, message, field_path=field_path)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"pod-{self.namespace}/{self.name}"
        )

    async def _run(self) -> None:
        containers = self.spec.get("containers") or []
        try:
            allocations = await self._admit(containers)
        except AllocationError as err:
            self._reject("UnexpectedAdmissionError", str(err))
            return
        self.write_status()
        await asyncio.gather(
            *(
                self._container_loop(c, rec, allocations.get(c["name"]) or DeviceRunOptions())
                for c, rec in zip(containers, self.records, strict=True)
            )
        )
        if not self.stopping.is_set():
            self.terminal = True
            self.write_status()
        self.kubelet.device_manager.release(self.uid)

    async def _admit(self, containers: list[Obj]) -> dict[str, DeviceRunOptions]:
        """Allocate every device resource of every container; what the plugins returned, per container."""
        options: dict[str, DeviceRunOptions] = {}
        for container in containers:
            for resource in self._extended_resources(container):
                count = extended_requests(container, resource)
                devices = await self.kubelet.device_manager.allocate(
                    self.uid, container["name"], resource, count
                )
                options.setdefault(container["name"], DeviceRunOptions()).merge(devices.options)
        return options

    @staticmethod
    def _extended_resources(container: Obj) -> list[str]:
        resources = container.get("resources") or {}
        names = set((resources.get("limits") or {}).keys()) | set((resources.get("requests") or {}).keys())
        return sorted(n for n in names if _is_device_resource(n))

    def _reject(self, reason: str, message: str) -> None:
        self.terminal = True
        self.event("Warning", reason, message)
        self.write_status(
            override={
                "phase": "Failed",
                "reason": reason,
                "message": message,
                "startTime": self.start_time,
                "hostIP": self.kubelet.host_ip,
                "hostIPs": [{"ip": self.kubelet.host_ip}],
            }
        )

    async def _pull(self, container: Obj, record: ContainerRecord) -> str | None:
        """Pull (resolve) the image with ImagePullBackOff; None if the pod is stopping."""
        image = str(container.get("image", ""))
        attempt = 0
        while not self.stopping.is_set():  # bounded by stop(); each failure waits a growing back-off
            policy = _pull_policy(container)
            if policy == "IfNotPresent" and image in self.kubelet.pulled_images:
                self.event(
                    "Normal", "Pulled", f'Container image "{image}" already present on machine', record.name
                )
                return images.resolve(image)
            if policy == "Never" and image not in self.kubelet.pulled_images:
                message = f'Container image "{image}" is not present with pull policy of Never'
                record.state = {"waiting": {"reason": "ErrImageNeverPull", "message": message}}
                self.event("Warning", "ErrImageNeverPull", message, record.name)
                self.write_status()
                await self._sleep(self.kubelet.backoff.image_pull_max_s)
                continue
            self.event("Normal", "Pulling", f'Pulling image "{image}"', record.name)
            started = time.monotonic()
            try:
                kind = images.resolve(image)
                refused = self.kubelet.options.faults.pull_error(kind, image)
                if refused is not None:
                    raise refused
            except images.ImagePullError as err:
                attempt += 1
                self.event("Warning", "Failed", f'Failed to pull image "{image}": {err}', record.name)
                self.event("Warning", "Failed", "Error: ErrImagePull", record.name)
                record.state = {"waiting": {"reason": "ErrImagePull", "message": str(err)}}
                self.write_status()
                delay = _backoff(
                    self.kubelet.backoff.image_pull_base_s, self.kubelet.backoff.image_pull_max_s, attempt
                )
                await self._sleep(min(delay, self.kubelet.backoff.image_pull_base_s))
                message = f'Back-off pulling image "{image}"'
                record.state = {"waiting": {"reason": "ImagePullBackOff", "message": message}}
                self.event("Normal", "BackOff", message, record.name)
                self.event("Warning", "Failed", "Error: ImagePullBackOff", record.name)
                self.write_status()
                await self._sleep(delay)
                continue
            await self._sleep(self.kubelet.options.faults.pull_delay(kind))
            if self.stopping.is_set():
                return None
            took = go_duration(time.monotonic() - started)
            self.kubelet.pulled_images.add(image)
            size = images.IMAGE_SIZES[kind]
            self.event(
                "Normal",
                "Pulled",
                f'Successfully pulled image "{image}" in {took} ({took} including waiting). '
                f"Image size: {size} bytes.",
                record.name,
            )
            return kind
        return None

    async def _sleep(self, seconds: float) -> None:
        """Wait for a back-off, ending early when the pod is being stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def _container_loop(
        self, container: Obj, record: ContainerRecord, devices: DeviceRunOptions
    ) -> None:
        kind = await self._pull(container, record)
        if kind is None:
            return
        record.image_id = _image_id(record.image)
        crashes = 0
        while not self.stopping.is_set():  # one turn per container run; restartPolicy ends it
            try:
                running = await self.kubelet.start_container(self, container, kind, devices)
            except (ValueError, OSError) as err:
                record.state = {"waiting": {"reason": "CreateContainerError", "message": str(err)}}
                self.event("Warning", "Failed", f"Error: {err}", record.name)
                self.write_status()
                await self._sleep(
                    _backoff(
                        self.kubelet.backoff.crashloop_base_s,
                        self.kubelet.backoff.crashloop_max_s,
                        crashes + 1,
                    )
                )
                crashes += 1
                continue
            self.running[record.name] = running
            if self.stopping.is_set():
                await running.stop(0.0)  # deleted while it was being created: it never really starts
            record.container_id = f"gpuconf://{self.uid[:8]}-{record.name}-{record.restart_count}"
            self.event("Normal", "Created", f"Created container {record.name}", record.name)
            self.event("Normal", "Started", f"Started container {record.name}", record.name)
            record.state = {"running": {"startedAt": running.started_at}}
            self.write_status()
            exited = await running.wait()
            self.running.pop(record.name, None)
            self.kubelet.logs.mark_exited(self.namespace, self.name, record.name)
            terminated = {
                "exitCode": exited.exit_code,
                "reason": "Completed" if exited.exit_code == 0 else "Error",
                "startedAt": exited.started_at,
                "finishedAt": exited.finished_at,
                "containerID": record.container_id,
            }
            if exited.signal:
                terminated["signal"] = exited.signal
            record.state = {"terminated": terminated}
            restart = not self.stopping.is_set() and (
                self.restart_policy == "Always"
                or (self.restart_policy == "OnFailure" and exited.exit_code != 0)
            )
            if not restart:
                record.finished = True
                self.write_status()
                return
            crashes += 1
            delay = _backoff(
                self.kubelet.backoff.crashloop_base_s, self.kubelet.backoff.crashloop_max_s, crashes
            )
            record.last_state = {"terminated": terminated}
            record.restart_count += 1
            pod_ref = f"{self.name}_{self.namespace}({self.uid})"
            message = f"back-off {delay:g}s restarting failed container={record.name} pod={pod_ref}"
            record.state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
            self.event(
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {record.name} in pod {pod_ref}",
                record.name,
            )
            self.write_status()
            await self._sleep(delay)

    async def stop(self, grace_s: float | None) -> None:
        """Kill the containers (Killing event, SIGTERM, SIGKILL after the grace period) and end the worker."""
        self.stopping.set()
        grace = self.spec.get("terminationGracePeriodSeconds", self.kubelet.backoff.default_grace_s)
        if grace_s is not None:
            grace = grace_s
        for name, running in list(self.running.items()):
            self.event("Normal", "Killing", f"Stopping container {name}", name)
            await running.stop(float(grace))
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout=float(grace) + WORKER_EXIT_MARGIN_S)
            except TimeoutError:
                self.task.cancel()
            except asyncio.CancelledError:
                pass
        self.kubelet.device_manager.release(self.uid)


def mounts_for(pod: Obj, container: Obj, node_root: Path) -> dict[str, Path]:
    """container mountPath -> local directory, for hostPath and emptyDir volumes."""
    volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
    uid = pod["metadata"]["uid"]
    out: dict[str, Path] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name"))
        if volume is None:
            raise ValueError(f'volume "{mount.get("name")}" not found in the pod spec')
        if "hostPath" in volume:
            local = on_node(node_root, str(volume["hostPath"]["path"]))
        elif "emptyDir" in volume:
            local = node_root / "var/lib/kubelet/pods" / uid / "volumes" / volume["name"]
        else:
            continue  # projected tokens, configMaps: nothing the emulated programs read
        local.mkdir(parents=True, exist_ok=True)
        out[str(mount["mountPath"])] = local
    return out


def device_mounts_for(options: DeviceRunOptions, node_root: Path) -> dict[str, Path]:
    """container_path -> local path for the mounts a device plugin's Allocate returned.

    A host_path maps under the node's root as a hostPath volume does; a missing one is created as a
    directory, as containerd does for the source of a CRI mount."""
    out: dict[str, Path] = {}
    for mount in options.mounts:
        local = on_node(node_root, mount.host_path)
        if not local.exists():
            local.mkdir(parents=True, exist_ok=True)
        out[mount.container_path] = local
    return out


def device_nodes_for(options: DeviceRunOptions, node_root: Path) -> dict[str, Path]:
    """container_path -> local path for the device specs a device plugin's Allocate returned.

    Unlike a mount source, a device must exist on the node: containerd fails the container's
    creation otherwise (CreateContainerError with this message)."""
    out: dict[str, Path] = {}
    for device in options.devices:
        local = on_node(node_root, device.host_path)
        if not local.exists():
            raise ValueError(
                "failed to generate container spec: failed to generate spec: "
                f"lstat {device.host_path}: no such file or directory"
            )
        out[device.container_path] = local
    return out
