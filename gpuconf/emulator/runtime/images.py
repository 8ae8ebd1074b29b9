"""The image catalogue: which local program stands in for a container image.

Known images run an offline program of this project; every other image fails to pull, as an
unreachable or unknown registry image does on a real node (ErrImagePull, then ImagePullBackOff).
  device plugin   the article's and NVIDIA's plugin images -> gpuconf.deviceplugin
  workload        the article's MNIST image -> gpuconf.workload.mnist; gpuconf's own workload image
                  -> the gpuconf.workload module its `python -m` command names, else mnist
  cuda-vectoradd  nvcr.io/nvidia/k8s/cuda-sample:vectoradd* -> gpuconf.workload.vectoradd
  cuda            nvidia/cuda base images -> their command: nvidia-smi -> gpuconf.workload.nvidia_smi
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuconf.emulator.profiles import GpuModel

Obj = dict[str, Any]

DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"

# Images the catalogue knows, as (pattern, program). Patterns match the full image reference.
_DEVICE_PLUGIN_IMAGES = (
    re.compile(r"^mcr\.microsoft\.com/oss/nvidia/k8s-device-plugin:[\w.\-]+$"),
    re.compile(r"^nvcr\.io/nvidia/k8s-device-plugin:[\w.\-]+$"),
    re.compile(r"^(?:[\w.\-]+(?::\d+)?/)*gpuconf[-/](?:fake-)?device-plugin(?::[\w.\-]+)?$"),
)
# The pause image: a container that only sleeps (what holds a pod's resources without work).
_PAUSE_IMAGES = (re.compile(r"^(?:mcr\.microsoft\.com/oss/kubernetes|registry\.k8s\.io)/pause:[\w.\-]+$"),)
_OWN_WORKLOAD_IMAGE = re.compile(r"^(?:[\w.\-]+(?::\d+)?/)*gpuconf[-/]workload(?::[\w.\-]+)?$")
_WORKLOAD_IMAGES = (
    re.compile(r"^mcr\.microsoft\.com/azuredocs/samples-tf-mnist-demo:[\w.\-]+$"),
    _OWN_WORKLOAD_IMAGE,
)
# The sample NVIDIA's and AKS's GPU docs run to verify a node (any tag: vectoradd-cuda12.5.0, ...).
_VECTORADD_IMAGES = (re.compile(r"^nvcr\.io/nvidia/k8s/cuda-sample:vectoradd[\w.\-]*$"),)
_CUDA_IMAGES = (re.compile(r"^(?:nvcr\.io/|docker\.io/)?nvidia/cuda:[\w.\-]+$"),)

DEVICE_PLUGIN = "device-plugin"
WORKLOAD = "workload"
VECTORADD = "cuda-vectoradd"
CUDA = "cuda"
PAUSE = "pause"
# Compressed sizes the kubelet reports in its Pulled event (those of the real images the entries
# stand in for, approximately: the k8s-device-plugin image, the TF 1.x CUDA sample, the vectorAdd
# sample and a CUDA 12 base image).
IMAGE_SIZES = {
    DEVICE_PLUGIN: 29_613_021,
    WORKLOAD: 1_316_342_563,
    VECTORADD: 60_124_180,
    CUDA: 87_311_646,
    PAUSE: 301_463,
}
# Our image's command, as the kind manifests give it: `python -m gpuconf.workload.<program> ...`.
_OWN_WORKLOAD_COMMAND = re.compile(r"^(?:\S*/)?python(?:3(?:\.\d+)?)?$")
_OWN_WORKLOAD_MODULE = re.compile(r"^gpuconf\.workload\.\w+$")


class ImagePullError(Exception):
    """The image is not in the catalogue; the message is what the kubelet reports."""


@dataclass
class LaunchContext:
    """What the kubelet knows when it starts a container."""

    container: Obj
    env: dict[str, str]
    # container path -> directory on this machine: hostPath/emptyDir volumes and a device
    # plugin's mounts, all under the node root
    mounts: dict[str, Path]
    gpu: GpuModel | None
    gpu_count: int
    # Where this node's emulated "hardware" reports GPU faults (what NVML would tell a real plugin).
    health_file: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # container path -> device node on this machine (device specs from a device plugin's Allocate)
    devices: dict[str, Path] = field(default_factory=dict)


@dataclass
class Program:
    """A container's program: argv for a subprocess, or the device plugin run in-process."""

    kind: str  # DEVICE_PLUGIN or WORKLOAD
    argv: list[str]
    env: dict[str, str]
    socket_dir: Path | None = None


def resolve(image: str) -> str:
    """The catalogue entry for an image; raises ImagePullError worded like containerd does."""
    if any(p.match(image) for p in _DEVICE_PLUGIN_IMAGES):
        return DEVICE_PLUGIN
    if any(p.match(image) for p in _WORKLOAD_IMAGES):
        return WORKLOAD
    if any(p.match(image) for p in _VECTORADD_IMAGES):
        return VECTORADD
    if any(p.match(image) for p in _CUDA_IMAGES):
        return CUDA
    if any(p.match(image) for p in _PAUSE_IMAGES):
        return PAUSE
    reference = (
        image if ("/" in image.split(":")[0] or "." in image.split("/")[0]) else f"docker.io/library/{image}"
    )
    raise ImagePullError(
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{reference}": '
        f"not found in the emulator's image catalogue (gpuconf.emulator.runtime.images)"
    )


