"""A test double of pynvml (nvidia-ml-py): two H200s behind a 550 driver, just the calls gpuconf makes.

It is a real module file so that both the emulator process (sys.path) and the device-plugin
containers it starts (PYTHONPATH) import it as `pynvml` in place of the real, driver-less one.
"""

from __future__ import annotations

from types import SimpleNamespace

NVML_CLOCK_MEM = 2
DRIVER_VERSION = "550.54.15"
CUDA_DRIVER_VERSION = 12040  # NVML's encoding of CUDA 12.4
PRODUCT = "NVIDIA H200"
GPUS = [
    {"uuid": "GPU-0a1b2c3d-0000-1111-2222-333344445555", "bus": "00000000:19:00.0"},
    {"uuid": "GPU-6e7f8091-6666-7777-8888-999900001111", "bus": "00000000:3B:00.0"},
]


class NVMLError(Exception):
    pass


def nvmlInit() -> None:  # noqa: N802
    pass


def nvmlShutdown() -> None:  # noqa: N802
    pass


def nvmlSystemGetDriverVersion() -> str:  # noqa: N802
    return DRIVER_VERSION


def nvmlSystemGetCudaDriverVersion() -> int:  # noqa: N802
    return CUDA_DRIVER_VERSION


def nvmlDeviceGetCount() -> int:  # noqa: N802
    return len(GPUS)


def nvmlDeviceGetHandleByIndex(index: int) -> dict[str, str]:  # noqa: N802
    return GPUS[index]


def nvmlDeviceGetHandleByUUID(uuid: str) -> dict[str, str]:  # noqa: N802
    for gpu in GPUS:
        if gpu["uuid"] == uuid:
            return gpu
    raise NVMLError(f"no GPU {uuid}")


def nvmlDeviceGetUUID(handle: dict[str, str]) -> str:  # noqa: N802
    return handle["uuid"]


def nvmlDeviceGetName(handle: dict[str, str]) -> str:  # noqa: N802
    return PRODUCT


def nvmlDeviceGetCudaComputeCapability(handle: dict[str, str]) -> tuple[int, int]:  # noqa: N802
    return (9, 0)


def nvmlDeviceGetMaxClockInfo(handle: dict[str, str], clock: int) -> int:  # noqa: N802
    return 3201


def nvmlDeviceGetMemoryInfo(handle: dict[str, str]) -> SimpleNamespace:  # noqa: N802
    return SimpleNamespace(total=150_109_978_624)


def nvmlDeviceGetPciInfo(handle: dict[str, str]) -> SimpleNamespace:  # noqa: N802
    return SimpleNamespace(busId=handle["bus"])
