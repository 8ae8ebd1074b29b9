"""Azure VM sizes the article and today's AKS GPU docs use: `lookup(size) -> VmSize`.

Each entry knows what a node of that size must advertise (GPU count = `nvidia.com/gpu` capacity),
the GPU product name the NVIDIA driver reports (what `nvidia-smi -L` and TensorFlow print), and
whether Azure has retired the size (a doc-drift fact, with the sentence that says so).

Sources: Microsoft Learn VM size pages and retirement notices (MicrosoftDocs/azure-docs), checked
with the docs search on 2026-11-28. vCPU/memory/GPU-count figures of the NC A100 v4, NCads H100 v5,
NDasr v4, NDamsr A100 v4, NCv3 and NCasT4_v3 families were confirmed there; entries marked
"unverified" below could not be confirmed from a stored source and come from the retired size pages
as remembered (they are retired sizes, kept so the suite can explain the article's instructions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_NC_RETIREMENT = (
    "Azure retired the NC, NCv2 and ND series (NVIDIA K80, P100, P40) on 31 August 2023; remaining VMs are "
    "deallocated. (Azure retirement notice; unverified against a stored source, see REFERENCE §2)"
)
_NV_RETIREMENT = (
    "After September 6, 2023, any remaining NV and NV_Promo-size VMs remaining in your subscription will be "
    "set to a deallocated state. "
    "(learn.microsoft.com: virtual-machines/sizes/migration-guides/nv-series-retirement)"
)
_NCV3_RETIREMENT = (
    "On September 30, 2025, Microsoft Azure will retire the Standard_NC6s_v3, Standard_NC12s_v3 and "
    "Standard_NC24s_v3 virtual machines (VMs) in NCv3-series virtual machines (VMs). "
    "(learn.microsoft.com: virtual-machines/ncv3-nc6s-nc12s-nc24s-retirement)"
)


@dataclass(frozen=True)
class VmSize:
    name: str  # canonical spelling, e.g. "Standard_NC6"
    vcpus: int
    memory_gib: float
    gpu_model: str | None  # product name as the NVIDIA driver reports it; None for CPU sizes
    gpu_count: int  # GPUs the VM exposes = the node's expected nvidia.com/gpu capacity
    compute_capability: str | None
    retired_on: date | None = None
    retirement_source: str | None = None  # the sentence (and where it is from) announcing retirement

    @property
    def has_gpu(self) -> bool:
        return self.gpu_count > 0

    def retired(self, today: date) -> bool:
        return self.retired_on is not None and self.retired_on <= today


K80, P100, P40, M60 = "Tesla K80", "Tesla P100-PCIE-16GB", "Tesla P40", "Tesla M60"
V100, T4 = "Tesla V100-PCIE-16GB", "Tesla T4"
A100_PCIE_80, A100_SXM_40, A100_SXM_80 = (
    "NVIDIA A100 80GB PCIe",
    "NVIDIA A100-SXM4-40GB",
    "NVIDIA A100-SXM4-80GB",
)
H100_NVL, H100_SXM = "NVIDIA H100 NVL", "NVIDIA H100 80GB HBM3"

_NC_DAY, _NV_DAY, _NCV3_DAY = date(2023, 8, 31), date(2023, 9, 6), date(2025, 9, 30)

_SIZES: tuple[VmSize, ...] = (
    # NC (K80): one VM "GPU" is one half of a K80 board, which the driver reports as a Tesla K80. (unverified)
    VmSize("Standard_NC6", 6, 56, K80, 1, "3.7", _NC_DAY, _NC_RETIREMENT),
    VmSize("Standard_NC12", 12, 112, K80, 2, "3.7", _NC_DAY, _NC_RETIREMENT),
    VmSize("Standard_NC24", 24, 224, K80, 4, "3.7", _NC_DAY, _NC_RETIREMENT),
    VmSize("Standard_NC6s_v2", 6, 112, P100, 1, "6.0", _NC_DAY, _NC_RETIREMENT),  # unverified
    VmSize("Standard_ND6s", 6, 112, P40, 1, "6.1", _NC_DAY, _NC_RETIREMENT),  # unverified
    VmSize("Standard_NV6", 6, 56, M60, 1, "5.2", _NV_DAY, _NV_RETIREMENT),  # sizes unverified, date verified
    VmSize("Standard_NC6s_v3", 6, 112, V100, 1, "7.0", _NCV3_DAY, _NCV3_RETIREMENT),
    VmSize("Standard_NC12s_v3", 12, 224, V100, 2, "7.0", _NCV3_DAY, _NCV3_RETIREMENT),
    VmSize("Standard_NC24s_v3", 24, 448, V100, 4, "7.0", _NCV3_DAY, _NCV3_RETIREMENT),
    VmSize("Standard_NC4as_T4_v3", 4, 28, T4, 1, "7.5"),
    VmSize("Standard_NC8as_T4_v3", 8, 56, T4, 1, "7.5"),
    VmSize("Standard_NC16as_T4_v3", 16, 110, T4, 1, "7.5"),
    VmSize("Standard_NC64as_T4_v3", 64, 440, T4, 4, "7.5"),
    VmSize("Standard_NC24ads_A100_v4", 24, 220, A100_PCIE_80, 1, "8.0"),
    VmSize("Standard_NC48ads_A100_v4", 48, 440, A100_PCIE_80, 2, "8.0"),
    VmSize("Standard_NC96ads_A100_v4", 96, 880, A100_PCIE_80, 4, "8.0"),
    VmSize("Standard_NC40ads_H100_v5", 40, 320, H100_NVL, 1, "9.0"),
    VmSize("Standard_NC80adis_H100_v5", 80, 640, H100_NVL, 2, "9.0"),
    VmSize("Standard_ND96asr_v4", 96, 900, A100_SXM_40, 8, "8.0"),
    # Learn lists 1900 GiB; one SDK size catalogue says 1800 GB. Kept at the Learn figure (unverified).
    VmSize("Standard_ND96amsr_A100_v4", 96, 1900, A100_SXM_80, 8, "8.0"),
    VmSize("Standard_ND96isr_H100_v5", 96, 1900, H100_SXM, 8, "9.0"),  # memory unverified
    VmSize("Standard_D4s_v3", 4, 16, None, 0, None),
    VmSize("Standard_DS2_v2", 2, 7, None, 0, None),
)

VM_SIZES: dict[str, VmSize] = {s.name: s for s in _SIZES}
_BY_KEY: dict[str, VmSize] = {s.name.lower().removeprefix("standard_"): s for s in _SIZES}


class UnknownVmSize(ValueError):
    """A VM size the table does not know (one-line message listing the known sizes)."""


def lookup(size: str) -> VmSize:
    """The VmSize for `size`, case-insensitive, with or without the "Standard_" prefix."""
    key = size.strip().lower().removeprefix("standard_")
    try:
        return _BY_KEY[key]
    except KeyError:
        known = ", ".join(VM_SIZES)
        raise UnknownVmSize(f"unknown VM size {size!r}; known sizes: {known}") from None


_BRAND = re.compile(r"^(?:nvidia\s+)?(?:tesla\s+)?", re.IGNORECASE)
_MIG_SUFFIX = re.compile(r"\s+MIG\s+\d+g\.\d+gb\b.*$", re.IGNORECASE)
_MEMORY_TOKEN = re.compile(r"^\d+(?:\.\d+)?gb$")
_EMULATED = re.compile(r"\s*[(\[]emulated[)\]]", re.IGNORECASE)


def _model_tokens(name: str) -> list[str]:
    core = _EMULATED.sub("", name).strip()
    core = _MIG_SUFFIX.sub("", core)
    core = _BRAND.sub("", core)
    return [t for t in re.split(r"[\s\-_]+", core.lower()) if t and not _MEMORY_TOKEN.match(t)]


def gpu_name_matches(expected_model: str, reported_name: str) -> bool:
    """True when a reported GPU name is the expected model, ignoring "NVIDIA "/"Tesla " prefixes,
    memory-size tokens ("80GB", "-16GB"), a MIG profile suffix and an "(emulated)" marker.
    "NVIDIA A100 80GB PCIe" matches "A100-PCIE-40GB" (same part, other memory) but not "A100-SXM4-40GB"."""
    expected, reported = _model_tokens(expected_model), _model_tokens(reported_name)
    return bool(expected) and sorted(expected) == sorted(reported)
