"""What a fake GPU looks like: compute capability, memory and memory clock per product name.

Names are spelled as the NVIDIA driver reports them (the same spelling gpuconf.checks.vmsizes
uses), so a fake node's workload prints the name a real node of that VM size would print.
Short aliases ("K80", "T4", "H200") are accepted on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuProduct:
    name: str
    compute_capability: str  # "major.minor"
    memory_gib: float
    memory_clock_ghz: float


PRODUCTS: dict[str, GpuProduct] = {
    p.name: p
    for p in (
        GpuProduct("Tesla K80", "3.7", 11.17, 0.8235),
        GpuProduct("Tesla M60", "5.2", 7.94, 2.505),
        GpuProduct("Tesla P100-PCIE-16GB", "6.0", 15.9, 1.3285),
        GpuProduct("Tesla P40", "6.1", 22.38, 1.531),
        GpuProduct("Tesla V100-PCIE-16GB", "7.0", 15.78, 1.38),
        GpuProduct("Tesla T4", "7.5", 15.0, 1.59),
        GpuProduct("NVIDIA A10", "8.6", 22.06, 6.251),
        GpuProduct("NVIDIA A100 80GB PCIe", "8.0", 79.15, 1.512),
        GpuProduct("NVIDIA A100-SXM4-40GB", "8.0", 39.39, 1.215),
        GpuProduct("NVIDIA A100-SXM4-80GB", "8.0", 79.15, 1.593),
        GpuProduct("NVIDIA H100 NVL", "9.0", 93.1, 2.619),
        GpuProduct("NVIDIA H100 80GB HBM3", "9.0", 79.1, 2.619),
        GpuProduct("NVIDIA H200", "9.0", 139.8, 3.201),
    )
}

ALIASES = {
    "K80": "Tesla K80",
    "M60": "Tesla M60",
    "P100": "Tesla P100-PCIE-16GB",
    "P40": "Tesla P40",
    "V100": "Tesla V100-PCIE-16GB",
    "T4": "Tesla T4",
    "A10": "NVIDIA A10",
    "A100": "NVIDIA A100 80GB PCIe",
    "H100": "NVIDIA H100 80GB HBM3",
    "H200": "NVIDIA H200",
}


def lookup(name: str) -> GpuProduct | None:
    """The product for a driver name or alias, ignoring case; None when unknown."""
    wanted = ALIASES.get(name.strip().upper(), name.strip()).lower()
    return next((p for key, p in PRODUCTS.items() if key.lower() == wanted), None)
