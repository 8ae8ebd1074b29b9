"""The GPU workloads the suite runs in the article's workload sections, each with its log rule.

  mnist-job       the article's own Job (samples-tf-mnist-demo, TensorFlow 1.x log: discovery line and
                  rising accuracy)
  cuda-vectoradd  the CUDA samples' vectorAdd pod that NVIDIA's and AKS's GPU docs use to verify a
                  node (`Test PASSED`)
  nvidia-smi      `nvidia-smi -L` in a CUDA base image: the pod sees exactly the GPU(s) it was given
Each has a manifest for real clusters (the image the docs use) and one for kind (the project's own
offline workload image, which runs the same program with fake GPUs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"


@dataclass(frozen=True)
class Workload:
    name: str  # the test id
    kind: str  # "Job" or "Pod"
    manifest: Path
    kind_manifest: Path  # the variant for the kind tier (fake GPUs, offline image)
    parser: str  # gpuconf.checks.logs parser its log is read with
    description: str

    @property
    def trains(self) -> bool:
        """Its log has an accuracy curve (and takes the suite's --max-steps)."""
        return self.parser in ("tf1", "tf2", "pytorch")


MNIST_JOB = Workload(
    "mnist-job",
    "Job",
    MANIFESTS / "article" / "samples-tf-mnist-demo.yaml",
    MANIFESTS / "kind" / "offline-mnist-job.yaml",
    "tf1",
    "the article's samples-tf-mnist-demo Job",
)
CUDA_VECTORADD = Workload(
    "cuda-vectoradd",
    "Pod",
    MANIFESTS / "workloads" / "cuda-vectoradd.yaml",
    MANIFESTS / "kind" / "cuda-vectoradd.yaml",
    "vectoradd",
    "the CUDA vectorAdd sample pod",
)
NVIDIA_SMI = Workload(
    "nvidia-smi",
    "Pod",
    MANIFESTS / "workloads" / "nvidia-smi.yaml",
    MANIFESTS / "kind" / "nvidia-smi.yaml",
    "nvidia-smi",
    "an `nvidia-smi -L` pod",
)
WORKLOADS: tuple[Workload, ...] = (MNIST_JOB, CUDA_VECTORADD, NVIDIA_SMI)
