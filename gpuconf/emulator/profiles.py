"""Hardware profiles of the emulated nodes: Azure VM size -> cpu, memory, GPU model and count.

A node's profile is fixed when its kubelet starts (relabelling a node changes no hardware, as on a
real VM). Capacity and allocatable are computed the way AKS reserves resources for the system
(kube-reserved + eviction threshold), except for Standard_NC6 whose numbers are pinned to the
article's `kubectl describe node` output so the emulator reproduces that page exactly.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, replace
from types import ModuleType

from gpuconf.checks import vmsizes
from gpuconf.deviceplugin import products

GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_VM_SIZE = "Standard_NC6"
DEFAULT_POOL = "nodepool1"
MAX_PODS = 110  # the AKS default with kubenet, as in the article's describe output


@dataclass(frozen=True)
class GpuModel:
    """What a GPU reports to CUDA; the fake device plugin passes these to the workload as env vars."""

    product: str
    compute_capability: str
    memory_gib: float
    # True on a `--gpu real` node: its device plugin reads NVML instead of making GPUs up.
    real: bool = False
    # NVML indexes or UUIDs the real node's plugin must not advertise (the hide-gpu fault).
    hidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class VmSize:
    """A node's fixed hardware: the checks' VM-size facts plus what only a node shows."""

    name: str
    vcpus: int
    memory_gib: float
    gpu: GpuModel | None = None
    gpu_count: int = 0
    max_data_disks: int = 8
    # Exact numbers observed on a real node, when we have them (the article's NC6).
    pinned_memory_ki: int | None = None
    pinned_allocatable_cpu_m: int | None = None
    pinned_allocatable_memory_ki: int | None = None


# The article's `kubectl describe node` for its Standard_NC6 node.
_ARTICLE_NC6 = {
    "max_data_disks": 24,
    "pinned_memory_ki": 57713784,
    "pinned_allocatable_cpu_m": 5916,
    "pinned_allocatable_memory_ki": 51702904,
}


def _from_facts(facts: vmsizes.VmSize) -> VmSize:
    gpu = None
    if facts.gpu_model is not None:
        product = products.lookup(facts.gpu_model)
        if product is None:
            raise ValueError(f"{facts.name}: the fake device plugin has no GPU product {facts.gpu_model!r}")
        gpu = GpuModel(product.name, product.compute_capability, product.memory_gib)
    extras = _ARTICLE_NC6 if facts.name == "Standard_NC6" else {}
    disks = extras.get("max_data_disks", min(64, max(4, facts.vcpus * 2)))
    return VmSize(
        facts.name,
        facts.vcpus,
        facts.memory_gib,
        gpu,
        facts.gpu_count,
        max_data_disks=int(disks),
        pinned_memory_ki=extras.get("pinned_memory_ki"),
        pinned_allocatable_cpu_m=extras.get("pinned_allocatable_cpu_m"),
        pinned_allocatable_memory_ki=extras.get("pinned_allocatable_memory_ki"),
    )


# Every size the checks know can be emulated (the facts live once, in gpuconf.checks.vmsizes).
VM_SIZES: dict[str, VmSize] = {name: _from_facts(facts) for name, facts in vmsizes.VM_SIZES.items()}

# Ephemeral storage of the article's node (a 100 GiB OS disk); the same for every size here.
EPHEMERAL_CAPACITY_KI = 101584140
EPHEMERAL_ALLOCATABLE = 93619943269


def vm_size(name: str) -> VmSize:
    """The profile for an Azure VM size name; unknown names get a one-line error listing known ones."""
    return VM_SIZES[vmsizes.lookup(name).name]


def _reserved_cpu_m(vcpus: int) -> int:
    # The kube-reserved CPU curve AKS shares with GKE: 6% of the first core, 1% of the second,
    # 0.5% of the next two, 0.25% of the rest.
    reserved = 60.0
    reserved += 10 * min(max(vcpus - 1, 0), 1)
    reserved += 5 * min(max(vcpus - 2, 0), 2)
    reserved += 2.5 * max(vcpus - 4, 0)
    return int(reserved)


def _reserved_memory_ki(memory_ki: int) -> int:
    # AKS kube-reserved memory: 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8,
    # 6% of the next 112, 2% above 128 GiB; plus the 750Mi hard eviction threshold.
    gib = 1024 * 1024
    bands = ((4 * gib, 0.25), (4 * gib, 0.20), (8 * gib, 0.10), (112 * gib, 0.06), (float("inf"), 0.02))
    remaining, reserved = float(memory_ki), 0.0
    for width, share in bands:
        part = min(remaining, width)
        reserved += part * share
        remaining -= part
        if remaining <= 0:
            break
    return int(reserved) + 750 * 1024


def capacity(size: VmSize) -> dict[str, str]:
    """node.status.capacity before any device plugin registers (no nvidia.com/gpu yet)."""
    # The guest sees a little less than the nominal size (firmware and kernel reservations).
    memory_ki = size.pinned_memory_ki or int(size.memory_gib * 1024 * 1024 * 0.9831)
    return {
        "attachable-volumes-azure-disk": str(size.max_data_disks),
        "cpu": str(size.vcpus),
        "ephemeral-storage": f"{EPHEMERAL_CAPACITY_KI}Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{memory_ki}Ki",
        "pods": str(MAX_PODS),
    }


def allocatable(size: VmSize) -> dict[str, str]:
    """node.status.allocatable: capacity minus what AKS reserves for the system."""
    cap = capacity(size)
    memory_ki = int(cap["memory"][:-2])
    cpu_m = size.pinned_allocatable_cpu_m or size.vcpus * 1000 - _reserved_cpu_m(size.vcpus)
    alloc_mem = size.pinned_allocatable_memory_ki or memory_ki - _reserved_memory_ki(memory_ki)
    return {
        **cap,
        "cpu": f"{cpu_m}m",
        "ephemeral-storage": str(EPHEMERAL_ALLOCATABLE),
        "memory": f"{alloc_mem}Ki",
    }


@dataclass(frozen=True)
class PoolSpec:
    """One agent pool: its name, VM size and node count (`--pool name:SIZE:COUNT`)."""

    name: str
    vm_size: str
    count: int


_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")  # AKS: lowercase alphanumeric, <= 12 chars


def parse_pool(text: str) -> PoolSpec:
    """Parse `name:SIZE:COUNT`; raises ValueError with a one-line explanation on bad input."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"--pool {text!r}: expected NAME:VM_SIZE:COUNT, e.g. gpupool:Standard_NC6:1")
    name, size_name, count_text = parts
    if not _POOL_NAME.match(name):
        raise ValueError(
            f"--pool {text!r}: pool name must be 1-12 lowercase letters/digits, starting with a letter"
        )
    vm_size(size_name)
    if not count_text.isdigit() or int(count_text) < 1:
        raise ValueError(f"--pool {text!r}: COUNT must be a positive integer")
    return PoolSpec(name, size_name, int(count_text))


