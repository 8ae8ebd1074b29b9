"""Which GPU this container was given, and the TensorFlow 1.x lines that announce it.

Emulated GPU: the fake device plugin's Allocate put NVIDIA_VISIBLE_DEVICES and GPUCONF_GPU_<i>_*
(GPUCONF_GPU_EMULATED=1) into the environment. Real GPU: CUDA through PyTorch, with NVML (nvidia-ml-py)
for what torch does not report (memory clock, PCI bus id) when it is installed.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import ModuleType

NO_DEVICES = ("", "none", "void")
# What every line naming an emulated GPU carries, so no report can pass it off as real hardware
# (gpuconf.checks.discovery strips it from the name and sets `emulated`).
EMULATED_MARKER = " (emulated)"

# For the wrong-gpu fault: a plausible other GPU to claim instead of the real one.
_OTHER_GPU = {"Tesla K80": ("Tesla T4", 7, 5, 15.0)}
_DEFAULT_OTHER = ("Tesla K80", 3, 7, 11.17)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    major: int
    minor: int
    memory_gib: float
    memory_clock_ghz: float
    pci_bus_id: str
    emulated: bool
    uuid: str = ""  # "GPU-...", where the source tells it (the fake plugin's envs do)


def emulated_gpus(env: Mapping[str, str]) -> list[GpuInfo]:
    """The GPUs the fake device plugin allocated (GPUCONF_GPU_EMULATED=1), else []."""
    if env.get("NVIDIA_VISIBLE_DEVICES", "").strip().lower() in NO_DEVICES:
        return []
    count = int(env.get("GPUCONF_GPU_COUNT", "1") or "1")
    gpus = []
    for i in range(count):
        prefix = f"GPUCONF_GPU_{i}_" if f"GPUCONF_GPU_{i}_PRODUCT" in env else "GPUCONF_GPU_"
        if env.get(prefix + "EMULATED") != "1" or prefix + "PRODUCT" not in env:
            continue
        major, _, minor = env.get(prefix + "COMPUTE_CAPABILITY", "0.0").partition(".")
        gpus.append(
            GpuInfo(
                index=i,
                name=env[prefix + "PRODUCT"],
                major=int(major),
                minor=int(minor or 0),
                memory_gib=float(env.get(prefix + "MEMORY_GIB", "0") or 0),
                memory_clock_ghz=float(env.get(prefix + "MEMORY_CLOCK_GHZ", "1.0") or 1.0),
                pci_bus_id=env.get(prefix + "PCI_BUS_ID", "0000:00:00.0"),
                emulated=True,
                uuid=env.get(prefix + "UUID", ""),
            )
        )
    return gpus


def real_gpus(torch: ModuleType) -> list[GpuInfo]:
    """The CUDA devices torch sees, with NVML's memory clock and PCI bus id when available."""
    nvml = load_nvml()  # None: torch's facts are enough
    gpus = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        clock_ghz, pci = (
            0.0,
            f"{getattr(props, 'pci_domain_id', 0):04x}:{getattr(props, 'pci_bus_id', 0):02x}"
            f":{getattr(props, 'pci_device_id', 0):02x}.0",
        )
        if nvml is not None:
            # CUDA numbers only the visible GPUs, NVML all of them: match by UUID when torch has it.
            cuda_uuid = getattr(props, "uuid", None)
            handle = (
                nvml.nvmlDeviceGetHandleByUUID(f"GPU-{cuda_uuid}")
                if cuda_uuid is not None
                else nvml.nvmlDeviceGetHandleByIndex(i)
            )
            clock_ghz = nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_MEM) / 1000.0
            pci = nvml_text(nvml.nvmlDeviceGetPciInfo(handle).busId)
        gpus.append(
            GpuInfo(
                i, props.name, props.major, props.minor, props.total_memory / 2**30, clock_ghz, pci, False
            )
        )
    return gpus


def load_nvml() -> ModuleType | None:
    """pynvml, initialised; None without nvidia-ml-py or without a driver library to load."""
    try:
        import pynvml  # type: ignore[import-untyped,import-not-found]

        pynvml.nvmlInit()
    except Exception:  # ImportError, or NVMLError when no driver library loads: no NVML either way
        return None
    return pynvml


def nvml_text(value: object) -> str:
    # nvidia-ml-py returns str; older pynvml builds returned bytes.
    return value.decode() if isinstance(value, bytes) else str(value)


def impostor(gpu: GpuInfo) -> GpuInfo:
    """The same device under another GPU's name (the wrong-gpu fault)."""
    name, major, minor, memory = _OTHER_GPU.get(gpu.name, _DEFAULT_OTHER)
    return replace(gpu, name=name, major=major, minor=minor, memory_gib=memory)


def _stamp(source: str) -> str:
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"{now}: I tensorflow/core/common_runtime/gpu/{source}] "


def discovery_lines(gpu: GpuInfo) -> list[str]:
    """TensorFlow 1.x's announcement of a GPU, as in the article's sample log. An emulated GPU says so
    with a trailing "(emulated)" that gpuconf.checks.discovery recognises."""
    marker = EMULATED_MARKER if gpu.emulated else ""
    free = gpu.memory_gib * 0.99
    return [
        _stamp("gpu_device.cc:1030") + f"Found device {gpu.index} with properties: ",
        f"name: {gpu.name} major: {gpu.major} minor: {gpu.minor}"
        f" memoryClockRate(GHz): {gpu.memory_clock_ghz:.4g}",
        f"pciBusID: {gpu.pci_bus_id}",
        f"totalMemory: {gpu.memory_gib:.2f}GiB freeMemory: {free:.2f}GiB{marker}",
        _stamp("gpu_device.cc:1120")
        + f"Creating TensorFlow device (/device:GPU:{gpu.index}) -> (device: {gpu.index}, name: {gpu.name}, "
        f"pci bus id: {gpu.pci_bus_id}, compute capability: {gpu.major}.{gpu.minor}){marker}",
    ]
