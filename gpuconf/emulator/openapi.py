"""OpenAPI v3, just enough for `kubectl apply` to trust the server with field validation.

kubectl looks for a PATCH operation carrying a `fieldValidation` parameter to decide that the server
validates fields itself (then it sends fieldValidation=Strict and skips client-side schema checks).
The documents deliberately carry no component schemas: kubectl then computes strategic merge
patches from its compiled-in Go types, which are the authoritative patch metadata for built-ins.
The server's real field checking is schema.py (the official client's generated models).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gpuconf.emulator.resources import RESOURCES, ResourceType

Obj = dict[str, Any]

_PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]
_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _prefix(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _operation(rt: ResourceType, verb: str, media_types: list[str]) -> Obj:
    return {
        "operationId": f"{verb}{rt.kind}",
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "parameters": [{"name": p, "in": "query", "schema": {"type": "string"}} for p in _QUERY_PARAMS],
        "requestBody": {"content": {m: {"schema": {"type": "object"}} for m in media_types}},
        "responses": {"200": {"description": "OK"}},
    }


def group_version_document(group: str, version: str) -> Obj | None:
    members = [rt for rt in RESOURCES if rt.group_version == (group, version)]
    if not members:
        return None
    paths: Obj = {}
    for rt in members:
        base = f"/{_prefix(group, version)}" + ("/namespaces/{namespace}" if rt.namespaced else "")
        item = {
            "put": _operation(rt, "put", ["*/*"]),
            "patch": _operation(rt, "patch", _PATCH_TYPES),
        }
        paths[f"{base}/{rt.plural}/{{name}}"] = item
        paths[f"{base}/{rt.plural}"] = {"post": _operation(rt, "post", ["*/*"])}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (gpuconf emulator)", "version": "v1.31.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _hash(document: Obj) -> str:
    return hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:64].upper()


def root_document() -> Obj:
    paths = {}
    for group, version in sorted({rt.group_version for rt in RESOURCES}):
        prefix = _prefix(group, version)
        document = group_version_document(group, version)
        paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={_hash(document or {})}"}
    return {"paths": paths}
