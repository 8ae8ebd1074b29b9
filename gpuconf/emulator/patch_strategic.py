"""Kubernetes strategic merge patch (`application/strategic-merge-patch+json`), server side.

This is what `kubectl apply` (client-side), `kubectl patch` (default type), `kubectl label`,
`kubectl annotate` and the official client's `patch_namespaced_*` send. Unlike RFC 7386, lists that
the schema marks as mergeable are merged element by element (containers by name, ...; see
schema_merge_keys.py), so a patch that changes one container's image keeps every other field of that
container and every other container. Supported directives, as in k8s.io/apimachinery strategicpatch:

- `$patch: replace` on a map replaces it; `$patch: delete` empties it; `$patch: merge` is the default.
- list elements `{"$patch": "delete", <mergeKey>: v}` delete that element; `{"$patch": "replace"}`
  replaces the whole list with the patch's other elements.
- `$retainKeys: [..]` keeps only the listed keys of the live map (the patch may set only those).
- `$setElementOrder/<list>: [..]` fixes the order of the merged list (kubectl apply sends it).
- `$deleteFromPrimitiveList/<list>: [..]` removes scalars from a merged scalar list (finalizers).

Without `$setElementOrder`, existing elements keep their order and new ones are appended (what
kube-apiserver does, as kubectl users observe). `null` deletes a key. Malformed directives raise
ApiError 400, as kube-apiserver does for its ErrBadPatchFormat* errors.
"""

from __future__ import annotations

import copy
from typing import Any

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.schema_merge_keys import FieldMeta, field_meta, root_type

PATCH_DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder/"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
_ABSENT = object()


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def strategic_merge(original: dict[str, Any], patch: dict[str, Any], *, kind: str | None) -> dict[str, Any]:
    """Apply a strategic merge patch to a copy of `original`, using the merge keys of `kind`."""
    result = _merge_map(copy.deepcopy(original), copy.deepcopy(patch), root_type(kind))
    if not isinstance(result, dict):
        raise _bad("the patched object must be a JSON object")
    return result


def _new_value(value: Any, meta: FieldMeta) -> Any:
    """A patch value with nothing to merge into: apply its directives against an empty value."""
    if isinstance(value, dict):
        return _merge_map({}, value, meta.type)
    if isinstance(value, list) and meta.merges_list:
        return _merge_list([], value, meta, "")
    return value


