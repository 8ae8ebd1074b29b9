"""Facts about a whole run that every report repeats: where it ran and on what."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RunInfo:
    backend: str  # "emulated", "kind", "kubeconfig", "aks"
    emulated: bool  # True: an embedded/fake cluster, NOT real GPU hardware
    kubernetes_version: str | None = None  # server gitVersion
    kubelet_version: str | None = None
    vm_size: str | None = None
    gpu_model: str | None = None
    device_plugin_image: str | None = None
    started_at: str | None = None  # ISO 8601 UTC
    extra: dict[str, str] = field(default_factory=dict)  # any other fact worth a header line

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunInfo:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def junit_properties(self) -> list[tuple[str, str]]:
        """The run-level JUnit properties (the same on every test case)."""

        def text(value: str | None) -> str:
            return value if value else "unknown"

        return [
            ("backend", self.backend),
            ("emulated", "true" if self.emulated else "false"),
            ("kubernetes_version", text(self.kubernetes_version)),
            ("kubelet_version", text(self.kubelet_version)),
            ("vm_size", text(self.vm_size)),
            ("gpu_model", text(self.gpu_model)),
            ("device_plugin_image", text(self.device_plugin_image)),
        ]
