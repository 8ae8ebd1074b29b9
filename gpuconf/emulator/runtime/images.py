"""The image catalogue: which local program stands in for a container image.

Known images run an offline program of this project; every other image fails to pull, as an
unreachable or unknown registry image does on a real node (ErrImagePull, then ImagePullBackOff).
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
_WORKLOAD_IMAGES = (
    re.compile(r"^mcr\.microsoft\.com/azuredocs/samples-tf-mnist-demo:[\w.\-]+$"),
    re.compile(r"^(?:[\w.\-]+(?::\d+)?/)*gpuconf[-/]workload(?::[\w.\-]+)?$"),
)

DEVICE_PLUGIN = "device-plugin"
WORKLOAD = "workload"
PAUSE = "pause"
# Compressed sizes the kubelet reports in its Pulled event (those of the real images the entries
# stand in for, approximately: the k8s-device-plugin image and the TF 1.x CUDA sample).
IMAGE_SIZES = {DEVICE_PLUGIN: 29_613_021, WORKLOAD: 1_316_342_563, PAUSE: 301_463}


class ImagePullError(Exception):
    """The image is not in the catalogue; the message is what the kubelet reports."""


@dataclass
class LaunchContext:
    """What the kubelet knows when it starts a container."""

    container: Obj
    env: dict[str, str]
    # container mountPath -> directory on this machine (hostPath volumes under the node root)
    mounts: dict[str, Path]
    gpu: GpuModel | None
    gpu_count: int
    # Where this node's emulated "hardware" reports GPU faults (what NVML would tell a real plugin).
    health_file: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


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
    args = [str(a) for a in ctx.container.get("args") or []]
    env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices(env)
    return Program(WORKLOAD, [sys.executable, "-m", "gpuconf.workload.mnist", *args], env)


def cuda_visible_devices(env: dict[str, str]) -> str:
    """What CUDA may see in this container: the real GPUs the plugin allocated (by UUID, which
    CUDA_VISIBLE_DEVICES accepts), else none. This is the isolation the NVIDIA container runtime
    gives from NVIDIA_VISIBLE_DEVICES; without it a workload on a GPU host would use every host GPU,
    and an emulated-GPU pod would train on a real one."""
    if env.get("GPUCONF_GPU_EMULATED") != "0":
        return ""
    return env.get("NVIDIA_VISIBLE_DEVICES", "")
