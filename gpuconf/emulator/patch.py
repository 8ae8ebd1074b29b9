"""PATCH for the embedded API server: one entry point for Kubernetes' four patch content types.

`apply_patch(original, body, content_type, field_manager=..., force=...)` returns the patched object
(a new dict; `original` is never modified). The caller (the API server's store) still validates,
defaults and stores the result; this module only computes it.

- application/merge-patch+json: RFC 7386 (here, as `merge_patch`).
- application/json-patch+json: RFC 6902 (patch_json.py).
- application/strategic-merge-patch+json: Kubernetes strategic merge (patch_strategic.py).
- application/apply-patch+yaml: server-side apply, simplified (patch_apply.py).

Every failure is an ApiError with the status Kubernetes uses: an undecodable or wrongly shaped body is
400 BadRequest, an unknown content type 415 UnsupportedMediaType; nothing else escapes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.patch_apply import server_side_apply
from gpuconf.emulator.patch_json import apply_json_patch
from gpuconf.emulator.patch_strategic import strategic_merge

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_CONTENT_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


def decode_json(body: bytes | str) -> Any:
    """Decode a JSON body strictly (no NaN/Infinity); ApiError 400 on anything else."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
        return json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ApiError(400, "BadRequest", f"error decoding patch: {error}") from None


class _JsonCompatibleLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe YAML loader (libyaml when present) that leaves timestamps as strings, as Kubernetes does."""


_JsonCompatibleLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def decode_yaml(body: bytes | str) -> Any:
    """Decode a YAML (or JSON, a YAML subset) body into JSON values; ApiError 400 on anything else."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
        if text.lstrip().startswith("{"):
            try:
                return json.loads(text, parse_constant=_reject_constant)  # kubectl sends JSON: fast path
            except ValueError:
                pass  # flow-style YAML also starts with "{"
        value = yaml.load(text, Loader=_JsonCompatibleLoader)  # noqa: S506 - a safe loader subclass
        # Round-trip through JSON: keys become strings and non-JSON values (!!binary) are refused.
        return json.loads(json.dumps(value, allow_nan=False))
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError, ValueError, TypeError) as error:
        raise ApiError(400, "BadRequest", f"error decoding YAML: {error}") from None


def _decoded(body: Any, decoder: Any) -> Any:
    # In-process callers (controllers) may hand over an already decoded patch.
    if isinstance(body, bytes | bytearray | str):
        return decoder(body)
    return body


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _require_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        kind = "null" if value is None else type(value).__name__
        raise ApiError(400, "BadRequest", f"{what} must be a JSON object, got {kind}")
    return value


def apply_patch(
    original: dict[str, Any],
    body: bytes,
    content_type: str,
    *,
    field_manager: str | None,
    force: bool,
) -> dict[str, Any]:
    """Return `original` with the patch in `body` applied according to `content_type`."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    source = original or {}
    if media_type == MERGE_PATCH:
        patch = _require_object(_decoded(body, decode_json), "a merge patch")
        # merge_patch shares untouched subtrees with its target: copy so callers may mutate the result.
        result = merge_patch(copy.deepcopy(source), patch)
    elif media_type == JSON_PATCH:
        result = apply_json_patch(source, _decoded(body, decode_json))
    elif media_type == STRATEGIC_MERGE_PATCH:
        patch = _require_object(_decoded(body, decode_json), "a strategic merge patch")
        result = strategic_merge(source, patch, kind=source.get("kind") or patch.get("kind"))
    elif media_type == APPLY_PATCH:
        applied = _require_object(_decoded(body, decode_yaml), "an apply configuration")
        result = server_side_apply(source, applied, field_manager=field_manager, force=force)
    else:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(PATCH_CONTENT_TYPES)}",
        )
    return _require_object(result, "the patched object")
