"""Turn an HTTP request into (resource, namespace, name, subresource) plus typed query options.

Kubernetes paths are regular: /api/v1/... or /apis/{group}/{version}/..., then an optional
namespaces/{ns}, then {plural}[/{name}[/{subresource}]]. Everything else is a 404 Status.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.resources import ResourceType, served_at

NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Target:
    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def parse_path(path: str) -> Target:
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise _not_found()
    namespace = None
    is_namespace_sub = len(rest) == 3 and rest[0] == "namespaces" and rest[2] in NAMESPACE_SUBRESOURCES
    if len(rest) >= 3 and rest[0] == "namespaces" and not is_namespace_sub:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise _not_found()
    rt = served_at(group, version, rest[0])
    if namespace is not None and not rt.namespaced:
        raise _not_found()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and subresource not in rt.subresources:
        raise _not_found()
    return Target(rt, namespace, name, subresource)


def int_param(query: Mapping[str, str], key: str) -> int | None:
    raw = query.get(key)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "BadRequest", f"{key}: invalid integer {raw!r}") from None


def bool_param(query: Mapping[str, str], key: str) -> bool:
    raw = (query.get(key) or "").lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise ApiError(400, "BadRequest", f"{key}: invalid boolean {raw!r}")


def resource_version_param(query: Mapping[str, str]) -> int | None:
    raw = query.get("resourceVersion", "")
    if raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400, "BadRequest", f'resourceVersion: Invalid value: "{raw}": must be an integer'
        ) from None
    if value < 0:
        raise ApiError(400, "BadRequest", f'resourceVersion: Invalid value: "{raw}": must be non-negative')
    return value


def encode_continue(rv: int, namespace: str, name: str) -> str:
    token = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": [namespace, name]})
    return base64.urlsafe_b64encode(token.encode()).decode()


def decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        rv = int(data["rv"])
        namespace, name = data["start"]
        if not isinstance(namespace, str) or not isinstance(name, str):
            raise TypeError("start must be two strings")
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
        raise ApiError(400, "BadRequest", f"continue key is not valid: {error}") from None
    return rv, (namespace, name)
