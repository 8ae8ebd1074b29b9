"""RFC 6902 JSON Patch (`application/json-patch+json`) with the Kubernetes API server's status codes.

A patch document that is not a list of well-formed operations is a malformed request: 400
BadRequest. An operation that cannot be applied to this object (missing path, index out of range,
failed `test`) is 422 Invalid with the server's generic message ("the server rejected our request due
to an error in our request"), which is what kube-apiserver answers, followed by the detail. Kubernetes caps a
patch at 10000 operations (413). The target is never modified: operations apply to a deep copy and
the whole patch is atomic, as RFC 6902 section 5 requires.
"""

from __future__ import annotations

import copy
from typing import Any

from gpuconf.emulator.interface import ApiError

MAX_OPERATIONS = 10000  # kube-apiserver's maxJSONPatchOperations
_OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")
_GENERIC_INVALID = "the server rejected our request due to an error in our request"


class _NotApplicable(Exception):
    """An operation that is well formed but does not apply to this document."""


def _invalid(detail: str) -> ApiError:
    # kube-apiserver sends only the generic text; the detail is appended so a failing test says why
    # (kubectl prints "The request is invalid: <message>").
    return ApiError(422, "Invalid", f"{_GENERIC_INVALID}: {detail}")


def _parse_pointer(pointer: Any, member: str, index: int) -> list[str]:
    """Split a JSON Pointer (RFC 6901) into unescaped reference tokens."""
    if not isinstance(pointer, str):
        raise ApiError(400, "BadRequest", f"operation {index}: '{member}' must be a JSON Pointer string")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ApiError(
            400, "BadRequest", f'operation {index}: invalid JSON Pointer "{pointer}": must start with "/"'
        )
    tokens = []
    for raw in pointer[1:].split("/"):
        if "~" in raw.replace("~0", "").replace("~1", ""):
            raise ApiError(
                400, "BadRequest", f'operation {index}: invalid escape in JSON Pointer "{pointer}"'
            )
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _array_index(token: str, length: int, *, allow_end: bool, pointer: str) -> int:
    """An array index token: decimal without leading zeros; `-` (append) only where allowed."""
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise _NotApplicable(f'invalid array index "{token}" in "{pointer}"')
    index = int(token)
    limit = length if allow_end else length - 1
    if index > limit:
        raise _NotApplicable(f'index {index} out of range in "{pointer}" (array length {length})')
    return index


def _resolve(document: Any, tokens: list[str], pointer: str) -> Any:
    value = document
    for token in tokens:
        if isinstance(value, dict):
            if token not in value:
                raise _NotApplicable(f'doc is missing path: "{pointer}"')
            value = value[token]
        elif isinstance(value, list):
            value = value[_array_index(token, len(value), allow_end=False, pointer=pointer)]
        else:
            raise _NotApplicable(f'doc is missing path: "{pointer}"')
    return value


def _add(document: Any, tokens: list[str], value: Any, pointer: str) -> Any:
    if not tokens:
        return value  # replacing the whole document
    parent = _resolve(document, tokens[:-1], pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(last, len(parent), allow_end=True, pointer=pointer), value)
    else:
        raise _NotApplicable(f'doc is missing path: "{pointer}"')
    return document


def _remove(document: Any, tokens: list[str], pointer: str) -> tuple[Any, Any]:
    """Remove the value at tokens; returns (document, removed value)."""
    if not tokens:
        raise _NotApplicable("cannot remove the whole document")
    parent = _resolve(document, tokens[:-1], pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _NotApplicable(f'doc is missing key: "{pointer}"')
        return document, parent.pop(last)
    if isinstance(parent, list):
        return document, parent.pop(_array_index(last, len(parent), allow_end=False, pointer=pointer))
    raise _NotApplicable(f'doc is missing path: "{pointer}"')


def _json_equal(left: Any, right: Any) -> bool:
    """RFC 6902 equality: same JSON type and value (so 1 != true and 1 == 1.0)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


def _validated_operations(patch: Any) -> list[dict[str, Any]]:
    if not isinstance(patch, list):
        raise ApiError(
            400,
            "BadRequest",
            f"json: cannot unmarshal {_json_type(patch)} into Go value of type jsonpatch.Patch",
        )
    if len(patch) > MAX_OPERATIONS:
        raise ApiError(
            413,
            "RequestEntityTooLarge",
            f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {len(patch)}",
        )
    for index, operation in enumerate(patch):
        if not isinstance(operation, dict):
            raise ApiError(
                400, "BadRequest", f"operation {index} must be an object, not {_json_type(operation)}"
            )
        name = operation.get("op")
        if name not in _OPERATIONS:
            raise ApiError(
                400, "BadRequest", f"operation {index}: unexpected op {name!r}; expected one of {_OPERATIONS}"
            )
        if "path" not in operation:
            raise ApiError(400, "BadRequest", f"operation {index} ({name}) is missing 'path'")
        if name in ("add", "replace", "test") and "value" not in operation:
            raise ApiError(400, "BadRequest", f"operation {index} ({name}) is missing 'value'")
        if name in ("move", "copy") and "from" not in operation:
            raise ApiError(400, "BadRequest", f"operation {index} ({name}) is missing 'from'")
    return patch


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def apply_json_patch(document: Any, patch: Any) -> Any:
    """Apply decoded RFC 6902 operations to a deep copy of `document` and return the result."""
    operations = _validated_operations(patch)
    result = copy.deepcopy(document)
    for index, operation in enumerate(operations):
        name = operation["op"]
        pointer = operation["path"]
        tokens = _parse_pointer(pointer, "path", index)
        try:
            if name == "add":
                result = _add(result, tokens, copy.deepcopy(operation["value"]), pointer)
            elif name == "remove":
                result, _ = _remove(result, tokens, pointer)
            elif name == "replace":
                if not tokens:
                    result = copy.deepcopy(operation["value"])
                    continue
                result, _ = _remove(result, tokens, pointer)
                result = _add(result, tokens, copy.deepcopy(operation["value"]), pointer)
            elif name == "test":
                if not _json_equal(_resolve(result, tokens, pointer), operation["value"]):
                    raise _NotApplicable(f"testing value {pointer} failed")
            else:
                source = operation["from"]
                source_tokens = _parse_pointer(source, "from", index)
                if name == "move":
                    if tokens[: len(source_tokens)] == source_tokens and len(tokens) > len(source_tokens):
                        raise _NotApplicable(f'cannot move "{source}" into its own child "{pointer}"')
                    result, value = _remove(result, source_tokens, source)
                else:
                    value = copy.deepcopy(_resolve(result, source_tokens, source))
                result = _add(result, tokens, value, pointer)
        except _NotApplicable as error:
            raise _invalid(f"jsonpatch {name} operation does not apply: {error}") from None
    return result
