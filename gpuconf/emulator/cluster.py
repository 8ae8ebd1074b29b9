"""The embedded emulated GPU cluster: API server + controllers + one emulated kubelet per node.

`EmulatedCluster` is the asyncio object; `running_cluster(...)` runs one on a background thread for
pytest fixtures and scripts:

    with running_cluster(nodes=1, vm_size="Standard_NC6") as c:
        subprocess.run(["kubectl", "--kubeconfig", str(c.kubeconfig), "get", "nodes"])

Everything the cluster starts lives under one short temporary root (/tmp/gcXXXXXX, so unix socket
paths stay far below the 107-byte limit) and in process groups recorded by the runtime; `stop()`,
an atexit hook and (for `serve`) SIGINT/SIGTERM end them all and remove the root.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gpuconf.emulator import profiles
from gpuconf.emulator.controllers.job import JobTiming
from gpuconf.emulator.controllers.manager import ControllerManager
from gpuconf.emulator.faults import catalogue as fault_catalogue
from gpuconf.emulator.interface import ApiError, ClusterAPI
from gpuconf.emulator.kubelet.devicemanager import DevicePluginTiming
from gpuconf.emulator.kubelet.kubelet import Kubelet, KubeletOptions
from gpuconf.emulator.kubelet.node import HeartbeatTiming
from gpuconf.emulator.kubelet.pods import BackoffTiming
from gpuconf.emulator.runtime import images
from gpuconf.emulator.runtime.inprocess import run_inprocess_plugin
from gpuconf.emulator.runtime.logs import LogStore
from gpuconf.emulator.runtime.process import start_inprocess

T = TypeVar("T")
NODE_IMAGES = ("default", "gpu-vhd")
PLUGIN_RUNTIMES = ("process", "inprocess")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

_live_roots: set[Path] = set()


def _remove_live_roots() -> None:
    for root in list(_live_roots):
        shutil.rmtree(root, ignore_errors=True)
    _live_roots.clear()


atexit.register(_remove_live_roots)


@dataclass
class ClusterOptions:
    pools: list[profiles.PoolSpec] = field(
        default_factory=lambda: [profiles.PoolSpec(profiles.DEFAULT_POOL, profiles.DEFAULT_VM_SIZE, 1)]
    )
    # "gpu-vhd": the retired AKS GPU image, whose kubelet runs the device plugin itself (no DaemonSet).
    node_image: str = "default"
    plugin_runtime: str = "process"
    backoff: BackoffTiming = field(default_factory=BackoffTiming)
    heartbeat: HeartbeatTiming = field(default_factory=HeartbeatTiming)
    job_timing: JobTiming = field(default_factory=JobTiming)
    # kubelet's device-plugin dial timeout and endpointStopGracePeriod (plugin gone -> resource removed)
    device_plugins: DevicePluginTiming = field(default_factory=DevicePluginTiming)
    port: int = 0
    kubeconfig: Path | None = None
    # Names from gpuconf.emulator.faults.FAULTS: ways this cluster misbehaves (default: none).
    faults: tuple[str, ...] = ()
    fault_timing: fault_catalogue.FaultTiming = field(default_factory=fault_catalogue.FaultTiming)
    # "real": every GPU node gets this machine's NVIDIA GPUs (model and count from NVML) and runs the
    # device plugin in nvml mode; hide_gpus are NVML indexes/UUIDs its plugin must not advertise.
    gpu: str = "emulated"
    hide_gpus: tuple[str, ...] = ()

    def validate(self) -> None:
        fault_catalogue.lookup(self.faults)
        if self.gpu not in profiles.GPU_MODES:
            raise ValueError(f"--gpu {self.gpu!r}: expected one of {', '.join(profiles.GPU_MODES)}")
        if self.hide_gpus and self.gpu != "real":
            raise ValueError("--hide-gpu hides real GPUs: it needs --gpu real")
        for hidden in self.hide_gpus:
            profiles.parse_hidden_gpu(hidden)
        if self.node_image not in NODE_IMAGES:
            raise ValueError(f"--node-image {self.node_image!r}: expected one of {', '.join(NODE_IMAGES)}")
        if self.plugin_runtime not in PLUGIN_RUNTIMES:
            raise ValueError(
                f"plugin_runtime {self.plugin_runtime!r}: expected one of {', '.join(PLUGIN_RUNTIMES)}"
            )
        if not self.pools:
            raise ValueError("a cluster needs at least one node pool")
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate pool names in {names}")
        for pool in self.pools:
            profiles.vm_size(pool.vm_size)


def fast_test_options(**overrides: Any) -> ClusterOptions:
    """Back-offs in tenths of seconds instead of Kubernetes' 10 s, for tests (same shapes, same events)."""
    options = ClusterOptions(
        backoff=BackoffTiming(
            crashloop_base_s=0.2,
            crashloop_max_s=1.6,
            image_pull_base_s=0.2,
            image_pull_max_s=1.6,
            default_grace_s=2,
        ),
        heartbeat=HeartbeatTiming(lease_duration_s=40, lease_renew_s=2.0, status_update_s=2.0),
        job_timing=JobTiming(backoff_base_s=0.2, backoff_max_s=1.6),
    )
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


