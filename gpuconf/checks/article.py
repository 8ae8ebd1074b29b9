"""Facts of the article under test ("Use GPUs for compute-intensive workloads on AKS", 2020).

The section anchors are the article's own `<a name=...>` ids, in reading order: reports list steps
in this order, and every StepResult and DriftFinding names one of them.
"""

from __future__ import annotations

ARTICLE_TITLE = "Use GPUs for compute-intensive workloads on Azure Kubernetes Service (AKS)"
ARTICLE_DATE = "2020-08-21"  # ms.date of the source document

# (anchor, title), in article order.
ARTICLE_SECTIONS: tuple[tuple[str, str], ...] = (
    ("before-you-begin", "Before you begin"),
    ("create-an-aks-cluster", "Create an AKS cluster"),
    ("install-nvidia-device-plugin", "Install NVIDIA device plugin"),
    ("use-the-aks-specialized-gpu-image-preview", "Use the AKS specialized GPU image (preview)"),
    ("confirm-that-gpus-are-schedulable", "Confirm that GPUs are schedulable"),
    ("run-a-gpu-enabled-workload", "Run a GPU-enabled workload"),
    ("view-the-status-and-output-of-the-gpu-enabled-workload", "View the status and output of the workload"),
    ("clean-up-resources", "Clean up resources"),
)
SECTION_ORDER: dict[str, int] = {anchor: i for i, (anchor, _) in enumerate(ARTICLE_SECTIONS)}

# What the article tells the reader to use.
ARTICLE_VM_SIZE = "Standard_NC6"
ARTICLE_DEVICE_PLUGIN_IMAGE = "mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11"
ARTICLE_WORKLOAD_IMAGE = "mcr.microsoft.com/azuredocs/samples-tf-mnist-demo:gpu"
ARTICLE_MAX_STEPS = 500
ARTICLE_MIN_KUBERNETES = (1, 10)
GPU = "nvidia.com/gpu"  # the extended resource the device plugin advertises
PLUGIN_NAMESPACE = "gpu-resources"  # `kubectl create namespace gpu-resources`
PLUGIN_LABEL = "name=nvidia-device-plugin-ds"  # the DaemonSet's pod label
JOB_NAMESPACE = "default"  # the article applies samples-tf-mnist-demo without a namespace


def section_rank(anchor: str) -> int:
    """Position of a section in the article; unknown anchors sort after all known ones."""
    return SECTION_ORDER.get(anchor, len(ARTICLE_SECTIONS))
