"""A loopback Azure Resource Manager for the calls the AKS backend makes, served by aiohttp.

It answers like ARM does in the official REST examples (gpuconf/azure/arm_examples/): PUT of a
cluster or agent pool -> 201 with `provisioningState: Creating` and an `Azure-AsyncOperation`
header; the operation status answers InProgress until the operation is done, then Succeeded or
Failed with an ARM error; DELETE -> 202 with a `Location` header polled until 204. The real Azure
SDK drives it, so the SDK's own polling, retry and header handling are what gets tested.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from gpuconf.azure.fakearm.state import (
    FakeArmBehaviour,
    FakeArmState,
    Json,
    Operation,
    RecordedRequest,
    arm_error,
    cluster_body,
    group_body,
    new_operation,
    pool_body,
)

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<rg>[^/]+)"
_MC = _RG + r"/providers/Microsoft\.ContainerService/managedClusters/(?P<cluster>[^/]+)"
# (kind, pattern); ARM paths are case-insensitive, so are these.
_ROUTES = [
    ("resourceGroups", re.compile(_SUB + r"/resourcegroups/?$", re.I)),
    ("resourceGroup", re.compile(_RG + r"$", re.I)),
    ("managedCluster", re.compile(_MC + r"$", re.I)),
    ("agentPool", re.compile(_MC + r"/agentPools/(?P<pool>[^/]+)$", re.I)),
    ("credentials", re.compile(_MC + r"/listClusterUserCredential$", re.I)),
    ("operation", re.compile(r".*/(?P<style>operations|operationresults)/(?P<op>[^/]+)$", re.I)),
]
_FAULT_CODES = {
    400: "BadRequest",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
}


def _json(status: int, body: Json | None, headers: dict[str, str] | None = None) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.json_response(body, status=status, headers=headers)


class FakeArm:
    """The aiohttp application plus its state; `handle` is the single entry point."""

    def __init__(self, behaviour: FakeArmBehaviour | None = None) -> None:
        self.state = FakeArmState(behaviour or FakeArmBehaviour())

    @property
    def behaviour(self) -> FakeArmBehaviour:
        return self.state.behaviour

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        if self.behaviour.request_latency_s:
            await asyncio.sleep(self.behaviour.request_latency_s)
        kind, match = next(((k, m) for k, p in _ROUTES if (m := p.match(request.path))), ("unknown", None))
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.state.record(RecordedRequest(request.method, request.path, kind, dict(request.headers), body))
        if match is None:
            return _json(404, arm_error("InvalidResourceType", f"no route for {request.path}"))
        if "api-version" not in request.query:
            return _json(
                400, arm_error("MissingApiVersionParameter", "The api-version query parameter is required.")
            )
        expected = self.behaviour.expected_token
        if expected is not None and request.headers.get("Authorization") != f"Bearer {expected}":
            return _json(401, arm_error("InvalidAuthenticationToken", "The access token is invalid."))
        fault = self.state.take_fault(request.method, kind)
        if fault is not None:
            code = _FAULT_CODES.get(fault, "Fault")
            # ARM sends Retry-After with throttling and unavailability; azure-core honours it.
            retry_after = {"Retry-After": "0"} if fault in (429, 503) else None
            return _json(fault, arm_error(code, f"injected {fault}"), retry_after)
        handler = getattr(self, f"_{kind}_{request.method.lower()}", None)
        if handler is None:
            return _json(405, arm_error("MethodNotAllowed", f"{request.method} not allowed on {kind}"))
        params = match.groupdict()
        with self.state.lock:
            response: web.Response = handler(request, params, body)
        return response

    # -- URLs for long-running operations -------------------------------------------------
    @staticmethod
    def _op_url(request: web.Request, sub: str, op: Operation, style: str) -> str:
        provider = (
            ""
            if op.target[0] == "group"
            else f"/providers/Microsoft.ContainerService/locations/{op.location}"
        )
        return (
            f"{request.scheme}://{request.host}/subscriptions/{sub}{provider}/{style}/{op.id}"
            f"?api-version={request.query['api-version']}"
        )

    def _start(self, verb: str, target: tuple[str, ...], location: str) -> Operation:
        op = new_operation(verb, target, location)
        self.state.operations[op.id] = op
        return op

    # -- refusals ARM gives synchronously -------------------------------------------------
    def _refusal(self, request: web.Request, location: str, profiles: list[Json]) -> web.Response | None:
        for profile in profiles:
            size = (profile.get("vmSize") or "").strip()
            name = profile.get("name", "")
            if size in self.behaviour.retired_vm_sizes:
                return _json(
                    400,
                    arm_error(
                        "BadRequest",
                        f"The VM size of AgentPoolProfile:{name} is not allowed in your subscription in "
                        f"location '{location}'.  For more details, please visit "
                        "https://aka.ms/aks/quotas-skus-regions",
                    ),
                )
            if size in self.behaviour.quota_exhausted_sizes:
                return _json(
                    400,
                    arm_error(
                        "ErrCode_InsufficientVCPUQuota",
                        f"Insufficient regional vcpu quota left for location {location}. left regional vcpu "
                        f"quota 0, requested quota 4 for {size}. Please request a quota increase.",
                    ),
                )
        for header in self.behaviour.retired_headers:
            if header.lower() in {h.lower() for h in request.headers}:
                return _json(
                    400,
                    arm_error(
                        "BadRequest",
                        f"Custom header {header} is no longer supported: the AKS GPU image (preview) was "
                        "retired on 10 January 2025. Remove the header to use the default AKS GPU image.",
                    ),
                )
        return None

    # -- resource groups -------------------------------------------------------------------
    def _resourceGroups_get(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        return _json(200, {"value": list(self.state.groups.values())})

    def _resourceGroup_put(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        existed = p["rg"].lower() in self.state.groups
        group = group_body(p["sub"], p["rg"], body.get("location", ""), body.get("tags") or {})
        self.state.groups[p["rg"].lower()] = group
        return _json(200 if existed else 201, group)

    def _resourceGroup_get(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        group = self.state.groups.get(p["rg"].lower())
        if group is None:
            return _json(
                404, arm_error("ResourceGroupNotFound", f"Resource group '{p['rg']}' could not be found.")
            )
        return _json(200, group)

    def _resourceGroup_head(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        return _json(204 if p["rg"].lower() in self.state.groups else 404, None)

    def _resourceGroup_delete(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        group = self.state.groups.get(p["rg"].lower())
        if group is None:
            return _json(
                404, arm_error("ResourceGroupNotFound", f"Resource group '{p['rg']}' could not be found.")
            )
        group["properties"]["provisioningState"] = "Deleting"
        op = self._start("delete", ("group", p["rg"].lower()), group["location"])
        return _json(202, None, {"Location": self._op_url(request, p["sub"], op, "operationresults")})

    # -- managed clusters --------------------------------------------------------------------
    def _managedCluster_put(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        if p["rg"].lower() not in self.state.groups:
            return _json(
                404, arm_error("ResourceGroupNotFound", f"Resource group '{p['rg']}' could not be found.")
            )
        location = body.get("location", "")
        profiles = (body.get("properties") or {}).get("agentPoolProfiles") or []
        refusal = self._refusal(request, location, profiles)
        if refusal is not None:
            return refusal
        cluster = cluster_body(p["sub"], p["rg"], p["cluster"], body, "Creating")
        key = (p["rg"].lower(), p["cluster"])
        self.state.clusters[key] = cluster
        for profile in profiles:
            pool = pool_body(
                p["sub"], p["rg"], p["cluster"], profile["name"], {"properties": profile}, "Creating"
            )
            self.state.pools[(*key, profile["name"])] = pool
        op = self._start("create", ("cluster", *key), location)
        return _json(
            201, cluster, {"Azure-AsyncOperation": self._op_url(request, p["sub"], op, "operations")}
        )

    def _managedCluster_get(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        cluster = self.state.clusters.get((p["rg"].lower(), p["cluster"]))
        if cluster is None:
            return _json(
                404, arm_error("ResourceNotFound", f"Managed cluster '{p['cluster']}' was not found.")
            )
        return _json(200, cluster)

    def _managedCluster_delete(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        cluster = self.state.clusters.get((p["rg"].lower(), p["cluster"]))
        if cluster is None:
            return _json(204, None)
        cluster["properties"]["provisioningState"] = "Deleting"
        op = self._start("delete", ("cluster", p["rg"].lower(), p["cluster"]), cluster["location"])
        return _json(202, None, {"Location": self._op_url(request, p["sub"], op, "operationresults")})

    def _credentials_post(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        cluster = self.state.clusters.get((p["rg"].lower(), p["cluster"]))
        if cluster is None:
            return _json(
                404, arm_error("ResourceNotFound", f"Managed cluster '{p['cluster']}' was not found.")
            )
        kubeconfig = self.behaviour.kubeconfig or _placeholder_kubeconfig(cluster)
        value = base64.b64encode(kubeconfig).decode()
        return _json(200, {"kubeconfigs": [{"name": "clusterUser", "value": value}]})

    # -- agent pools -------------------------------------------------------------------------
    def _agentPool_put(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        key = (p["rg"].lower(), p["cluster"])
        cluster = self.state.clusters.get(key)
        if cluster is None:
            return _json(
                404, arm_error("ResourceNotFound", f"Managed cluster '{p['cluster']}' was not found.")
            )
        props = body.get("properties") or {}
        refusal = self._refusal(request, cluster["location"], [{"name": p["pool"], **props}])
        if refusal is not None:
            return refusal
        pool = pool_body(p["sub"], p["rg"], p["cluster"], p["pool"], body, "Creating")
        self.state.pools[(*key, p["pool"])] = pool
        op = self._start("create", ("pool", *key, p["pool"]), cluster["location"])
        return _json(201, pool, {"Azure-AsyncOperation": self._op_url(request, p["sub"], op, "operations")})

    def _agentPool_get(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        pool = self.state.pools.get((p["rg"].lower(), p["cluster"], p["pool"]))
        if pool is None:
            return _json(404, arm_error("ResourceNotFound", f"Agent pool '{p['pool']}' was not found."))
        return _json(200, pool)

    def _agentPool_delete(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        key = (p["rg"].lower(), p["cluster"], p["pool"])
        pool = self.state.pools.get(key)
        if pool is None:
            return _json(204, None)
        pool["properties"]["provisioningState"] = "Deleting"
        location = self.state.clusters.get(key[:2], {}).get("location", "eastus")
        op = self._start("delete", ("pool", *key), location)
        return _json(202, None, {"Location": self._op_url(request, p["sub"], op, "operationresults")})

    # -- operation polling -------------------------------------------------------------------
    def _operation_get(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        op = self.state.operations.get(p["op"])
        if op is None:
            return _json(404, arm_error("NotFound", f"operation {p['op']} not found"))
        self._advance(op)
        if p["style"].lower() == "operationresults":
            if op.status == "InProgress":
                return _json(202, None, {"Location": str(request.url)})
            if op.status == "Succeeded":
                return _json(204, None)
            return _json(200, {"status": op.status, "error": op.error})
        status: Json = {
            "id": request.path,
            "name": op.id,
            "status": op.status,
            "startTime": op.started_wall,
            "percentComplete": 100 if op.status != "InProgress" else min(90, 10 * op.polls),
        }
        if op.error is not None:
            status["error"] = op.error
        return _json(200, status)

    def _advance(self, op: Operation) -> None:
        if op.status != "InProgress":
            return
        op.polls += 1
        waited = time.monotonic() - op.started
        latency = 0.0
        if op.verb == "create":
            latency = self.behaviour.create_latency_for.get(op.target[0], self.behaviour.create_latency_s)
        if op.polls <= self.behaviour.in_progress_polls or waited < latency:
            return
        if op.verb == "delete":
            self._remove(op.target)
            op.status = "Succeeded"
            return
        resource = self._resource(op.target)
        failure = self.behaviour.failing_pools.get(op.target[-1]) if op.target[0] == "pool" else None
        if failure is not None:
            op.status, op.error = "Failed", {"code": "ReconcileVMSSAgentPoolFailed", "message": failure}
        else:
            op.status = "Succeeded"
        if resource is not None:
            resource["properties"]["provisioningState"] = op.status
            if op.target[0] == "cluster":
                for key, pool in self.state.pools.items():
                    if key[:2] == op.target[1:]:
                        pool["properties"]["provisioningState"] = op.status

    def _resource(self, target: tuple[str, ...]) -> Json | None:
        if target[0] == "cluster":
            return self.state.clusters.get((target[1], target[2]))
        if target[0] == "pool":
            return self.state.pools.get((target[1], target[2], target[3]))
        return self.state.groups.get(target[1])

    def _remove(self, target: tuple[str, ...]) -> None:
        """Delete the target and everything inside it; creations still running there end Canceled."""
        prefix = target[1:]

        def inside(key: tuple[str, ...]) -> bool:
            return key[: len(prefix)] == prefix

        if target[0] == "group":
            self.state.groups.pop(target[1], None)
        self.state.clusters = {k: v for k, v in self.state.clusters.items() if not inside(k)}
        self.state.pools = {k: v for k, v in self.state.pools.items() if not inside(k)}
        for other in self.state.operations.values():
            if other.verb == "create" and other.status == "InProgress" and inside(other.target[1:]):
                other.status = "Canceled"
                other.error = {"code": "Canceled", "message": "the resource was deleted while being created"}


def _placeholder_kubeconfig(cluster: Json) -> bytes:
    """What AKS hands out, minus a real token: enough for a happy-path test that never dials it."""
    server = f"https://{cluster['properties']['fqdn']}:443"
    name = cluster["name"]
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- cluster:\n    server: {server}\n  name: {name}\n"
        f"contexts:\n- context:\n    cluster: {name}\n    user: clusterUser_{name}\n  name: {name}\n"
        f"current-context: {name}\n"
        f"users:\n- name: clusterUser_{name}\n  user:\n    token: fake-arm-token-not-a-secret\n"
    ).encode()


class FakeArmServer:
    """Runs a FakeArm on 127.0.0.1 in a background thread (tests and the benchmark use it)."""

    STARTUP_TIMEOUT_S = 10.0

    def __init__(self, fake: FakeArm, port: int = 0) -> None:
        self.fake = fake
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-arm", daemon=True)
        self.url = ""

    def start(self) -> str:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        self.url = future.result(timeout=self.STARTUP_TIMEOUT_S)
        return self.url

    async def _serve(self) -> str:
        self._runner = web.AppRunner(self.fake.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        # aiohttp exposes the bound port only through the runner's addresses (port 0 = any free port).
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(
                timeout=self.STARTUP_TIMEOUT_S
            )
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=self.STARTUP_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()


@contextmanager
def running_fake_arm(behaviour: FakeArmBehaviour | None = None, port: int = 0) -> Iterator[FakeArmServer]:
    server = FakeArmServer(FakeArm(behaviour), port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