class EmulatedCluster:
    def __init__(self, options: ClusterOptions | None = None) -> None:
        self.options = options or ClusterOptions()
        self.options.validate()
        self.root: Path | None = None
        self.server: Any = None
        self.api: ClusterAPI | None = None
        self.controllers: ControllerManager | None = None
        self.kubelets: dict[str, Kubelet] = {}
        self.logs: LogStore | None = None
        self._vhd_plugins: list[Any] = []
        self.kubeconfig: Path | None = None
        self._owns_server = False
        self._fault_stops: list[fault_catalogue.Stop] = []
        self.real_gpus: profiles.RealGpus | None = None
        if self.options.gpu == "real":
            self.real_gpus = profiles.detect_real_gpus()
            if self.real_gpus is None:
                raise ValueError(
                    "--gpu real: NVML finds no NVIDIA GPU (no driver, no GPU, or no nvidia-ml-py)"
                )

    @property
    def node_names(self) -> list[str]:
        return list(self.vm_sizes)

    @property
    def vm_sizes(self) -> dict[str, str]:
        """Node name -> Azure VM size, as provisioned (what ClusterHandle.vm_sizes wants)."""
        return {name: pool.vm_size for pool in self.options.pools for name in profiles.node_names(pool)}

    @property
    def url(self) -> str:
        return str(self.server.url)

    async def start(self) -> None:
        """Start an API server of its own (on options.port) with the cluster behind it."""
        from gpuconf.emulator.server import ApiServer  # the HTTP layer is optional for in-process users

        server = ApiServer(port=self.options.port)
        self.install(server)
        self._owns_server = True
        try:
            await server.start()
        except BaseException:
            await self.stop()
            raise

    def install(self, server: Any) -> None:
        """Run this cluster behind `server`: start after it listens, stop before it closes."""
        self.server = server
        server.startup_hooks.append(self._on_server_start)
        server.shutdown_hooks.append(self._on_server_stop)

    async def _on_server_start(self, server: Any) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gc", dir="/tmp"))
        _live_roots.add(self.root)
        self.api = server.store
        self.logs = LogStore(self.root / "logs")
        server.set_log_provider(self.logs)
        if self._owns_server or self.options.kubeconfig is not None:
            self.kubeconfig = self.options.kubeconfig or self.root / "kubeconfig"
            server.write_kubeconfig(self.kubeconfig)
        try:
            await self._start_components()
        except BaseException:
            await self._stop_components()
            raise

    async def _on_server_stop(self, _server: Any) -> None:
        await self._stop_components()

    async def _start_components(self) -> None:
        assert self.api is not None and self.root is not None and self.logs is not None
        for namespace in SYSTEM_NAMESPACES:
            with contextlib.suppress(ApiError):
                self.api.create(
                    "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
                )
        self.controllers = ControllerManager(self.api, job_timing=self.options.job_timing)
        await self.controllers.start()
        self.controllers.pods.add_handler(self._route_pod)
        kubelet_options = KubeletOptions(
            heartbeat=self.options.heartbeat,
            backoff=self.options.backoff,
            device_plugins=self.options.device_plugins,
            plugin_runtime=self.options.plugin_runtime,
            faults=fault_catalogue.runtime_faults(
                fault_catalogue.lookup(self.options.faults), self.options.fault_timing
            ),
        )
        index = 0
        for pool in self.options.pools:
            size = profiles.vm_size(pool.vm_size)
            if self.real_gpus is not None and size.gpu is not None:
                size = profiles.with_real_gpus(size, self.real_gpus, self.options.hide_gpus)
            for name in profiles.node_names(pool):
                kubelet = Kubelet(
                    self.api,
                    name=name,
                    pool=pool.name,
                    size=size,
                    index=index,
                    root=self.root / f"n{index}",
                    logs=self.logs,
                    options=kubelet_options,
                    inprocess_plugin=run_inprocess_plugin,
                )
                self.kubelets[name] = kubelet
                await kubelet.start()
                if self.real_gpus is not None and size.gpu is not None:
                    self._label_real_gpu_node(name, self.real_gpus)
                index += 1
        for pod in self.controllers.pods.values():
            self._route_pod("ADDED", pod)
        if self.options.node_image == "gpu-vhd":
            self._start_vhd_plugins()
        for fault in fault_catalogue.lookup(self.options.faults):
            if fault.start is not None:
                stop = fault.start(self, self.options.fault_timing)
                if stop is not None:
                    self._fault_stops.append(stop)

    def _label_real_gpu_node(self, name: str, gpus: profiles.RealGpus) -> None:
        """Label the node with its real GPU, driver and CUDA (what GPU Feature Discovery does on AKS)."""
        assert self.api is not None
        labels, annotations = profiles.real_gpu_labels(gpus)
        body = {"metadata": {"labels": labels, "annotations": annotations}}
        self.api.patch("nodes", name, body, "application/merge-patch+json")

    def _route_pod(self, event_type: str, pod: dict[str, Any]) -> None:
        kubelet = self.kubelets.get((pod.get("spec") or {}).get("nodeName") or "")
        if kubelet is not None:
            kubelet.on_pod(event_type, pod)

    def _start_vhd_plugins(self) -> None:
        """The GPU VHD's kubelet runs the NVIDIA plugin as a node service, not as a pod."""
        for name, kubelet in self.kubelets.items():
            if kubelet.size.gpu is None:
                continue
            program = images.build_program(
                images.DEVICE_PLUGIN,
                images.LaunchContext(
                    container={},
                    env={},
                    mounts={images.DEVICE_PLUGIN_DIR: kubelet.plugin_dir},
                    gpu=kubelet.size.gpu,
                    gpu_count=kubelet.size.gpu_count,
                    health_file=kubelet.gpu_health_file,
                ),
            )
            log = kubelet.root / "var/log/nvidia-device-plugin.log"

            async def run(stop: asyncio.Event, log_path: Path, program: images.Program = program) -> int:
                return await run_inprocess_plugin(program, stop, log_path)

            self._vhd_plugins.append(start_inprocess(run, log, name=f"vhd-plugin-{name}"))

    async def stop(self) -> None:
        """End every container, kubelet and controller (and our own server); remove the root. Idempotent."""
        if self._owns_server and self.server is not None:
            server, self.server = self.server, None
            await server.stop()  # runs _on_server_stop first
        await self._stop_components()

    async def _stop_components(self) -> None:
        stops, self._fault_stops = self._fault_stops, []
        for stop in stops:
            await stop()
        for plugin in self._vhd_plugins:
            await plugin.stop(1.0)
        self._vhd_plugins.clear()
        kubelets, self.kubelets = list(self.kubelets.values()), {}
        await asyncio.gather(*(k.stop() for k in kubelets))
        if self.controllers is not None:
            await self.controllers.stop()
            self.controllers = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            _live_roots.discard(self.root)

    # --- fault hooks ---------------------------------------------------------------------------
    def kubelet(self, node: str) -> Kubelet:
        try:
            return self.kubelets[node]
        except KeyError:
            raise ValueError(f"no node {node!r}; nodes: {', '.join(self.kubelets)}") from None

    def set_device_health(self, node: str, index: int, healthy: bool) -> None:
        """Make GPU `index` of a node (un)healthy; its device plugin reports it through ListAndWatch."""
        self.kubelet(node).set_gpu_health(index, healthy)

    def set_node_ready(self, node: str, ready: bool, message: str = "container runtime is down") -> None:
        self.kubelet(node).node.set_ready(ready, message)

    def set_advertised_gpus(self, node: str, count: int | None) -> None:
        """Cap how many GPUs the node advertises (None: as many as the plugin lists)."""
        self.kubelet(node).device_manager.cap_devices(profiles.GPU_RESOURCE, count)


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type that turns our ValueErrors into argparse's one-line usage errors."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return convert


