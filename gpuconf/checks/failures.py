"""Known failure signatures in GPU workload logs, recognised and reported by name.

A GPU Job can fail in ways that look alike from outside (pod Error, exit code 1) but need
different fixes: a driver too old for the image's CUDA, an image too old for the GPU, no GPU
visible at all, or no network to download MNIST. Naming the signature turns "the Job failed"
into "the Job failed because ...".
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FailureSignature:
    name: str
    summary: str  # what it means, for a human, in one sentence
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class KnownFailure:
    """One occurrence of a failure signature in a log."""

    name: str
    summary: str
    line_number: int  # 1-based
    raw_line: str

    def describe(self) -> str:
        return f"{self.name} (line {self.line_number}): {self.raw_line.strip()}"


def _sig(name: str, summary: str, pattern: str) -> FailureSignature:
    return FailureSignature(name, summary, re.compile(pattern, re.IGNORECASE))


SIGNATURES: tuple[FailureSignature, ...] = (
    _sig(
        "cuda-driver-insufficient",
        "the node's NVIDIA driver is older than the CUDA runtime in the image",
        r"CUDA driver version is insufficient for CUDA runtime version|CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
    ),
    _sig(
        "incompatible-capability",
        "the image's CUDA build has no kernels for this GPU's compute capability",
        r"with CUDA capability sm_\d+ is not compatible with the current PyTorch installation"
        r"|no kernel image is available for execution on the device"
        r"|The minimum required Cuda capability is",
    ),
    _sig(
        "cublas-failure",
        "cuBLAS could not start or run (often an old CUDA image on a newer GPU)",
        r"failed to create cublas handle|CUBLAS_STATUS_(?!SUCCESS)[A-Z_]+|Blas \w+ launch failed",
    ),
    _sig(
        "cudnn-failure",
        "cuDNN could not start or run",
        r"Could not create cudnn handle|CUDNN_STATUS_(?!SUCCESS)[A-Z_]+|Failed to get convolution algorithm",
    ),
    _sig(
        "out-of-memory",
        "the GPU ran out of memory",
        r"CUDA out of memory|CUDA_ERROR_OUT_OF_MEMORY|OOM when allocating tensor|ResourceExhaustedError",
    ),
    _sig(
        "no-cuda-device",
        "the container sees no GPU (device plugin allocation or runtime hook missing)",
        r"no CUDA-capable device is detected|CUDA_ERROR_NO_DEVICE",
    ),
    _sig(
        "driver-not-loaded",
        "the NVIDIA driver is not loaded on the node",
        r"couldn't communicate with the NVIDIA driver|NVIDIA-SMI has failed",
    ),
    _sig(
        "dataset-download-failed",
        "the workload could not download its dataset (MNIST needs internet egress)",
        r"urlopen error|URLError|Temporary failure in name resolution|Name or service not known"
        r"|Failed to establish a new connection|Failed to download|HTTP Error [45]\d\d",
    ),
)

SIGNATURE_NAMES: tuple[str, ...] = tuple(s.name for s in SIGNATURES)


def find_failures(lines: list[str]) -> list[KnownFailure]:
    """Every line matching a known signature (at most one signature per line: the first that matches,
    in the order above, which puts the most specific cause first)."""
    found: list[KnownFailure] = []
    for number, line in enumerate(lines, start=1):
        for signature in SIGNATURES:
            if signature.pattern.search(line):
                found.append(KnownFailure(signature.name, signature.summary, number, line))
                break
    return found
