"""The AKS tier's options: one table drives the pytest flags (fixtures/aks.py), their GPUCONF_*
environment fallbacks and the validation, so a flag, its env var and its check cannot drift apart.

Precedence: command-line flag, then environment variable, then default. Bad values raise
`SettingsError` with one line naming the flag and what is accepted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

PUBLIC_ARM_ENDPOINT = "https://management.azure.com"
# The article's 2020 instructions, reproduced verbatim by --doc-profile 2020 so that ARM's answer
# to them (today: refusals) is measured rather than assumed.
ARTICLE_2020_VM_SIZE = "Standard_NC6"
ARTICLE_2020_HEADERS = {"UseGPUDedicatedVHD": "true"}
# Today's documented minimum GPU size (REFERENCE §2).
CURRENT_DEFAULT_VM_SIZE = "Standard_NC4as_T4_v3"

DOC_PROFILES = ("current", "2020")
GPU_DRIVERS = ("install", "none")


class SettingsError(ValueError):
    """A bad option value; the message is one line naming the flag."""


@dataclass(frozen=True)
class OptionSpec:
    flag: str
    dest: str  # pytest dest (prefixed aks_ so it cannot clash with other tiers' options)
    env: str
    help: str
    kind: str = "str"  # str | list | int | float | flag
    # pytest-kind (the kind tier's plugin) already owns --cluster-name and --keep-cluster; when it is
    # loaded the flag is shared: we read its dest and ignore its default ("pytest-kind").
    shared_dest: str | None = None
    shared_default: Any = None


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("--subscription", "aks_subscription", "GPUCONF_SUBSCRIPTION",
               "Azure subscription id (also AZURE_SUBSCRIPTION_ID)"),
    OptionSpec("--location", "aks_location", "GPUCONF_LOCATION",
               "Azure region for new resources (default eastus)"),
    OptionSpec("--resource-group", "aks_resource_group", "GPUCONF_RESOURCE_GROUP",
               "resource group to create (generated, unique and tagged when not given)"),
    OptionSpec("--cluster-name", "aks_cluster_name", "GPUCONF_CLUSTER_NAME",
               "AKS cluster name to create (generated when not given)", "str", "cluster_name", "pytest-kind"),
    OptionSpec("--vm-size", "aks_vm_size", "GPUCONF_VM_SIZE",
               f"GPU node pool VM size; repeat for a SKU matrix, pools are created in parallel "
               f"(default {CURRENT_DEFAULT_VM_SIZE}; env: comma-separated)", "list"),
    OptionSpec("--gpu-count-per-node", "aks_gpu_count_per_node", "GPUCONF_GPU_COUNT_PER_NODE",
               "GPUs each GPU node must advertise; checked against the VM-size table", "int"),
    OptionSpec("--aks-custom-headers", "aks_custom_headers", "GPUCONF_AKS_CUSTOM_HEADERS",
               "k=v,k=v sent as ARM request headers on the PUT creating the GPU nodes "
               "(like az --aks-custom-headers)"),
    OptionSpec("--gpu-driver", "aks_gpu_driver", "GPUCONF_GPU_DRIVER",
               "install (AKS installs NVIDIA drivers, default) or none (gpuProfile.driver None)"),
    OptionSpec("--doc-profile", "aks_doc_profile", "GPUCONF_DOC_PROFILE",
               "current (today's docs, default) or 2020 (the article verbatim: Standard_NC6, "
               "UseGPUDedicatedVHD=true) to measure its drift"),
    OptionSpec("--aks-cluster", "aks_existing_cluster", "GPUCONF_AKS_CLUSTER",
               "RG/NAME of an existing cluster to use; nothing is created or deleted in Azure"),
    OptionSpec("--keep-cluster", "aks_keep_cluster", "GPUCONF_KEEP_CLUSTER",
               "leave the created resources in Azure (the janitor deletes them after expires-at)", "flag",
               "keep_cluster", False),
    OptionSpec("--arm-endpoint", "aks_arm_endpoint", "GPUCONF_ARM_ENDPOINT",
               f"Azure Resource Manager URL (default {PUBLIC_ARM_ENDPOINT}; plain http only for loopback)"),
    OptionSpec("--aks-ttl-hours", "aks_ttl_hours", "GPUCONF_AKS_TTL_HOURS",
               "hours until the expires-at tag (default 6)", "float"),
    OptionSpec("--arm-poll-interval", "aks_poll_interval", "GPUCONF_ARM_POLL_INTERVAL",
               "seconds between long-running-operation polls (default 15; ARM's Retry-After wins)", "float"),
    OptionSpec("--aks-operation-timeout", "aks_operation_timeout", "GPUCONF_AKS_OPERATION_TIMEOUT",
               "seconds one ARM operation (cluster, pool, delete) may take (default 1800)", "float"),
)  # fmt: skip


@dataclass(frozen=True)
class AksSettings:
    subscription: str | None = None
    location: str = "eastus"
    resource_group: str | None = None
    cluster_name: str | None = None
    vm_sizes: tuple[str, ...] = (CURRENT_DEFAULT_VM_SIZE,)
    gpu_count_per_node: int | None = None
    custom_headers: dict[str, str] = field(default_factory=dict)
    gpu_driver: str = "install"
    doc_profile: str = "current"
    existing_cluster: tuple[str, str] | None = None
    keep_cluster: bool = False
    arm_endpoint: str = PUBLIC_ARM_ENDPOINT
    arm_token: str | None = field(default=None, repr=False)  # GPUCONF_ARM_TOKEN only: never on argv
    ttl_hours: float = 6.0
    owner: str | None = None
    poll_interval_s: float = 15.0
    retry_backoff_s: float = 0.8  # azure-core's default backoff factor; tests shrink it
    operation_timeout_s: float = 1800.0
    progress_every_s: float = 30.0

    @property
    def reuse(self) -> bool:
        return self.existing_cluster is not None


def _parse_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", key.strip()):
            raise SettingsError(f"--aks-custom-headers: expected k=v,k=v with header-name keys, got {item!r}")
        headers[key.strip()] = value.strip()
    return headers


def _parse_cluster_ref(text: str) -> tuple[str, str]:
    rg, sep, name = text.strip().partition("/")
    if not sep or not rg or not name or "/" in name:
        raise SettingsError(f"--aks-cluster: expected RESOURCE_GROUP/CLUSTER_NAME, got {text!r}")
    return rg, name


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_endpoint(text: str) -> str:
    url = urlparse(text.strip())
    if url.scheme not in ("https", "http") or not url.hostname:
        raise SettingsError(f"--arm-endpoint: expected an https:// URL, got {text!r}")
    if url.scheme == "http" and not is_loopback_host(url.hostname):
        raise SettingsError(
            f"--arm-endpoint: plain http is accepted only for loopback (127.0.0.1, ::1, localhost), "
            f"got {text!r}"
        )
    return text.strip().rstrip("/")


def _parse_vm_sizes(values: list[str]) -> tuple[str, ...]:
    sizes = tuple(s.strip() for v in values for s in v.split(",") if s.strip())
    for size in sizes:
        if not re.fullmatch(r"(Standard|Basic)_[A-Za-z0-9_-]+", size):
            raise SettingsError(
                f"--vm-size: {size!r} is not an Azure VM size name (like {CURRENT_DEFAULT_VM_SIZE})"
            )
    if len(set(s.lower() for s in sizes)) != len(sizes):
        raise SettingsError(f"--vm-size: each size once, got {', '.join(sizes)}")
    return sizes


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> str:
    if value.lower() not in choices:
        raise SettingsError(f"{flag}: expected one of {', '.join(choices)}, got {value!r}")
    return value.lower()


def _number(flag: str, text: Any, convert: Callable[[Any], Any]) -> Any:
    try:
        number = convert(text)
    except (TypeError, ValueError):
        raise SettingsError(f"{flag}: expected a positive number, got {text!r}") from None
    if number <= 0:
        raise SettingsError(f"{flag}: expected a positive number, got {text!r}")
    return number


def _name(flag: str, value: str, pattern: str, what: str) -> str:
    if not re.fullmatch(pattern, value):
        raise SettingsError(f"{flag}: {value!r} is not a valid {what}")
    return value


def _truthy(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def raw_values(values: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """dest -> value: the flag when given, else the env var (lists split on commas), else absent."""
    out: dict[str, Any] = {}
    for spec in OPTIONS:
        value = values.get(spec.dest)
        if value in (None, [], False):
            env = environ.get(spec.env)
            if spec.dest == "aks_subscription" and not env:
                env = environ.get("AZURE_SUBSCRIPTION_ID")
            if env:
                value = (
                    _truthy(env) if spec.kind == "flag" else env.split(",") if spec.kind == "list" else env
                )
        if value not in (None, [], False, ""):
            out[spec.dest] = value
    return out


def resolve(values: Mapping[str, Any], environ: Mapping[str, str], **overrides: Any) -> AksSettings:
    """Settings from flag values (by dest), the environment and keyword overrides (tests, benchmark)."""
    raw = raw_values(values, environ)
    profile = _choice("--doc-profile", str(raw.get("aks_doc_profile", "current")), DOC_PROFILES)
    headers = _parse_headers(str(raw.get("aks_custom_headers", "")))
    sizes = _parse_vm_sizes(list(raw.get("aks_vm_size", [])))
    if profile == "2020":
        if sizes and sizes != (ARTICLE_2020_VM_SIZE,):
            raise SettingsError(
                f"--doc-profile 2020 fixes the VM size to {ARTICLE_2020_VM_SIZE}: drop --vm-size"
            )
        sizes = (ARTICLE_2020_VM_SIZE,)
        headers = {**ARTICLE_2020_HEADERS, **headers}
    kwargs: dict[str, Any] = {
        "subscription": raw.get("aks_subscription"),
        "location": _name("--location", str(raw.get("aks_location", "eastus")), r"[a-z0-9]+", "Azure region"),
        "vm_sizes": sizes or (CURRENT_DEFAULT_VM_SIZE,),
        "custom_headers": headers,
        "gpu_driver": _choice("--gpu-driver", str(raw.get("aks_gpu_driver", "install")), GPU_DRIVERS),
        "doc_profile": profile,
        "keep_cluster": bool(raw.get("aks_keep_cluster", False)),
        "arm_endpoint": _parse_endpoint(str(raw.get("aks_arm_endpoint", PUBLIC_ARM_ENDPOINT))),
        "arm_token": environ.get("GPUCONF_ARM_TOKEN") or None,
        "owner": environ.get("GPUCONF_OWNER") or environ.get("USER") or environ.get("LOGNAME") or None,
    }
    if "aks_resource_group" in raw:
        kwargs["resource_group"] = _name(
            "--resource-group",
            str(raw["aks_resource_group"]),
            r"[-\w.()]{0,89}[-\w()]",
            "resource group name",
        )
    if "aks_cluster_name" in raw:
        kwargs["cluster_name"] = _name(
            "--cluster-name",
            str(raw["aks_cluster_name"]),
            r"[A-Za-z0-9][A-Za-z0-9_-]{0,61}[A-Za-z0-9]",
            "AKS name",
        )
    if "aks_existing_cluster" in raw:
        kwargs["existing_cluster"] = _parse_cluster_ref(str(raw["aks_existing_cluster"]))
    if "aks_gpu_count_per_node" in raw:
        kwargs["gpu_count_per_node"] = _number("--gpu-count-per-node", raw["aks_gpu_count_per_node"], int)
    for dest, flag, key in (
        ("aks_ttl_hours", "--aks-ttl-hours", "ttl_hours"),
        ("aks_poll_interval", "--arm-poll-interval", "poll_interval_s"),
        ("aks_operation_timeout", "--aks-operation-timeout", "operation_timeout_s"),
    ):
        if dest in raw:
            kwargs[key] = _number(flag, raw[dest], float)
    kwargs.update(overrides)
    return AksSettings(**kwargs)


def from_options(options: Any, environ: Mapping[str, str]) -> AksSettings:
    """Settings from whatever a Backend receives: AksSettings, pytest's Config, or an options namespace."""
    if isinstance(options, AksSettings):
        return options
    namespace = getattr(options, "option", options)  # pytest.Config keeps the parsed flags in .option
    values = {spec.dest: _flag_value(namespace, spec) for spec in OPTIONS}
    return resolve(values, environ)


def _flag_value(namespace: Any, spec: OptionSpec) -> Any:
    value = getattr(namespace, spec.dest, None)
    if value in (None, [], False) and spec.shared_dest is not None:
        shared = getattr(namespace, spec.shared_dest, None)
        if shared != spec.shared_default:
            return shared
    return value
