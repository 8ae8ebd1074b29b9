"""The fault catalogue: every way the emulated cluster can misbehave, and the article step it breaks.

A fault is NAME, SECTION (the article anchor whose suite step must fail first, or `transient` when
the suite must ride it out and pass), a one-line description, and its injectors:
- `runtime(faults, timing)` configures what every kubelet does when it pulls or starts a container;
- `start(cluster, timing)` changes the running cluster (nodes, other tenants' pods, the API server)
  and may return an async stop function that undoes what would outlive the cluster.
None of them touches a suite or its verdict: the suite finds the failure the way it would on AKS.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gpuconf.emulator.faults import nodes
from gpuconf.emulator.faults.apiserver import FlakyApiServer, FlakyTiming
from gpuconf.emulator.faults.runtime import RuntimeFaults
from gpuconf.emulator.runtime import images

TRANSIENT = "transient"
CREATE = "create-an-aks-cluster"
INSTALL = "install-nvidia-device-plugin"
CONFIRM = "confirm-that-gpus-are-schedulable"
RUN = "run-a-gpu-enabled-workload"
VIEW = "view-the-status-and-output-of-the-gpu-enabled-workload"
CLEAN_UP = "clean-up-resources"


@dataclass
class FaultTiming:
    """Knobs of the time-based faults; tests shrink them, the defaults outlast the suite's timeouts."""

    # rollout-too-slow: extra time each plugin image pull takes (> the emulated tier's 30 s rollout).
    plugin_pull_delay_s: float = 90.0
    flaky: FlakyTiming = field(default_factory=FlakyTiming)


Stop = Callable[[], Awaitable[None]]
RuntimeInjector = Callable[[RuntimeFaults, FaultTiming], None]
StartInjector = Callable[[Any, FaultTiming], "Stop | None"]


@dataclass(frozen=True)
class Fault:
    name: str
    section: str
    description: str
    runtime: RuntimeInjector | None = None
    start: StartInjector | None = None


# --- runtime injectors --------------------------------------------------------------------------
def _workload_env(fault: str) -> RuntimeInjector:
    """The workload image misbehaves through its own GPUCONF_FAULT hook; the Job's YAML is unchanged."""

    def inject(faults: RuntimeFaults, _timing: FaultTiming) -> None:
        def set_env(ctx: images.LaunchContext) -> None:
            ctx.extra_env["GPUCONF_FAULT"] = fault

        faults.context_edits.setdefault(images.WORKLOAD, []).append(set_env)

    return inject


def _unpullable(kind: str) -> RuntimeInjector:
    def inject(faults: RuntimeFaults, _timing: FaultTiming) -> None:
        faults.unpullable.add(kind)

    return inject


def _plugin_sees_no_gpus(faults: RuntimeFaults, _timing: FaultTiming) -> None:
    """NVML in the plugin's container enumerates no GPU (GPUs not passed through to the VM)."""

    def no_gpus(ctx: images.LaunchContext) -> None:
        ctx.gpu_count = 0

    faults.context_edits.setdefault(images.DEVICE_PLUGIN, []).append(no_gpus)


def _plugin_mounts_wrong_dir(faults: RuntimeFaults, _timing: FaultTiming) -> None:
    """The node's kubelet runs with another --root-dir, so the article's hostPath
    /var/lib/kubelet/device-plugins holds no kubelet.sock: the plugin serves, waits, never registers."""

    def elsewhere(ctx: images.LaunchContext) -> None:
        real = ctx.mounts[images.DEVICE_PLUGIN_DIR]
        # <node>/var/lib/kubelet/device-plugins -> <node>/var/lib/kubelet-unused/device-plugins
        moved = real.parent.parent / "kubelet-unused" / real.name
        moved.mkdir(parents=True, exist_ok=True)
        ctx.mounts[images.DEVICE_PLUGIN_DIR] = moved

    faults.context_edits.setdefault(images.DEVICE_PLUGIN, []).append(elsewhere)


def _plugin_without_nvml(faults: RuntimeFaults, _timing: FaultTiming) -> None:
    def crash(program: images.Program) -> images.Program:
        # A kind of its own: the in-process plugin runtime must not swallow it, it is a process.
        argv = [sys.executable, "-m", "gpuconf.emulator.faults.nvml_missing"]
        return images.Program("device-plugin-without-nvml", argv, program.env)

    faults.program_edits.setdefault(images.DEVICE_PLUGIN, []).append(crash)


def _slow_plugin_pull(faults: RuntimeFaults, timing: FaultTiming) -> None:
    faults.pull_delay_s[images.DEVICE_PLUGIN] = timing.plugin_pull_delay_s


# --- start injectors ------------------------------------------------------------------------------
def _once(action: Callable[[Any], None]) -> StartInjector:
    def inject(cluster: Any, _timing: FaultTiming) -> None:
        action(cluster)

    return inject


def _flaky_api(cluster: Any, timing: FaultTiming) -> Stop:
    flaky = FlakyApiServer(cluster.server, timing.flaky)
    flaky.install()
    return flaky.stop


def _finalizer(cluster: Any, _timing: FaultTiming) -> Stop:
    return nodes.finalize_job_pods(cluster)


