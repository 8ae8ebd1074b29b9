"""Decode the Kubernetes protobuf request bodies kubectl's typed commands send.

kubectl 1.37 encodes `kubectl create namespace|configmap|serviceaccount` bodies as
`application/vnd.kubernetes.protobuf` and, unlike CBOR, never falls back to JSON on a 415. The
envelope is the 4-byte magic `k8s\\0` plus a `runtime.Unknown` message whose `raw` field holds the
object; field numbers below are those of k8s.io/api's generated.proto for the few kinds decoded
here. Anything else gets a clear 415, and responses are always JSON (kubectl accepts both).
"""

from __future__ import annotations

import base64
from typing import Any

from gpuconf.emulator.interface import ApiError

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

# Per message: field number -> (json name, type). Types: "string", "int", "bool", "bytes",
# a message name, "map" (string->string), "bytesmap" (string->bytes), "time"; "[]X" repeats X.
_SCHEMAS: dict[str, dict[int, tuple[str, str]]] = {
    "Unknown": {
        1: ("typeMeta", "TypeMeta"),
        2: ("raw", "bytes"),
        3: ("contentEncoding", "string"),
        4: ("contentType", "string"),
    },
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        5: ("uid", "string"),
        6: ("resourceVersion", "string"),
        7: ("generation", "int"),
        11: ("labels", "map"),
        12: ("annotations", "map"),
        13: ("ownerReferences", "[]OwnerReference"),
        14: ("finalizers", "[]string"),
    },
    "OwnerReference": {
        1: ("kind", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map"),
        3: ("binaryData", "bytesmap"),
        4: ("immutable", "bool"),
    },
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 4: ("automountServiceAccountToken", "bool")},
}
DECODABLE_KINDS = ("Namespace", "ConfigMap", "ServiceAccount")


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", f"unable to decode protobuf body: {message}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _bad("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: varints as int, length-delimited as bytes; other wire types skipped."""
    pos = 0
    out: list[tuple[int, int | bytes]] = []
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise _bad("truncated field")
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise _bad(f"unsupported wire type {wire}")
    return out


def _scalar(value: int | bytes, typ: str) -> Any:
    if typ in ("int", "bool"):
        if not isinstance(value, int):
            raise _bad(f"expected a varint for {typ}")
        return bool(value) if typ == "bool" else value
    if not isinstance(value, bytes):
        raise _bad(f"expected bytes for {typ}")
    if typ == "bytes":
        return value
    if typ == "string":
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad("invalid UTF-8 in a string field") from None
    return _message(value, typ)


def _message(data: bytes, name: str) -> dict[str, Any]:
    schema = _SCHEMAS[name]
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        key, typ = schema[number]
        if typ in ("map", "bytesmap"):
            if not isinstance(value, bytes):
                raise _bad("expected a map entry")
            entry = dict(_fields(value))
            k = _scalar(entry.get(1, b""), "string")
            raw_value = entry.get(2, b"")
            if typ == "bytesmap":
                v = base64.b64encode(_scalar(raw_value, "bytes")).decode()
            else:
                v = _scalar(raw_value, "string")
            out.setdefault(key, {})[k] = v
        elif typ.startswith("[]"):
            out.setdefault(key, []).append(_scalar(value, typ[2:]))
        else:
            decoded = _scalar(value, typ)
            if decoded not in ("", 0, False, b""):  # Go's zero values mean "unset" in these types
                out[key] = decoded
    return out


def decode_protobuf_object(body: bytes) -> dict[str, Any]:
    """A JSON-shaped object from a protobuf-encoded request body; 415 for kinds not decoded here."""
    if not body.startswith(_MAGIC):
        raise _bad("missing the k8s protobuf envelope")
    envelope = _message(body[len(_MAGIC) :], "Unknown")
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in DECODABLE_KINDS:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the emulated API server decodes protobuf only for {', '.join(DECODABLE_KINDS)}; "
            f"send {kind or 'this object'} as application/json",
        )
    obj = _message(envelope.get("raw", b""), kind)
    obj["apiVersion"] = type_meta.get("apiVersion", "v1")
    obj["kind"] = kind
    return obj