def node_names(pool: PoolSpec, cluster_seed: int = 28993262) -> list[str]:
    """AKS VMSS-less names as in the article: aks-<pool>-<8 digits>-<index>."""
    return [f"aks-{pool.name}-{cluster_seed:08d}-{i}" for i in range(pool.count)]


# ----- real GPUs (`serve --gpu real`) ----------------------------------------------------------------
GPU_MODES = ("emulated", "real")
# Labels/annotation a `--gpu real` node carries, for the suite's JUnit properties. The product label
# uses GPU Feature Discovery's name and spelling (spaces become dashes: label values allow none).
LABEL_GPU_PRODUCT = "nvidia.com/gpu.product"
LABEL_GPU_SOURCE = "gpuconf.io/gpu-source"  # "real": NVML's GPUs; absent on emulated nodes
LABEL_DRIVER_VERSION = "gpuconf.io/driver-version"
LABEL_CUDA_VERSION = "gpuconf.io/cuda-version"
ANNOTATION_GPU_UUIDS = "gpuconf.io/gpu-uuids"


@dataclass(frozen=True)
class RealGpus:
    """What NVML reports about this machine's GPUs (the first GPU's model stands for all of them)."""

    product: str
    compute_capability: str
    memory_gib: float
    uuids: tuple[str, ...]
    driver_version: str
    cuda_version: str  # the driver's CUDA version, "12.4"

    @property
    def count(self) -> int:
        return len(self.uuids)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def detect_real_gpus(nvml: ModuleType | None = None) -> RealGpus | None:
    """The machine's NVIDIA GPUs through NVML (nvidia-ml-py); None without the package, the driver, or
    a GPU. `nvml` replaces the pynvml module (tests pass a double)."""
    try:
        nvml = nvml or importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception:  # no nvidia-ml-py, no libnvidia-ml.so, or the driver refused: no real GPUs
        return None
    try:
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            return None
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handles[0])
        cuda = int(nvml.nvmlSystemGetCudaDriverVersion())  # e.g. 12040 for CUDA 12.4
        return RealGpus(
            product=_text(nvml.nvmlDeviceGetName(handles[0])),
            compute_capability=f"{major}.{minor}",
            memory_gib=nvml.nvmlDeviceGetMemoryInfo(handles[0]).total / 2**30,
            uuids=tuple(_text(nvml.nvmlDeviceGetUUID(h)) for h in handles),
            driver_version=_text(nvml.nvmlSystemGetDriverVersion()),
            cuda_version=f"{cuda // 1000}.{cuda % 1000 // 10}",
        )
    finally:
        nvml.nvmlShutdown()


