"""The GPUs a plugin advertises: made up in fake mode, read from NVML in nvml mode.

Each device also knows what Allocate tells the container about it (GPUCONF_GPU_* envs), which is
how the offline workload can print a TensorFlow-style discovery line for the GPU it was given.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from gpuconf.deviceplugin.products import GpuProduct

_FAKE_NAMESPACE = uuid.UUID("4f1f3c6e-9a4c-4d59-8a57-0b9a4c1d2e77")


@dataclass(frozen=True)
class GpuDevice:
    id: str  # what kubelet sees: the GPU UUID ("GPU-...")
    index: int
    product: str
    compute_capability: str
    memory_gib: float
    memory_clock_ghz: float
    pci_bus_id: str
    emulated: bool

    def envs(self, prefix: str) -> dict[str, str]:
        """The GPUCONF_GPU_* variables describing this device, e.g. prefix "GPUCONF_GPU_0_"."""
        return {
            f"{prefix}PRODUCT": self.product,
            f"{prefix}COMPUTE_CAPABILITY": self.compute_capability,
            f"{prefix}MEMORY_GIB": f"{self.memory_gib:.2f}",
            f"{prefix}MEMORY_CLOCK_GHZ": f"{self.memory_clock_ghz:.4f}",
            f"{prefix}PCI_BUS_ID": self.pci_bus_id,
            f"{prefix}UUID": self.id,
            f"{prefix}EMULATED": "1" if self.emulated else "0",
        }


def fake_devices(count: int, product: GpuProduct, seed: str) -> list[GpuDevice]:
    """`count` fake GPUs; IDs and PCI addresses are stable for the same seed (the socket dir), so a
    restarted plugin advertises the same devices, while different nodes get different ones."""
    devices = []
    for index in range(count):
        gpu_uuid = uuid.uuid5(_FAKE_NAMESPACE, f"{seed}:{index}")
        # Azure VMs show odd PCI domains (the article's K80 is at 2fd7:00:00.0); mimic that shape.
        domain = int(hashlib.sha256(gpu_uuid.bytes).hexdigest()[:4], 16)
        devices.append(
            GpuDevice(
                id=f"GPU-{gpu_uuid}",
                index=index,
                product=product.name,
                compute_capability=product.compute_capability,
                memory_gib=product.memory_gib,
                memory_clock_ghz=product.memory_clock_ghz,
                pci_bus_id=f"{domain:04x}:00:00.0",
                emulated=True,
            )
        )
    return devices


def _text(value: Any) -> str:
    # nvidia-ml-py returns str; older pynvml builds returned bytes.
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_devices(nvml: ModuleType, hidden: tuple[str, ...] = ()) -> list[GpuDevice]:
    """The real GPUs NVML sees (nvml must already be initialised), less the `hidden` ones (NVML
    indexes or UUIDs): a GPU that is installed but not advertised, as when it is masked from the
    plugin. The others keep their NVML index."""
    devices = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        if str(index) in hidden or _text(nvml.nvmlDeviceGetUUID(handle)) in hidden:
            continue
        major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
        memory_mhz = nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_MEM)
        devices.append(
            GpuDevice(
                id=_text(nvml.nvmlDeviceGetUUID(handle)),
                index=index,
                product=_text(nvml.nvmlDeviceGetName(handle)),
                compute_capability=f"{major}.{minor}",
                memory_gib=nvml.nvmlDeviceGetMemoryInfo(handle).total / 2**30,
                memory_clock_ghz=memory_mhz / 1000.0,
                pci_bus_id=_text(nvml.nvmlDeviceGetPciInfo(handle).busId),
                emulated=False,
            )
        )
    return devices


def nvml_healthy(nvml: ModuleType, device: GpuDevice) -> bool:
    """A GPU is healthy while NVML can still find it by UUID and read its memory; a fallen-off-the-bus
    or XID-wedged GPU fails these calls."""
    try:
        handle = nvml.nvmlDeviceGetHandleByUUID(device.id)
        nvml.nvmlDeviceGetMemoryInfo(handle)
    except nvml.NVMLError:
        return False
    return True
