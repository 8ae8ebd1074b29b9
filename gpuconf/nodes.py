"""What a Node object says about its GPUs: VM size, the GPU count and model it must advertise.

Shared by the article flow (which checks nodes) and the test matrix (which discovers them before a
run): one reading of the labels for both.
"""

from __future__ import annotations

import re
from typing import Any

from gpuconf.checks.vmsizes import UnknownVmSize, VmSize, lookup

Obj = dict[str, Any]

INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
# Set by NVIDIA GPU feature discovery on real clusters (and by the emulator's real-GPU nodes).
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_COUNT_LABEL = "nvidia.com/gpu.count"
COMPUTE_MAJOR_LABEL, COMPUTE_MINOR_LABEL = "nvidia.com/gpu.compute.major", "nvidia.com/gpu.compute.minor"


def node_name(node: Obj) -> str:
    return str(node["metadata"]["name"])


def node_vm_size(node: Obj) -> str | None:
    labels = node["metadata"].get("labels") or {}
    for label in INSTANCE_TYPE_LABELS:
        if labels.get(label):
            return str(labels[label])
    return None


def _size_entry(node: Obj) -> VmSize | None:
    size = node_vm_size(node)
    if not size:
        return None
    try:
        return lookup(size)
    except UnknownVmSize:
        return None


def expected_gpu_count(node: Obj, gpu_count_option: int | None = None) -> int:
    """GPUs this node must advertise: --gpu-count, else GPU feature discovery's count label, else its
    VM size's count; 0 for a CPU node (no GPU VM size and no accelerator=nvidia label)."""
    entry = _size_entry(node)
    labels = node["metadata"].get("labels") or {}
    if not ((entry.gpu_count if entry else 0) > 0 or labels.get("accelerator") == "nvidia"):
        return 0
    if gpu_count_option:
        return gpu_count_option
    count_label = str(labels.get(GPU_COUNT_LABEL) or "")
    if count_label.isdigit():
        return int(count_label)
    return entry.gpu_count if entry else 1


def gpu_count_source(node: Obj, gpu_count_option: int | None = None) -> str:
    """Where expected_gpu_count's number comes from, for messages ("its VM size has 4")."""
    labels = node["metadata"].get("labels") or {}
    if gpu_count_option:
        return "--gpu-count asks for"
    if str(labels.get(GPU_COUNT_LABEL) or "").isdigit():
        return f"the node has installed ({GPU_COUNT_LABEL})"
    return "its VM size has" if _size_entry(node) else "a GPU node (accelerator=nvidia) has at least"


def expected_gpu_model(node: Obj) -> str | None:
    labels = node["metadata"].get("labels") or {}
    if labels.get(GPU_PRODUCT_LABEL):
        return str(labels[GPU_PRODUCT_LABEL]).replace("-", " ")
    entry = _size_entry(node)
    return entry.gpu_model if entry else None


def expected_compute_capability(node: Obj) -> str | None:
    """ "9.0": GPU feature discovery's labels, else the VM size table's GPU."""
    labels = node["metadata"].get("labels") or {}
    major, minor = labels.get(COMPUTE_MAJOR_LABEL), labels.get(COMPUTE_MINOR_LABEL)
    if major is not None and minor is not None:
        return f"{major}.{minor}"
    entry = _size_entry(node)
    return entry.compute_capability if entry and entry.has_gpu else None


def natural_key(name: str) -> list[Any]:
    """Sort key that puts node-2 before node-10 (AKS and the emulator number nodes in decimal)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