def with_real_gpus(size: VmSize, gpus: RealGpus, hidden: tuple[str, ...] = ()) -> VmSize:
    """The VM size with this machine's GPUs in place of the profile's.

    The size keeps its Azure name (so instance-type labels and the VM-size checks stay meaningful:
    pick `--vm-size` matching the real GPU for a consistent picture); the real model and driver show
    in the labels of `real_gpu_labels`. GPU count = NVML's count; `hidden` GPUs stay installed but
    unadvertised."""
    model = GpuModel(gpus.product, gpus.compute_capability, round(gpus.memory_gib, 2), True, hidden)
    return replace(size, gpu=model, gpu_count=gpus.count)


def real_gpu_labels(gpus: RealGpus) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) a real-GPU node carries: model, driver and CUDA versions, GPU UUIDs."""
    labels = {
        LABEL_GPU_SOURCE: "real",
        LABEL_GPU_PRODUCT: re.sub(r"[^A-Za-z0-9._-]", "-", gpus.product)[:63].strip("-._"),
        LABEL_DRIVER_VERSION: gpus.driver_version,
        LABEL_CUDA_VERSION: gpus.cuda_version,
        # As NVIDIA's GPU feature discovery labels real nodes: the GPUs installed (hidden ones too).
        "nvidia.com/gpu.count": str(gpus.count),
        "nvidia.com/gpu.compute.major": gpus.compute_capability.split(".")[0],
        "nvidia.com/gpu.compute.minor": gpus.compute_capability.split(".")[1],
    }
    return labels, {ANNOTATION_GPU_UUIDS: ",".join(gpus.uuids)}


def parse_hidden_gpu(text: str) -> str:
    """`--hide-gpu` value: an NVML index (0, 1, ...) or a GPU UUID (GPU-...); ValueError otherwise."""
    value = text.strip()
    if not (value.isdigit() or re.fullmatch(r"GPU-[0-9a-fA-F-]+", value)):
        raise ValueError(f"--hide-gpu {text!r}: expected a GPU index (0, 1, ...) or UUID (GPU-...)")
    return value
