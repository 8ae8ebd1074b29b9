"""What the fake ARM remembers: resource groups, clusters, agent pools, long-running operations.

The behaviour knobs (`FakeArmBehaviour`) are what the tests and the benchmark turn: how many times
an operation answers InProgress, injected latency, throttling, pools that end Failed, and which VM
sizes / custom headers / quotas ARM refuses. Refusal messages follow what ARM really says (the VM
size text is ARM's own wording, see the AKS issues quoted in tests/azure/README.md).
"""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from gpuconf.checks.vmsizes import VM_SIZES

Json = dict[str, Any]

# Sizes Azure has retired by today, from the shared VM-size table (NC/NCv2/ND K80-P100-P40, NV, NCv3).
RETIRED_VM_SIZES = frozenset(s.name for s in VM_SIZES.values() if s.retired(datetime.date.today()))
# The AKS specialized GPU image preview header, retired 10 Jan 2025.
RETIRED_HEADERS = frozenset({"UseGPUDedicatedVHD"})


@dataclass
class FakeArmBehaviour:
    """Knobs; the defaults answer like a healthy subscription that knows about today's retirements."""

    in_progress_polls: int = 1  # operation status answers InProgress this many times before the end
    create_latency_s: float = 0.0  # a create also stays InProgress at least this long (deletes do not)
    create_latency_for: dict[str, float] = field(default_factory=dict)  # per target: "cluster" | "pool"
    request_latency_s: float = 0.0  # every request is answered after this delay (network + ARM front door)
    # "METHOD kind" -> statuses answered first, one per request, e.g. {"PUT agentPool": [429, 503]}.
    # kinds: resourceGroup, resourceGroups, managedCluster, agentPool, operation, credentials
    faults: dict[str, list[int]] = field(default_factory=dict)
    failing_pools: dict[str, str] = field(default_factory=dict)  # pool name -> failure message
    retired_vm_sizes: frozenset[str] = RETIRED_VM_SIZES
    retired_headers: frozenset[str] = RETIRED_HEADERS
    quota_exhausted_sizes: frozenset[str] = frozenset()
    expected_token: str | None = None  # when set, any other bearer token is answered 401
    kubeconfig: bytes | None = None  # what listClusterUserCredential returns (else a generated one)


@dataclass
class RecordedRequest:
    method: str
    path: str
    kind: str
    headers: dict[str, str]
    body: Any


@dataclass
class Operation:
    """One long-running operation: a PUT (async-operation polling) or a DELETE (location polling)."""

    id: str
    verb: str  # "create" | "delete"
    target: tuple[str, ...]  # ("group", rg) | ("cluster", rg, name) | ("pool", rg, cluster, pool)
    location: str
    started_wall: str
    started: float = field(default_factory=time.monotonic)
    polls: int = 0
    status: str = "InProgress"  # InProgress | Succeeded | Failed | Canceled
    error: Json | None = None