def build_program(kind: str, ctx: LaunchContext) -> Program:
    env = {**ctx.env, **ctx.extra_env}
    if kind == DEVICE_PLUGIN:
        socket_dir = ctx.mounts.get(DEVICE_PLUGIN_DIR)
        if socket_dir is None:
            raise ValueError(f"device plugin container must mount {DEVICE_PLUGIN_DIR} (hostPath)")
        real = ctx.gpu is not None and ctx.gpu.real
        if real and ctx.gpu is not None and ctx.gpu.hidden:
            env["GPUCONF_NVML_HIDE"] = ",".join(ctx.gpu.hidden)
        argv = [
            sys.executable,
            "-m",
            "gpuconf.deviceplugin",
            "--mode",
            "nvml" if real else "fake",
            "--devices",
            str(ctx.gpu_count),
            "--product",
            ctx.gpu.product if ctx.gpu else "none",
            "--socket-dir",
            str(socket_dir),
        ]
        if ctx.health_file is not None:
            argv += ["--health-file", str(ctx.health_file)]
        return Program(DEVICE_PLUGIN, argv, env, socket_dir=socket_dir)
    if kind == PAUSE:  # sleeps until signalled, like /pause (SIGTERM ends it)
        return Program(PAUSE, [sys.executable, "-c", "import signal; signal.pause()"], env)
    env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices(env)
    env["NVIDIA_VISIBLE_DEVICES"] = nvidia_visible_devices(env)
    return Program(kind, workload_argv(kind, ctx.container), env)


def workload_argv(kind: str, container: Obj) -> list[str]:
    """The offline program a workload-like container runs, from its image kind and command/args."""
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if kind == VECTORADD:  # the sample binary takes no arguments; whatever is given, it adds vectors
        return _module("gpuconf.workload.vectoradd")
    if kind == CUDA:
        return _cuda_image_argv(command + args)
    own = _OWN_WORKLOAD_IMAGE.match(str(container.get("image", "")))
    if own and len(command) >= 3 and _OWN_WORKLOAD_COMMAND.match(command[0]) and command[1] == "-m":
        if _OWN_WORKLOAD_MODULE.match(command[2]):
            # Any gpuconf.workload module, as in the real image: an unknown one fails as python does.
            return _module(command[2], *command[3:], *args)
    return _module("gpuconf.workload.mnist", *args)  # the image's entrypoint, with the pod's args


def _module(name: str, *argv: str) -> list[str]:
    return [sys.executable, "-m", name, *argv]


def _cuda_image_argv(argv: list[str]) -> list[str]:
    """A CUDA base image runs what the pod says; of its executables only nvidia-smi is emulated.
    With neither command nor args it runs its CMD, bash, which exits 0 at once without a terminal."""
    if not argv:
        return [sys.executable, "-c", ""]
    executable, rest = argv[0], argv[1:]
    if executable == "nvidia-smi" or executable.endswith("/nvidia-smi"):
        return _module("gpuconf.workload.nvidia_smi", *rest)
    return _start_error(executable)


def _start_error(executable: str) -> list[str]:
    """A container whose executable is not in the image. Kubernetes shows it terminated with exit
    code 128 (reason StartError) and containerd's message below. This runtime has no StartError
    state, so it is a process that prints that message (kubectl logs shows it) and exits 128: the
    pod fails like the real one (phase Failed, or CrashLoopBackOff when it restarts), with reason
    Error instead of StartError."""
    missing = (
        f'exec: "{executable}": stat {executable}: no such file or directory'
        if "/" in executable
        else f'exec: "{executable}": executable file not found in $PATH'
    )
    message = (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
        f"runc create failed: unable to start container process: {missing}: unknown"
    )
    return [sys.executable, "-c", "import sys; sys.stderr.write(sys.argv[1] + '\\n'); sys.exit(128)", message]


def cuda_visible_devices(env: dict[str, str]) -> str:
    """What CUDA may see in this container: the real GPUs the plugin allocated (by UUID, which
    CUDA_VISIBLE_DEVICES accepts), else none. This is the isolation the NVIDIA container runtime
    gives from NVIDIA_VISIBLE_DEVICES; without it a workload on a GPU host would use every host GPU,
    and an emulated-GPU pod would train on a real one."""
    if env.get("GPUCONF_GPU_EMULATED") != "0":
        return ""
    return env.get("NVIDIA_VISIBLE_DEVICES", "")


def nvidia_visible_devices(env: dict[str, str]) -> str:
    """The GPUs the NVIDIA container runtime mounts: the device plugin's allocation (fake or real
    UUIDs), else none ("void"). Never inherited: containers start with the emulator's environment,
    and on a GPU host that often says NVIDIA_VISIBLE_DEVICES=all. nvidia-smi reads NVML, which sees
    every host GPU, so this is its isolation as CUDA_VISIBLE_DEVICES is CUDA's."""
    if "GPUCONF_GPU_EMULATED" not in env:  # set by the plugin's Allocate only
        return "void"
    return env.get("NVIDIA_VISIBLE_DEVICES") or "void"
