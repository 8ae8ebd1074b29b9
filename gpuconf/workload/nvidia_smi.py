"""`python -m gpuconf.workload.nvidia_smi -L`: `nvidia-smi -L` for the GPUs given to this container.

Prints `GPU <i>: <product> (UUID: <uuid>)` per GPU, numbered from 0 as inside an NVIDIA container.
  emulated GPUs  from the fake device plugin's Allocate envs (GPUCONF_GPU_<i>_PRODUCT, _UUID); the
                 product carries " (emulated)", as every gpuconf line naming a fake GPU does
  real GPUs      from NVML (nvidia-ml-py), only those NVIDIA_VISIBLE_DEVICES names: the real tool in
                 a container sees only the GPUs the runtime mounted, while NVML here sees the host's
  no GPU         nvidia-smi's driver failure, exit 9
Only -L / --list-gpus is supported; anything else is one line on stderr and exit 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from types import ModuleType

from gpuconf.workload import gpuinfo

LIST_GPUS = (["-L"], ["--list-gpus"])
EXIT_USAGE = 2
# What nvidia-smi prints (on stdout) and exits with when it finds no driver, or no GPUs.
DRIVER_FAILURE = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)
EXIT_DRIVER_FAILURE = 9
NO_DEVICES = "No devices were found"
EXIT_NO_DEVICES = 6


def listed_line(index: int, product: str, uuid: str) -> str:
    return f"GPU {index}: {product} (UUID: {uuid})"


def emulated_listing(env: Mapping[str, str]) -> list[str] | None:
    """The fake plugin's GPUs, or None when it allocated none (so NVML is asked instead)."""
    gpus = gpuinfo.emulated_gpus(env)
    # GPUCONF_GPU_EMULATED=1 alone still means "fake GPUs only": never fall through to the host's.
    if not gpus and env.get("GPUCONF_GPU_EMULATED") != "1":
        return None
    return [listed_line(i, g.name + gpuinfo.EMULATED_MARKER, g.uuid) for i, g in enumerate(gpus)]


def real_listing(nvml: ModuleType, visible: str) -> list[str]:
    """NVML's GPUs that NVIDIA_VISIBLE_DEVICES (UUIDs or NVML indexes, or "all") names, in NVML order."""
    wanted = {entry.strip() for entry in visible.split(",")}
    lines: list[str] = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        uuid = gpuinfo.nvml_text(nvml.nvmlDeviceGetUUID(handle))
        if visible.strip().lower() == "all" or uuid in wanted or str(index) in wanted:
            lines.append(listed_line(len(lines), gpuinfo.nvml_text(nvml.nvmlDeviceGetName(handle)), uuid))
    return lines


def run(
    argv: list[str], env: Mapping[str, str], out: Callable[[str], None], err: Callable[[str], None]
) -> int:
    if argv not in LIST_GPUS:
        shown = " ".join(argv) or "no arguments"
        err(f"nvidia-smi here (gpuconf.workload.nvidia_smi) supports only -L / --list-gpus, not: {shown}")
        return EXIT_USAGE
    visible = env.get("NVIDIA_VISIBLE_DEVICES", "")
    if visible.strip().lower() in gpuinfo.NO_DEVICES:  # no GPU allocated: no driver in the container
        out(DRIVER_FAILURE)
        return EXIT_DRIVER_FAILURE
    lines = emulated_listing(env)
    if lines is None:
        nvml = gpuinfo.load_nvml()
        if nvml is None:
            out(DRIVER_FAILURE)
            return EXIT_DRIVER_FAILURE
        lines = real_listing(nvml, visible)
    if not lines:
        out(NO_DEVICES)
        return EXIT_NO_DEVICES
    for line in lines:
        out(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    def out(line: str) -> None:
        print(line, flush=True)

    def err(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    return run(sys.argv[1:] if argv is None else argv, os.environ, out, err)


if __name__ == "__main__":
    sys.exit(main())
