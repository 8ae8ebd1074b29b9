"""`python -m gpuconf.workload.vectoradd`: the CUDA samples' vectorAdd, offline.

Adds two random float vectors for real and checks every element of the sum on the host, printing
what the sample prints (the output of nvcr.io/nvidia/k8s/cuda-sample:vectoradd-*). Where it adds:
a real CUDA GPU through PyTorch when one is usable, else the emulated GPU the fake device plugin
allocated (numpy on the CPU), else nowhere: with no GPU it fails as the sample does, with CUDA's
error string and exit 1.

    --elements N   vector length (default 50000, the sample's)

GPUCONF_FAULT=exit-nonzero (the emulated cluster's workload fault) makes the kernel launch fail
with a CUDA error, exit 1; the training faults of gpuconf.workload.mnist do not apply here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from types import ModuleType

import numpy as np

from gpuconf.workload.device import NO_CUDA_DEVICE, choose_device
from gpuconf.workload.errors import WorkloadError, run_program

DEFAULT_ELEMENTS = 50000
THREADS_PER_BLOCK = 256
TOLERANCE = 1e-5  # the sample's per-element check
LAUNCH_FAILURE = "uncorrectable ECC error encountered"  # CUDA's string for cudaErrorECCUncorrectable


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gpuconf.workload.vectoradd", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--elements", type=int, default=DEFAULT_ELEMENTS)
    args = parser.parse_args(argv)
    if args.elements < 1:
        parser.error(f"--elements must be at least 1, not {args.elements}")
    return args


def run(argv: list[str], env: Mapping[str, str], out: Callable[[str], None]) -> int:
    args = parse_args(argv)
    n = args.elements
    out(f"[Vector addition of {n} elements]")
    kind, _gpus, torch = choose_device("auto", env)
    if kind == "cpu":  # the sample's first CUDA call, cudaMalloc, is where a missing GPU shows
        raise WorkloadError(f"Failed to allocate device vector A (error code {NO_CUDA_DEVICE})!")

    rng = np.random.default_rng(0)
    a, b = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    out("Copy input data from the host memory to the CUDA device")
    blocks = (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK  # the sample's blocksPerGrid
    out(f"CUDA kernel launch with {blocks} blocks of {THREADS_PER_BLOCK} threads")
    if env.get("GPUCONF_FAULT", "").strip() == "exit-nonzero":
        raise WorkloadError(f"Failed to launch vectorAdd kernel (error code {LAUNCH_FAILURE})!")
    c = add_on_cuda(torch, a, b) if torch is not None else a + b
    out("Copy output data from the CUDA device to the host memory")
    wrong = first_wrong_element(a, b, c)
    if wrong is not None:
        raise WorkloadError(f"Result verification failed at element {wrong}!")
    out("Test PASSED")
    out("Done")
    return 0


def add_on_cuda(torch: ModuleType, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """c = a + b computed on the GPU, copied back to the host (what the sample's kernel does)."""
    on_gpu = [torch.from_numpy(v).to("cuda") for v in (a, b)]
    return (on_gpu[0] + on_gpu[1]).cpu().numpy()


def first_wrong_element(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> int | None:
    """The first i with |a[i] + b[i] - c[i]| > 1e-5 (the sample's host-side check), else None."""
    wrong = np.flatnonzero(~(np.abs(a + b - c) <= TOLERANCE))  # ~(<=) also catches NaN
    return int(wrong[0]) if wrong.size else None


def main(argv: list[str] | None = None) -> int:
    return run_program(run, argv)


if __name__ == "__main__":
    sys.exit(main())
