"""Decode a request body against the Kubernetes wire schema: prune unknown fields, check scalar
types, and normalise quantities to strings.

The schema comes from the official Python client's generated models (`openapi_types` and
`attribute_map`), which are generated from the Kubernetes OpenAPI document, through a snapshot
(gpuconf.emulator.wire_schema). That gives the server a real schema offline, so
`fieldValidation=Strict|Warn|Ignore` behaves as on a real cluster and unknown fields are dropped
before storing, as a real server's typed decoding drops them.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.wire_schema import fields as _fields

# Map fields whose values are resource.Quantity (the client types them as plain strings).
_QUANTITY_MAPS = {
    ("V1ResourceRequirements", "limits"),
    ("V1ResourceRequirements", "requests"),
    ("V1NodeStatus", "capacity"),
    ("V1NodeStatus", "allocatable"),
    ("V1PodSpec", "overhead"),
}
_QUANTITY_SCALARS = {("V1EmptyDirVolumeSource", "sizeLimit")}
_QUANTITY_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$")
_JSON_TYPE = {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}
_FIELD_VALIDATION_MODES = ("Ignore", "Warn", "Strict")


def normalize_quantity(value: Any, path: str) -> str:
    """A quantity as the canonical-enough string a real server stores (`1` -> "1", 0.5 -> "500m")."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ApiError(400, "BadRequest", f"{path}: quantities must be a string or a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{round(value * 1000)}m"
    if not _QUANTITY_RE.match(value):
        raise ApiError(
            400,
            "BadRequest",
            f"{path}: quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        )
    return value


def check_field_validation(mode: str | None) -> str:
    """The fieldValidation query parameter, defaulting to Warn as kube-apiserver does."""
    if mode in (None, ""):
        return "Warn"
    if mode not in _FIELD_VALIDATION_MODES:
        raise ApiError(
            400, "BadRequest", f'fieldValidation must be one of "Ignore", "Warn" or "Strict", got "{mode}"'
        )
    return mode


class _Decoder:
    def __init__(self, kind: str, api_version: str) -> None:
        self.kind = kind
        self.api_version = api_version
        self.unknown: list[str] = []

    def undecodable(self, why: str) -> ApiError:
        """kube-apiserver's 400 for a body it cannot decode into the kind."""
        return ApiError(
            400,
            "BadRequest",
            f'{self.kind} in version "{self.api_version}" cannot be handled as a {self.kind}: {why}',
        )

    def type_error(self, value: Any, path: str, expected: str) -> ApiError:
        got = _JSON_TYPE.get(type(value), type(value).__name__)
        return self.undecodable(f"json: cannot unmarshal {got} into field {path} of type {expected}")

    def model(self, value: Any, model: str, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.type_error(value, path or ".", model)
        fields = _fields(model)
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            typ = fields.get(key)
            if typ is None:
                self.unknown.append(child)
                continue
            if item is None:
                # null means "unset" for typed fields, as in Go's decoding; a zero metav1.Time
                # (e.g. a condition's lastProbeTime) stays null, which is how a real server shows it.
                if typ == "datetime":
                    out[key] = None
                continue
            if (model, key) in _QUANTITY_MAPS:
                if not isinstance(item, dict):
                    raise self.type_error(item, child, "map of quantities")
                out[key] = {k: normalize_quantity(v, f"{child}.{k}") for k, v in item.items()}
            elif (model, key) in _QUANTITY_SCALARS:
                out[key] = normalize_quantity(item, child)
            else:
                out[key] = self.value(item, typ, child)
        return out

    def value(self, item: Any, typ: str, path: str) -> Any:
        if typ.startswith("List["):
            if not isinstance(item, list):
                raise self.type_error(item, path, "array")
            inner = typ[5:-1]
            return [self.value(v, inner, f"{path}[{i}]") for i, v in enumerate(item) if v is not None]
        if typ.startswith("Dict["):
            if not isinstance(item, dict):
                raise self.type_error(item, path, "map")
            inner = typ[typ.index(",") + 1 : -1].strip()
            return {k: self.value(v, inner, f"{path}.{k}") for k, v in item.items()}
        if typ == "object":
            return item  # int-or-string, RawExtension: the schema allows anything
        if typ in ("str", "datetime", "date"):
            if not isinstance(item, str):
                raise self.type_error(item, path, "string")
            return item
        if typ == "bool":
            if not isinstance(item, bool):
                raise self.type_error(item, path, "bool")
            return item
        if typ == "int":
            if isinstance(item, bool) or not isinstance(item, int | float) or item != int(item):
                raise self.type_error(item, path, "int")
            return int(item)
        if typ == "float":
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise self.type_error(item, path, "number")
            return item
        if typ == "bytes":  # []byte travels as base64 (a ConfigMap's binaryData, a Secret's data)
            if not isinstance(item, str):
                raise self.type_error(item, path, "string")
            try:
                base64.b64decode(item, validate=True)
            except binascii.Error:
                raise self.undecodable(f"illegal base64 data in field {path}") from None
            return item
        return self.model(item, typ, path)


# Kubernetes objects nest a few dozen levels at most; deeper bodies are hostile and would exhaust
# the recursion of copying and encoding (a 500) instead of getting the 400 they deserve.
MAX_NESTING = 64


def check_depth(value: Any) -> Any:
    """`value` unchanged, or 400 if it nests deeper than MAX_NESTING (checked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_NESTING:
            raise ApiError(400, "BadRequest", f"the request body nests deeper than {MAX_NESTING} levels")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending.extend((child, depth + 1) for child in children)
    return value


def decode(obj: Any, model: str, kind: str, api_version: str) -> tuple[dict[str, Any], list[str]]:
    """The object with unknown fields pruned and quantities normalised, plus the unknown field paths."""
    decoder = _Decoder(kind, api_version)
    pruned = decoder.model(obj, model, "")
    return pruned, decoder.unknown


def unknown_field_messages(unknown: list[str]) -> list[str]:
    return [f'unknown field "{path}"' for path in unknown]


def enforce_field_validation(mode: str, unknown: list[str]) -> list[str]:
    """Raise for Strict; return the warnings to send for Warn; nothing for Ignore."""
    if not unknown or mode == "Ignore":
        return []
    messages = unknown_field_messages(unknown)
    if mode == "Strict":
        raise ApiError(400, "BadRequest", "strict decoding error: " + ", ".join(messages))
    return messages