def new_operation(verb: str, target: tuple[str, ...], location: str) -> Operation:
    return Operation(
        id=str(uuid.uuid4()),
        verb=verb,
        target=target,
        location=location,
        started_wall=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


class FakeArmState:
    """All resources of one fake subscription space. Every method holds the lock: the aiohttp
    handlers run on the server thread while tests read the request log from theirs."""

    def __init__(self, behaviour: FakeArmBehaviour) -> None:
        self.behaviour = behaviour
        self.lock = threading.Lock()
        self._recorded = threading.Condition(self.lock)
        self.groups: dict[str, Json] = {}  # lower-case rg name -> group body
        self.clusters: dict[tuple[str, str], Json] = {}
        self.pools: dict[tuple[str, str, str], Json] = {}
        self.operations: dict[str, Operation] = {}
        self.requests: list[RecordedRequest] = []

    # -- observation (tests) -------------------------------------------------------------
    def requests_of(self, method: str | None = None, kind: str | None = None) -> list[RecordedRequest]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (kind is None or r.kind == kind)
            ]

    def mutating_requests(self) -> list[RecordedRequest]:
        """PUT/PATCH/DELETE/POST except the read-only credential listing."""
        with self.lock:
            return [
                r
                for r in self.requests
                if r.method in {"PUT", "PATCH", "DELETE"} or (r.method == "POST" and r.kind != "credentials")
            ]

    def take_fault(self, method: str, kind: str) -> int | None:
        with self.lock:
            queue = self.behaviour.faults.get(f"{method} {kind}")
            return queue.pop(0) if queue else None

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)
            self._recorded.notify_all()

    def wait_for_request(self, method: str, kind: str, timeout_s: float) -> bool:
        """Block until a request of that method and kind has arrived (True) or the timeout passes."""
        with self.lock:
            return self._recorded.wait_for(
                lambda: any(r.method == method and r.kind == kind for r in self.requests), timeout=timeout_s
            )

    # -- seeding (tests and the rehearsal) ---------------------------------------------------
    def seed_group(self, subscription: str, name: str, location: str, tags: dict[str, str]) -> None:
        with self.lock:
            self.groups[name.lower()] = group_body(subscription, name, location, tags)

    def seed_cluster(
        self, subscription: str, rg: str, name: str, location: str, pools: dict[str, str]
    ) -> None:
        """An existing, Succeeded cluster (for reuse mode) with pools name -> VM size."""
        with self.lock:
            self.groups.setdefault(rg.lower(), group_body(subscription, rg, location, {}))
            profiles = [
                {
                    "name": p,
                    "count": 1,
                    "vmSize": s,
                    "mode": "System" if i == 0 else "User",
                    "osType": "Linux",
                }
                for i, (p, s) in enumerate(pools.items())
            ]
            body = cluster_body(subscription, rg, name, {"location": location, "properties": {}}, "Succeeded")
            body["properties"]["agentPoolProfiles"] = profiles
            self.clusters[(rg.lower(), name)] = body
            for pool_name, profile in zip(pools, profiles, strict=True):
                pool = pool_body(subscription, rg, name, pool_name, {"properties": profile}, "Succeeded")
                self.pools[(rg.lower(), name, pool_name)] = pool


def arm_error(code: str, message: str) -> Json:
    return {"error": {"code": code, "message": message}}


def group_body(subscription: str, name: str, location: str, tags: dict[str, str]) -> Json:
    return {
        "id": f"/subscriptions/{subscription}/resourceGroups/{name}",
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "tags": dict(tags),
        "properties": {"provisioningState": "Succeeded"},
    }


def cluster_body(subscription: str, rg: str, name: str, request: Json, state: str) -> Json:
    props = dict(request.get("properties") or {})
    dns_prefix = props.get("dnsPrefix") or name
    location = request.get("location", "eastus")
    props.update(
        {
            "provisioningState": state,
            "dnsPrefix": dns_prefix,
            "fqdn": f"{dns_prefix}-fake0001.hcp.{location}.azmk8s.io",
            "kubernetesVersion": props.get("kubernetesVersion") or "1.33.2",
            "currentKubernetesVersion": props.get("kubernetesVersion") or "1.33.2",
            "nodeResourceGroup": f"MC_{rg}_{name}_{location}",
            "maxAgentPools": 100,
        }
    )
    return {
        "id": f"/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.ContainerService/"
        f"managedClusters/{name}",
        "name": name,
        "type": "Microsoft.ContainerService/ManagedClusters",
        "location": location,
        "tags": dict(request.get("tags") or {}),
        "properties": props,
    }


def pool_body(subscription: str, rg: str, cluster: str, name: str, request: Json, state: str) -> Json:
    props = dict(request.get("properties") or {})
    props["provisioningState"] = state
    return {
        "id": f"/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.ContainerService/"
        f"managedClusters/{cluster}/agentPools/{name}",
        "name": name,
        "type": "Microsoft.ContainerService/managedClusters/agentPools",
        "properties": props,
    }
