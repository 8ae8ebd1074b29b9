"""Which device a workload computes on: a real CUDA GPU through PyTorch, the emulated GPU the fake
device plugin allocated, or the CPU. Shared by every workload program (mnist, vectoradd)."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Mapping
from types import ModuleType

from gpuconf.workload import gpuinfo
from gpuconf.workload.errors import WorkloadError
from gpuconf.workload.gpuinfo import GpuInfo

NO_CUDA_DEVICE = "no CUDA-capable device is detected"  # CUDA's error string for cudaErrorNoDevice


def torch_if_useful(device: str, env: Mapping[str, str]) -> ModuleType | None:
    """torch, but only where a real GPU may exist: importing it costs seconds on every CPU-only run.
    CUDA_VISIBLE_DEVICES set to "" (or -1) hides every GPU from CUDA, so torch would find none: the
    emulated cluster sets it so for pods given no real GPU, and tests use it to mean "no real GPU"."""
    if env.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return None
    maybe_gpu = device == "cuda" or env.get("NVIDIA_VISIBLE_DEVICES") or os.path.exists("/dev/nvidiactl")
    if not maybe_gpu or importlib.util.find_spec("torch") is None:
        return None
    torch = importlib.import_module("torch")
    return torch if torch.cuda.is_available() else None


def choose_device(device: str, env: Mapping[str, str]) -> tuple[str, list[GpuInfo], ModuleType | None]:
    """("cuda" | "emulated" | "cpu", the GPUs to announce, torch when computing on CUDA).
    device is "auto", "cpu" or "cuda"; "cuda" with no GPU raises CUDA's no-device error."""
    if device == "cpu":
        return "cpu", [], None
    torch = torch_if_useful(device, env)
    if torch is not None:
        return "cuda", gpuinfo.real_gpus(torch), torch
    emulated = gpuinfo.emulated_gpus(env)
    if emulated:
        return "emulated", emulated, None
    if device == "cuda":
        raise WorkloadError(f"CUDA_ERROR_NO_DEVICE: {NO_CUDA_DEVICE}")
    return "cpu", [], None
