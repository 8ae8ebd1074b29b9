"""What to create in Azure for a run: names, tags and the ARM request bodies (pure, no I/O).

Profiles:
- current: a small system pool plus one GPU pool per --vm-size (tainted sku=gpu:NoSchedule as
  today's docs do), `gpuProfile.driver` from --gpu-driver; custom headers on the GPU pool PUTs.
- 2020: the article verbatim, `az aks create --node-vm-size Standard_NC6 --node-count 1
  --aks-custom-headers UseGPUDedicatedVHD=true`: one pool that is both system and GPU pool, and the
  header on the cluster PUT, so ARM's answer to the article is what gets reported.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from gpuconf.azure.settings import AksSettings, SettingsError

# Two vCPUs / 8 GiB: the smallest size AKS accepts for a system pool that is widely available.
SYSTEM_POOL_VM_SIZE = "Standard_D2s_v3"
GPU_TAINT = "sku=gpu:NoSchedule"
CREATED_BY = "gpuconf"
TAG_CREATED_BY = "created-by"
TAG_EXPIRES_AT = "expires-at"
TAG_OWNER = "owner"
TAG_RUN = "gpuconf-run"

Json = dict[str, Any]


def table_gpu_count(vm_size: str) -> int | None:
    """GPUs per VM of this size from the shared VM-size table, or None when it does not know it."""
    try:
        from gpuconf.checks.vmsizes import lookup  # written by the checks engineer; absent until then
    except ImportError:
        return None
    try:
        return int(lookup(vm_size).gpu_count)
    except (KeyError, LookupError, ValueError):
        return None


@dataclass
class PoolPlan:
    name: str
    vm_size: str
    body: Json
    headers: dict[str, str]
    gpus_per_node: int | None


@dataclass
class ClusterPlan:
    run_id: str
    resource_group: str
    cluster: str
    location: str
    tags: dict[str, str]
    cluster_body: Json
    cluster_headers: dict[str, str]
    gpu_pools: list[PoolPlan] = field(default_factory=list)
    # The pool inside the cluster body that carries the GPUs (2020 profile), name -> size.
    inline_gpu_pool: tuple[str, str] | None = None
    gpus_per_node: dict[str, int | None] = field(default_factory=dict)  # VM size -> GPUs (None: unknown)


def expected_gpus(settings: AksSettings, vm_size: str) -> int | None:
    """--gpu-count-per-node checked against the table: a mismatch is a usage error, not a test failure."""
    known = table_gpu_count(vm_size)
    wanted = settings.gpu_count_per_node
    if wanted is not None and known is not None and wanted != known:
        raise SettingsError(
            f"--gpu-count-per-node {wanted}: the VM-size table says {vm_size} has {known} GPU(s)"
        )
    return wanted if wanted is not None else known


def make_tags(settings: AksSettings, run_id: str, now: dt.datetime) -> dict[str, str]:
    expires = now + dt.timedelta(hours=settings.ttl_hours)
    tags = {
        TAG_CREATED_BY: CREATED_BY,
        TAG_RUN: run_id,
        TAG_EXPIRES_AT: expires.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if settings.owner:
        tags[TAG_OWNER] = settings.owner
    return tags


def _pool_names(count: int) -> list[str]:
    # Linux pool names: lowercase alphanumerics, at most 12 characters. "gpu" as in the docs.
    return ["gpu"] if count == 1 else [f"gpu{i + 1}" for i in range(count)]


def _gpu_pool_body(settings: AksSettings, vm_size: str, tags: dict[str, str]) -> Json:
    return {
        "properties": {
            "count": 1,
            "vmSize": vm_size,
            "mode": "User",
            "osType": "Linux",
            "type": "VirtualMachineScaleSets",
            "nodeTaints": [GPU_TAINT],
            "gpuProfile": {"driver": "Install" if settings.gpu_driver == "install" else "None"},
            "tags": tags,
        }
    }


def make_plan(settings: AksSettings, now: dt.datetime | None = None) -> ClusterPlan:
    now = now or dt.datetime.now(dt.UTC)
    run_id = f"{now:%Y%m%d%H%M}-{secrets.token_hex(3)}"
    cluster = settings.cluster_name or f"gpuconf-{run_id}"
    group = settings.resource_group or f"{cluster}-rg"
    tags = make_tags(settings, run_id, now)
    sizes = settings.vm_sizes
    gpu_counts = {size: expected_gpus(settings, size) for size in sizes}
    if settings.doc_profile == "2020":
        system_pool = {
            "name": "nodepool1",
            "count": 1,
            "vmSize": sizes[0],
            "mode": "System",
            "osType": "Linux",
        }
    else:
        system_pool = {"name": "system", "count": 1, "vmSize": SYSTEM_POOL_VM_SIZE, "mode": "System",
                       "osType": "Linux", "type": "VirtualMachineScaleSets"}  # fmt: skip
    body: Json = {
        "location": settings.location,
        "tags": tags,
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "dnsPrefix": cluster[:54],
            "enableRBAC": True,
            "agentPoolProfiles": [system_pool],
        },
    }
    plan = ClusterPlan(run_id, group, cluster, settings.location, tags, body, {}, gpus_per_node=gpu_counts)
    if settings.doc_profile == "2020":
        plan.cluster_headers = dict(settings.custom_headers)
        plan.inline_gpu_pool = ("nodepool1", sizes[0])
        return plan
    for name, size in zip(_pool_names(len(sizes)), sizes, strict=True):
        body = _gpu_pool_body(settings, size, tags)
        plan.gpu_pools.append(PoolPlan(name, size, body, dict(settings.custom_headers), gpu_counts[size]))
    return plan