_ALL = (
    Fault(
        "plugin-never-registers",
        CONFIRM,
        # The pod runs, so the DaemonSet rolls out (install passes); the node never gets nvidia.com/gpu.
        "the plugin's hostPath holds no kubelet.sock (kubelet --root-dir elsewhere): runs, never registers",
        runtime=_plugin_mounts_wrong_dir,
    ),
    Fault(
        "plugin-zero-devices",
        CONFIRM,
        # The plugin pod is Running and registers, so install passes; capacity shows 0 GPUs.
        "the plugin finds no GPU (not passed through to the VM) and advertises nvidia.com/gpu: 0",
        runtime=_plugin_sees_no_gpus,
    ),
    Fault(
        "device-unhealthy",
        CONFIRM,
        "every GPU reports an XID error: capacity nvidia.com/gpu 1, allocatable 0",
        start=_once(nodes.all_gpus_unhealthy),
    ),
    Fault(
        "plugin-crashloop",
        INSTALL,
        "the plugin cannot load NVML (no driver) and exits 1: CrashLoopBackOff, no rollout",
        runtime=_plugin_without_nvml,
    ),
    Fault(
        "plugin-image-pull",
        INSTALL,
        "the registry has no such plugin image: ErrImagePull then ImagePullBackOff",
        runtime=_unpullable(images.DEVICE_PLUGIN),
    ),
    Fault(
        "gpu-pool-tainted",
        INSTALL,
        "GPU nodes carry sku=gpu:NoSchedule, which the article's DaemonSet does not tolerate: no plugin pod",
        start=_once(nodes.taint_gpu_nodes),
    ),
    Fault(
        "node-not-ready",
        CREATE,
        "GPU nodes are NotReady (container runtime network not ready) and tainted not-ready",
        start=_once(nodes.gpu_nodes_not_ready),
    ),
    Fault(
        "fewer-gpus-than-vm-size",
        CONFIRM,
        "each GPU node advertises one GPU fewer than its VM size has",
        start=_once(nodes.advertise_one_gpu_fewer),
    ),
    Fault(
        "workload-image-pull",
        VIEW,
        # The pod is bound before the kubelet pulls, so the run step (pod scheduled) passes.
        "the registry has no such workload image: the Job's pod sits in ImagePullBackOff",
        runtime=_unpullable(images.WORKLOAD),
    ),
    Fault(
        "workload-exits-nonzero",
        VIEW,
        "the workload hits a CUDA error and exits 1 on every retry until the Job's backoffLimit",
        runtime=_workload_env("exit-nonzero"),
    ),
    Fault(
        "workload-cpu-fallback",
        VIEW,
        "the workload silently trains on CPU: its log has no GPU discovery line",
        runtime=_workload_env("cpu-fallback"),
    ),
    Fault(
        "workload-wrong-gpu",
        VIEW,
        "the workload's discovery line names a different GPU than the node's",
        runtime=_workload_env("wrong-gpu"),
    ),
    Fault(
        "accuracy-flat",
        VIEW,
        "the model never learns: accuracy stays at its step-0 value",
        runtime=_workload_env("flat-accuracy"),
    ),
    Fault(
        "training-stops-early",
        VIEW,
        "the workload stops after half of --max_steps and still exits 0",
        runtime=_workload_env("stop-early"),
    ),
    Fault(
        "gpu-held-by-other-pod",
        RUN,
        "another tenant's pod holds every GPU: the Job's pod stays Pending (Insufficient nvidia.com/gpu)",
        start=_once(nodes.hold_every_gpu),
    ),
    Fault(
        "job-never-scheduled",
        RUN,
        "GPU nodes are cordoned (a stalled node-image upgrade): the plugin runs, the Job's pod stays Pending",
        start=_once(nodes.cordon_gpu_nodes),
    ),
    Fault(
        "rollout-too-slow",
        INSTALL,
        "pulling the plugin image outlasts the suite's rollout timeout (FaultTiming.plugin_pull_delay_s)",
        runtime=_slow_plugin_pull,
    ),
    Fault(
        "apiserver-flaky",
        TRANSIENT,
        "for a while every 3rd request gets 429/500 with Retry-After and watches are dropped",
        start=_flaky_api,
    ),
    Fault(
        "cleanup-blocked-by-finalizer",
        CLEAN_UP,
        f"an operator adds finalizer {nodes.BLOCKING_FINALIZER} to Job pods: deleting the Job leaks them",
        start=_finalizer,
    ),
)

FAULTS: dict[str, Fault] = {fault.name: fault for fault in _ALL}


def lookup(names: Iterable[str]) -> list[Fault]:
    """The faults for `names`, in order; a one-line ValueError lists the valid names for an unknown one."""
    out = []
    for name in names:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; valid faults: {', '.join(FAULTS)}")
        out.append(FAULTS[name])
    return out


def runtime_faults(faults: Iterable[Fault], timing: FaultTiming) -> RuntimeFaults:
    """The kubelet-side hooks for a set of faults (an empty RuntimeFaults when none needs any)."""
    hooks = RuntimeFaults()
    for fault in faults:
        if fault.runtime is not None:
            fault.runtime(hooks, timing)
    return hooks


def catalogue_lines() -> list[str]:
    """`NAME<TAB>SECTION<TAB>description`, one per fault (what `python -m gpuconf.emulator faults` prints)."""
    return [f"{f.name}\t{f.section}\t{f.description}" for f in FAULTS.values()]