def _merge_map(original: dict[str, Any], patch: dict[str, Any], type_name: str | None) -> dict[str, Any]:
    directive = patch.pop(PATCH_DIRECTIVE, None)
    if directive == "replace":
        return _merge_map({}, patch, type_name)
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise _bad(f"unknown patch type: {directive} in map: {patch}")
    _apply_retain_keys(original, patch)
    _apply_set_element_orders(original, patch, type_name)
    for key, value in patch.items():
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_primitive_list(original, key[len(DELETE_FROM_PRIMITIVE_LIST) :], value)
            continue
        if key.startswith("$"):
            raise _bad(f"unknown strategic merge patch directive: {key}")
        if value is None:
            original.pop(key, None)
            continue
        meta = field_meta(type_name, key)
        current = original.get(key, _ABSENT)
        if isinstance(current, dict) and isinstance(value, dict):
            original[key] = _merge_map(current, value, meta.type)
        elif isinstance(current, list) and isinstance(value, list) and meta.merges_list:
            original[key] = _merge_list(current, value, meta, key)
        else:
            # New key, a type change, an atomic list or a scalar: the patch value wins whole.
            original[key] = _new_value(value, meta)
    return original


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    retain = patch.pop(RETAIN_KEYS, _ABSENT)
    if retain is _ABSENT:
        return
    if not isinstance(retain, list) or not all(isinstance(key, str) for key in retain):
        raise _bad("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is None or key.startswith(("$", SET_ELEMENT_ORDER)):
            continue
        if key not in retain:
            raise _bad(f"invalid patch format of retainKeys: {key!r} is set but not listed in $retainKeys")
    for key in list(original):
        if key not in retain:
            del original[key]


def _apply_set_element_orders(original: dict[str, Any], patch: dict[str, Any], type_name: str | None) -> None:
    for directive_key in [key for key in patch if key.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive_key)
        field = directive_key[len(SET_ELEMENT_ORDER) :]
        meta = field_meta(type_name, field)
        if not isinstance(order, list):
            raise _bad(f"invalid patch format of setElementOrder list: {directive_key} must be a list")
        patch_list = patch.pop(field, _ABSENT)
        if patch_list is not _ABSENT and not isinstance(patch_list, list):
            raise _bad(f"invalid patch format of setElementOrder list: {field} must be a list")
        order_ids = [_identity(item, meta.merge_key, field) for item in order]
        for item in patch_list if isinstance(patch_list, list) else []:
            if isinstance(item, dict) and PATCH_DIRECTIVE in item:
                continue
            if _identity(item, meta.merge_key, field) not in order_ids:
                raise _bad(
                    "invalid patch format of setElementOrder list: "
                    f"{field} element {item!r} is not in {directive_key}"
                )
        live = original.get(field)
        server_order: list[Any] = live if isinstance(live, list) else []
        if not isinstance(patch_list, list):
            if not isinstance(live, list):
                continue
            merged = live
        elif isinstance(live, list):
            merged = _merge_list(live, patch_list, meta, field) if meta.merges_list else patch_list
        else:
            merged = _new_value(patch_list, meta)
        original[field] = _order(merged, order_ids, server_order, meta.merge_key, field)


def _delete_from_primitive_list(original: dict[str, Any], field: str, values: Any) -> None:
    if not isinstance(values, list):
        raise _bad(
            f"invalid patch format of primitive list: {DELETE_FROM_PRIMITIVE_LIST}{field} must be a list"
        )
    live = original.get(field)
    if isinstance(live, list):
        original[field] = [item for item in live if item not in values]


def _identity(item: Any, merge_key: str | None, field: str) -> Any:
    """What identifies a list element: its merge key's value, or the scalar itself."""
    if merge_key is None:
        if isinstance(item, dict | list):
            raise _bad(f"cannot merge lists without merge key for {field}")
        return item
    if not isinstance(item, dict) or merge_key not in item:
        raise _bad(f"map: {item} does not contain declared merge key: {merge_key}")
    return item[merge_key]


def _merge_list(live: list[Any], patch: list[Any], meta: FieldMeta, field: str) -> list[Any]:
    merge_key = meta.merge_key
    if merge_key is None:
        if any(isinstance(item, dict | list) for item in patch):
            raise _bad(f"cannot merge lists without merge key for {field}")
        merged = list(live)
        merged.extend(
            item for index, item in enumerate(patch) if item not in live and item not in patch[:index]
        )
        return merged
    replace = False
    elements: list[Any] = []
    for item in patch:
        if not isinstance(item, dict):
            raise _bad(f"map: {item} does not contain declared merge key: {merge_key}")
        directive = item.get(PATCH_DIRECTIVE)
        if directive is None:
            elements.append(item)
        elif directive == "delete":
            doomed = _identity(item, merge_key, field)
            live = [
                entry for entry in live if not (isinstance(entry, dict) and entry.get(merge_key) == doomed)
            ]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _bad("merging lists cannot yet be specified in the patch")
        else:
            raise _bad(f"unknown patch type: {directive} in map: {item}")
    if replace:
        return [_merge_map({}, element, meta.type) for element in elements]
    merged = list(live)
    for element in elements:
        wanted = _identity(element, merge_key, field)
        for index, entry in enumerate(merged):
            if isinstance(entry, dict) and entry.get(merge_key) == wanted:
                merged[index] = _merge_map(entry, element, meta.type)
                break
        else:
            merged.append(_merge_map({}, element, meta.type))
    return merged


def _order(
    merged: list[Any], order_ids: list[Any], server_order: list[Any], merge_key: str | None, field: str
) -> list[Any]:
    """Enforce `$setElementOrder`: listed elements in that order, the others where the live list had them.

    Elements named in the directive are sorted by it; the rest keep their live order and are
    interleaved so that an unlisted element stays in front of a listed one it preceded on the server.
    """
    server_ids = [_identity(item, merge_key, field) for item in server_order]

    def server_index(item: Any) -> int:
        identity = _identity(item, merge_key, field)
        return server_ids.index(identity) if identity in server_ids else -1

    listed = [item for item in merged if _identity(item, merge_key, field) in order_ids]
    listed.sort(key=lambda item: order_ids.index(_identity(item, merge_key, field)))
    unlisted = [item for item in merged if _identity(item, merge_key, field) not in order_ids]
    result: list[Any] = []
    while listed or unlisted:
        if not listed:
            result.extend(unlisted)
            break
        if not unlisted:
            result.extend(listed)
            break
        listed_at = server_index(listed[0])
        if listed_at < 0 or server_index(unlisted[0]) < listed_at:
            result.append(unlisted.pop(0))
        else:
            result.append(listed.pop(0))
    return result
