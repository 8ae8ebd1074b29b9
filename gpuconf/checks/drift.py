"""Doc-drift rules: where the 2020 article's instructions no longer match today's Azure.

`evaluate(facts) -> list[DriftFinding]` runs every rule in RULES against what a run observed
(DriftFacts). A finding is not a cluster failure: it is the verdict `doc-drift`, reported so that
"the article is out of date" is never confused with "the cluster is broken" nor hidden.
Each rule carries the article's instruction, what changed, when, and the source that says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from gpuconf.checks.article import ARTICLE_DEVICE_PLUGIN_IMAGE, ARTICLE_MIN_KUBERNETES, ARTICLE_WORKLOAD_IMAGE
from gpuconf.checks.vmsizes import UnknownVmSize, lookup


@dataclass(frozen=True)
class DriftFacts:
    """What a run observed. Leave a fact None when it is unknown: rules needing it stay silent."""

    vm_size: str | None = None
    custom_headers: Mapping[str, str] = field(default_factory=dict)  # --aks-custom-headers used
    device_plugin_image: str | None = None  # image:tag of the device-plugin DaemonSet seen
    workload_image: str | None = None
    gpu_compute_capability: str | None = None  # "8.0"
    server_version: str | None = None  # "v1.33.2" or "1.33"
    today: date = field(default_factory=date.today)


@dataclass(frozen=True)
class DriftFinding:
    rule_id: str
    article_section: str  # anchor of the article section whose instruction drifted
    instruction: str  # what the article tells the reader to do
    what_changed: str
    changed_on: date | None
    source: str
    observed: str  # the fact of this run that triggered the rule
    message: str  # one line for reports

    def to_dict(self) -> dict[str, str | None]:
        return {
            "rule_id": self.rule_id,
            "article_section": self.article_section,
            "instruction": self.instruction,
            "what_changed": self.what_changed,
            "changed_on": self.changed_on.isoformat() if self.changed_on else None,
            "source": self.source,
            "observed": self.observed,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str | None]) -> DriftFinding:
        """The inverse of to_dict (findings travel from xdist workers as JSON test properties)."""
        changed_on = data.get("changed_on")
        return cls(
            str(data["rule_id"]),
            str(data["article_section"]),
            str(data["instruction"]),
            str(data["what_changed"]),
            date.fromisoformat(changed_on) if changed_on else None,
            str(data["source"]),
            str(data["observed"]),
            str(data["message"]),
        )


@dataclass(frozen=True)
class DriftRule:
    rule_id: str
    article_section: str
    instruction: str
    what_changed: str
    changed_on: date | None
    source: str
    # Returns the observed fact that triggers the rule (a short phrase), or None.
    trigger: Callable[[DriftFacts], str | None]
    # When the date depends on the facts (each VM family retired on its own day).
    changed_on_for: Callable[[DriftFacts], date | None] | None = None

    def check(self, facts: DriftFacts) -> DriftFinding | None:
        observed = self.trigger(facts)
        if observed is None:
            return None
        message = f"[{self.rule_id}] {observed}: {self.what_changed}"
        return DriftFinding(
            self.rule_id,
            self.article_section,
            self.instruction,
            self.what_changed,
            self.changed_on_for(facts) if self.changed_on_for else self.changed_on,
            self.source,
            observed,
            message,
        )


def _retired_vm_size(facts: DriftFacts) -> str | None:
    if not facts.vm_size:
        return None
    try:
        size = lookup(facts.vm_size)
    except UnknownVmSize:
        return None
    if not size.retired(facts.today) or size.retired_on is None:
        return None
    return f"VM size {size.name} ({size.gpu_model or 'no GPU'}) was retired on {size.retired_on.isoformat()}"


def _vm_size_retired_on(facts: DriftFacts) -> date | None:
    try:
        return lookup(facts.vm_size or "").retired_on
    except UnknownVmSize:
        return None


def _dedicated_vhd_header(facts: DriftFacts) -> str | None:
    for key, value in facts.custom_headers.items():
        if key.strip().lower() == "usegpudedicatedvhd" and str(value).strip().lower() == "true":
            return f"custom header {key}={value} was sent"
    return None


_PLUGIN_IMAGE = re.compile(r"(?:^|/)k8s-device-plugin:(?P<tag>[^@\s]+)$")
_TAG_VERSION = re.compile(r"^v?(?P<major>\d+)\.(?P<minor>\d+)")
DOCS_DEVICE_PLUGIN = (0, 18)  # nvcr.io/nvidia/k8s-device-plugin:v0.18.0 in today's AKS docs
UPSTREAM_DEVICE_PLUGIN = "v0.20.0"


def _device_plugin_behind(facts: DriftFacts) -> str | None:
    image = facts.device_plugin_image
    match = _PLUGIN_IMAGE.search(image or "")
    if image is None or match is None:
        return None
    version = _TAG_VERSION.match(match["tag"])
    if version is None:
        return None  # "latest" or a digest: age unknown, stay silent rather than guess
    major, minor = int(version["major"]), int(version["minor"])
    # Tags 1.x (1.8 ... 1.11) are the 2017-2019 releases named after Kubernetes versions, older than
    # every v0.x tag despite the bigger number.
    if major == 1 or (major == 0 and (major, minor) < DOCS_DEVICE_PLUGIN):
        return f"device-plugin image {image} is in use"
    return None


# CUDA 8 builds kernels up to sm_6x (Pascal); Volta (7.0) and newer need CUDA 9+.
CUDA8_MAX_MAJOR_CAPABILITY = 6
CUDA8_IMAGES = frozenset({ARTICLE_WORKLOAD_IMAGE})
_CAPABILITY = re.compile(r"^\s*(?P<major>\d+)\.\d+\s*$")


def _cuda8_image_on_new_gpu(facts: DriftFacts) -> str | None:
    capability = _CAPABILITY.match(facts.gpu_compute_capability or "")
    if facts.workload_image not in CUDA8_IMAGES or capability is None:
        return None
    if int(capability["major"]) <= CUDA8_MAX_MAJOR_CAPABILITY:
        return None
    return (
        f"workload image {facts.workload_image} (TensorFlow 1.x on CUDA 8) runs on a GPU of compute "
        f"capability {facts.gpu_compute_capability}"
    )


_SERVER_VERSION = re.compile(r"^v?(?P<major>\d+)\.(?P<minor>\d+)")
AKS_1_10_END_OF_LIFE = date(2019, 10, 25)


def _kubernetes_floor(facts: DriftFacts) -> str | None:
    if not facts.server_version or not (m := _SERVER_VERSION.match(facts.server_version.strip())):
        return None
    floor = ".".join(str(p) for p in ARTICLE_MIN_KUBERNETES)
    return f"the cluster runs Kubernetes {m['major']}.{m['minor']}; the article's floor is {floor}"


RULES: tuple[DriftRule, ...] = (
    DriftRule(
        "retired-vm-size",
        "create-an-aks-cluster",
        "az aks create --node-vm-size Standard_NC6 --node-count 1 (at least Standard_NC6 recommended)",
        "the size is retired and Azure refuses to create it; today's docs use Standard_NC4as_T4_v3 (T4) "
        "as the minimum, or NC24ads_A100_v4 / NC40ads_H100_v5",
        date(2023, 8, 31),
        "Azure VM retirement notices (NC/NCv2/ND 2023-08-31, NV 2023-09-06, NCv3 2025-09-30); "
        "gpuconf.checks.vmsizes",
        _retired_vm_size,
        _vm_size_retired_on,
    ),
    DriftRule(
        "retired-gpu-dedicated-vhd",
        "use-the-aks-specialized-gpu-image-preview",
        "az aks create ... --aks-custom-headers UseGPUDedicatedVHD=true",
        "the AKS GPU image preview (UseGPUDedicatedVHD) was retired on 2025-01-10 and AKS blocks new "
        "pools on it; AKS now installs NVIDIA drivers by default",
        date(2025, 1, 10),
        "AKS docs: use GPUs on AKS (GPU image preview retirement)",
        _dedicated_vhd_header,
    ),
    DriftRule(
        "device-plugin-image-outdated",
        "install-nvidia-device-plugin",
        f"DaemonSet image {ARTICLE_DEVICE_PLUGIN_IMAGE}",
        "today's AKS docs pin nvcr.io/nvidia/k8s-device-plugin:v0.18.0 "
        f"(upstream latest {UPSTREAM_DEVICE_PLUGIN}) with a sku=gpu toleration",
        None,
        "AKS docs: use GPUs on AKS; github.com/NVIDIA/k8s-device-plugin releases",
        _device_plugin_behind,
    ),
    DriftRule(
        "cuda8-image-on-new-gpu",
        "run-a-gpu-enabled-workload",
        f"Job image {ARTICLE_WORKLOAD_IMAGE}",
        "the sample image is TensorFlow ~1.4 built for CUDA 8, which has no kernels for compute "
        "capability 7.0+ (Volta and newer); it may print the discovery line and then fail in cuBLAS",
        None,
        "NVIDIA CUDA 8 release notes (sm_20-sm_62); REFERENCE §2",
        _cuda8_image_on_new_gpu,
    ),
    DriftRule(
        "kubernetes-version-floor",
        "before-you-begin",
        "your AKS cluster must run Kubernetes 1.10 or later",
        f"AKS ended support for 1.10 on {AKS_1_10_END_OF_LIFE.isoformat()} and supports only the newest "
        "few minor versions (N-2, plus LTS); the article's floor says nothing about today's clusters",
        AKS_1_10_END_OF_LIFE,
        "Azure/AKS CHANGELOG 2019-09 ('AKS Kubernetes 1.10 support will end-of-lifed on Oct 25, 2019'); "
        "AKS supported Kubernetes versions page",
        _kubernetes_floor,
    ),
)


def evaluate(facts: DriftFacts) -> list[DriftFinding]:
    """Every rule's finding for these facts, in rule order (article order of the sections)."""
    return [finding for rule in RULES if (finding := rule.check(facts)) is not None]
