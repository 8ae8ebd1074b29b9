"""PluginConfig: everything one plugin instance needs, plus the environment fallbacks.

A node profile can describe its fake GPUs through the environment instead of flags:
GPUCONF_FAKE_GPU_COUNT / GPUCONF_FAKE_GPU_PRODUCT / GPUCONF_FAKE_GPU_COMPUTE_CAPABILITY /
GPUCONF_FAKE_GPU_MEMORY_GIB (the emulated kubelet's GPUCONF_NODE_GPU_* names are accepted too).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gpuconf.deviceplugin import api
from gpuconf.deviceplugin.products import PRODUCTS, GpuProduct, lookup

DEFAULT_RESOURCE = "nvidia.com/gpu"
DEFAULT_PRODUCT = "Tesla K80"  # the article's Standard_NC6
MODES = ("fake", "nvml")
_RESOURCE_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_ENV_PREFIXES = ("GPUCONF_FAKE_GPU_", "GPUCONF_NODE_GPU_")


class ConfigError(ValueError):
    """Bad plugin settings; the message is one line meant for the user."""


@dataclass
class PluginConfig:
    resource: str = DEFAULT_RESOURCE
    socket_dir: Path = Path(api.DEFAULT_SOCKET_DIR)
    mode: str = "fake"
    devices: int = 1  # fake mode only
    product: str = DEFAULT_PRODUCT  # fake mode only
    compute_capability: str | None = None  # fake mode: overrides the product table
    memory_gib: float | None = None  # fake mode: overrides the product table
    health_file: Path | None = None  # JSON control file, see gpuconf.deviceplugin
    nvml_health_interval_s: float = 5.0
    nvml_hide: tuple[str, ...] = ()  # nvml mode: GPU indexes or UUIDs not to advertise
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("gpuconf.deviceplugin"))

    def __post_init__(self) -> None:
        self.socket_dir = Path(self.socket_dir)
        if self.health_file is not None:
            self.health_file = Path(self.health_file)
        if self.mode not in MODES:
            raise ConfigError(f"--mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not _RESOURCE_RE.match(self.resource):
            raise ConfigError(
                f"--resource must look like vendor.domain/name (nvidia.com/gpu): {self.resource!r}"
            )
        if self.devices < 0:
            raise ConfigError(f"--devices must be 0 or more, not {self.devices}")
        if len(os.fsencode(str(self.socket_path))) >= 107:
            raise ConfigError(f"socket path is too long for a unix socket (107 bytes): {self.socket_path}")

    @property
    def endpoint(self) -> str:
        """The plugin socket's base name: nvidia.com/gpu -> nvidia-gpu.sock (as NVIDIA's plugin)."""
        domain, name = self.resource.split("/", 1)
        return f"{domain.split('.')[0]}-{name}.sock"

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / self.endpoint

    @property
    def kubelet_socket(self) -> Path:
        return self.socket_dir / api.KUBELET_SOCKET

    def fake_product(self) -> GpuProduct:
        """The product table entry, with explicit overrides applied; ConfigError when unknown."""
        known = lookup(self.product)
        cc = self.compute_capability or (known.compute_capability if known else None)
        if cc is None or not re.fullmatch(r"\d+\.\d+", cc):
            raise ConfigError(
                f"unknown GPU product {self.product!r}: give its compute capability "
                f"(GPUCONF_FAKE_GPU_COMPUTE_CAPABILITY) or use one of: {', '.join(PRODUCTS)}"
            )
        return GpuProduct(
            name=known.name if known else self.product,
            compute_capability=cc,
            memory_gib=self.memory_gib or (known.memory_gib if known else 16.0),
            memory_clock_ghz=known.memory_clock_ghz if known else 1.0,
        )


def hidden_gpus(env: Mapping[str, str]) -> tuple[str, ...]:
    """GPUCONF_NVML_HIDE: comma-separated NVML indexes or UUIDs the nvml mode must not advertise."""
    items = tuple(i.strip() for i in env.get("GPUCONF_NVML_HIDE", "").split(",") if i.strip())
    for item in items:
        if not (item.isdigit() or re.fullmatch(r"GPU-[0-9a-fA-F-]+", item)):
            raise ConfigError(f"GPUCONF_NVML_HIDE: expected GPU indexes or UUIDs (GPU-...), not {item!r}")
    return items


def env_setting(env: Mapping[str, str], name: str) -> str | None:
    """GPUCONF_FAKE_GPU_<name>, else GPUCONF_NODE_GPU_<name>, else None."""
    for prefix in _ENV_PREFIXES:
        value = env.get(prefix + name)
        if value:
            return value
    return None