def _node_count(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"--nodes must be a whole number >= 0, got {text!r}")
    return int(text)


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` flags that shape the cluster (the default reproduces the article's one NC6 node)."""
    group = parser.add_argument_group("emulated cluster")
    group.add_argument(
        "--nodes",
        type=_argument(_node_count),
        default=1,
        help="nodes in the default pool (0: API server only)",
    )
    group.add_argument(
        "--vm-size",
        type=_argument(lambda text: profiles.vm_size(text).name),
        default=profiles.DEFAULT_VM_SIZE,
        help="Azure VM size of the default pool (sets cpu, memory, GPU model and count)",
    )
    group.add_argument(
        "--pool",
        type=_argument(profiles.parse_pool),
        action="append",
        default=[],
        metavar="NAME:VM_SIZE:COUNT",
        help="an agent pool (repeatable; replaces the default pool)",
    )
    group.add_argument(
        "--node-image",
        choices=NODE_IMAGES,
        default="default",
        help="gpu-vhd: the retired AKS GPU image, whose kubelet runs the device plugin itself",
    )
    group.add_argument(
        "--plugin-runtime",
        choices=PLUGIN_RUNTIMES,
        default="process",
        help="run device-plugin containers as processes (default) or in-process (large clusters)",
    )
    group.add_argument(
        "--fault",
        type=_argument(lambda name: fault_catalogue.lookup([name])[0].name),
        action="append",
        default=[],
        metavar="NAME",
        help="inject a fault from the catalogue (repeatable; `python -m gpuconf.emulator faults` lists them)",
    )
    group.add_argument(
        "--gpu",
        choices=profiles.GPU_MODES,
        default="emulated",
        help="real: GPU nodes get this machine's GPUs (NVML) and an nvml-mode device plugin",
    )
    group.add_argument(
        "--hide-gpu",
        type=_argument(profiles.parse_hidden_gpu),
        action="append",
        default=[],
        metavar="INDEX|UUID",
        help="with --gpu real: a GPU the device plugin does not advertise (repeatable)",
    )


def options_from_args(args: argparse.Namespace) -> ClusterOptions | None:
    """ClusterOptions for parsed `serve` flags; None for a bare API server (--nodes 0, no --pool)."""
    if args.pool:
        pools = list(args.pool)
    elif args.nodes == 0:
        if args.fault:
            raise ValueError("--fault needs a cluster: use --nodes 1 or more (or --pool)")
        return None
    else:
        pools = [profiles.PoolSpec(profiles.DEFAULT_POOL, args.vm_size, args.nodes)]
    return ClusterOptions(
        pools=pools,
        node_image=args.node_image,
        plugin_runtime=args.plugin_runtime,
        faults=tuple(args.fault),
        gpu=args.gpu,
        hide_gpus=tuple(args.hide_gpu),
    )


def configure_server(server: Any, args: argparse.Namespace) -> None:
    """`serve`'s configure hook: run the emulated cluster behind the server."""
    options = options_from_args(args)
    if options is not None:
        EmulatedCluster(options).install(server)


async def _cancel_leftover_tasks() -> None:
    """What asyncio.run does before closing a loop: end tasks others left behind (shared pollers)."""
    current = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


class ClusterThread:
    """A running EmulatedCluster on its own event loop thread; what `running_cluster` yields.

    Not gpuconf.emulator.testing.running_server: this thread owns its loop, so before closing it
    it can end tasks the device plugins leave behind (their shared stat poller), as asyncio.run does.
    """

    def __init__(self, cluster: EmulatedCluster) -> None:
        self.cluster = cluster
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="emulated-cluster", daemon=True)

    @property
    def kubeconfig(self) -> Path:
        assert self.cluster.kubeconfig is not None
        return self.cluster.kubeconfig

    @property
    def node_names(self) -> list[str]:
        return self.cluster.node_names

    @property
    def vm_sizes(self) -> dict[str, str]:
        return self.cluster.vm_sizes

    def run(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(factory(), self._loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run a synchronous cluster method (a fault hook) on the cluster's loop."""

        async def invoke() -> T:
            return fn(*args)

        return self.run(invoke, timeout)

    def start(self) -> None:
        self._thread.start()
        try:
            self.run(self.cluster.start, START_TIMEOUT_S)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT_S)
            self._loop.close()
            raise

    def stop(self) -> None:
        try:
            self.run(self.cluster.stop, STOP_TIMEOUT_S)
            self.run(_cancel_leftover_tasks, STOP_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT_S)
            self._loop.close()


@contextlib.contextmanager
def running_cluster(
    *,
    nodes: int = 1,
    vm_size: str = profiles.DEFAULT_VM_SIZE,
    pools: list[profiles.PoolSpec] | None = None,
    options: ClusterOptions | None = None,
    **overrides: Any,
) -> Iterator[ClusterThread]:
    """Start a cluster on a background thread; stop it (and everything it started) on exit."""
    opts = options or ClusterOptions()
    opts.pools = pools or [profiles.PoolSpec(profiles.DEFAULT_POOL, vm_size, nodes)]
    for key, value in overrides.items():
        if not hasattr(opts, key):
            raise TypeError(f"running_cluster() got an unknown option {key!r}")
        setattr(opts, key, value)
    handle = ClusterThread(EmulatedCluster(opts))
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()
