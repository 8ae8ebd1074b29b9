"""Server-side apply (`application/apply-patch+yaml`), simplified but honest about field ownership.

What it does, as kube-apiserver does:
- merges the applied configuration into the live object with the strategic merge keys of its kind
  (containers by name, ...), so fields the configuration does not mention stay as they are;
- records which fields each manager applied in `metadata.managedFields` (manager, operation Apply,
  apiVersion, time, fieldsType FieldsV1, fieldsV1 in Kubernetes' `f:` / `k:{...}` / `v:...` notation);
- removes fields this manager applied before but no longer applies, unless another manager owns them;
- raises 409 Conflict ("Apply failed with N conflict(s): conflict with "m" using v1: .data.x") when
  another manager owns a field the configuration sets to a different value; `force=True` takes
  ownership of those fields instead;
- `record_update` attributes the fields a plain create/update/patch changed to that manager
  (operation Update), which is what makes conflicts with `kubectl edit` or a controller visible.

Limits (on purpose, for an emulator): ownership is tracked per field, not per list-map key tuple
(ports are keyed by containerPort alone); fields that existed before any manager touched them are
unowned (Kubernetes would attribute them to "before-first-apply"); explicit nulls in an applied
configuration are ignored; `+structType=atomic` maps are still merged key by key; there is no
per-version conversion of field paths (the emulator serves one version per kind).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.patch_strategic import strategic_merge
from gpuconf.emulator.schema_merge_keys import field_meta, root_type

Path = tuple[str, ...]
_ABSENT = object()
# Server-owned identity fields: never part of anyone's field set (as in Kubernetes).
_UNTRACKED_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tracked_content(obj: dict[str, Any]) -> dict[str, Any]:
    """The part of an object whose fields have owners: no type, identity or managedFields."""
    content = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
    metadata = content.get("metadata")
    if isinstance(metadata, dict):
        content["metadata"] = {k: v for k, v in metadata.items() if k not in _UNTRACKED_METADATA}
        if not content["metadata"]:
            del content["metadata"]
    return content


def _item_step(item: Any, merge_key: str) -> str:
    if not isinstance(item, dict) or merge_key not in item:
        raise ApiError(
            422,
            "Invalid",
            f"associative list with keys has an element that omits key field {json.dumps(merge_key)}",
        )
    return "k:" + json.dumps({merge_key: item[merge_key]}, separators=(",", ":"), sort_keys=True)


def field_set(obj: dict[str, Any], kind: str | None) -> dict[Path, Any]:
    """The paths `obj` sets, mapped to their values, as Kubernetes builds an apply field set.

    Leaves (scalars, atomic lists and structs, set members) and list items are members; a map or a
    merged list is a member only when it is empty (it owns nothing below). List items map to `_NODE`.
    """
    paths: dict[Path, Any] = {}
    _walk(_tracked_content(obj), root_type(kind), (), paths)
    return paths


def _walk(value: dict[str, Any], type_name: str | None, prefix: Path, out: dict[Path, Any]) -> None:
    for key, child in value.items():
        if child is None:
            continue
        meta = field_meta(type_name, key)
        path = prefix + (f"f:{key}",)
        if isinstance(child, dict) and not meta.atomic_struct:
            if not child:
                out[path] = _NODE
            _walk(child, meta.type, path, out)
        elif isinstance(child, list) and meta.merges_list:
            if not child:
                out[path] = _NODE
            for item in child:
                if meta.merge_key:
                    item_path = path + (_item_step(item, meta.merge_key),)
                    out[item_path] = _NODE
                    _walk(item, meta.type, item_path, out)
                else:
                    out[path + ("v:" + json.dumps(item, separators=(",", ":")),)] = item
        else:
            out[path] = child


class _Node:
    """Marks a path that owns structure (a list item, an empty map or list) rather than a value."""

    def __repr__(self) -> str:
        return "<node>"


_NODE = _Node()


def fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """Encode a set of paths as a FieldsV1 trie (`.: {}` marks a path owned together with children)."""
    trie: dict[str, Any] = {}
    path_set = set(paths)
    for path in sorted(path_set):
        node = trie
        for step in path:
            node = node.setdefault(step, {})
    for path in path_set:
        node = trie
        for step in path:
            node = node[step]
        if node and "." not in node:
            node["."] = {}
    return trie


def paths_from_fields_v1(trie: Any, prefix: Path = ()) -> set[Path]:
    """Decode a FieldsV1 trie back into the set of owned paths."""
    paths: set[Path] = set()
    if not isinstance(trie, dict):
        return paths
    for step, child in trie.items():
        if step == ".":
            paths.add(prefix)
            continue
        path = prefix + (step,)
        if isinstance(child, dict) and child:
            paths |= paths_from_fields_v1(child, path)
        else:
            paths.add(path)
    return paths


def _lookup(obj: Any, path: Path) -> Any:
    value = obj
    for step in path:
        kind, _, text = step.partition(":")
        if kind == "f" and isinstance(value, dict):
            value = value.get(text, _ABSENT)
        elif kind == "k" and isinstance(value, list):
            wanted = json.loads(text)
            value = next(
                (
                    item
                    for item in value
                    if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items())
                ),
                _ABSENT,
            )
        elif kind == "v" and isinstance(value, list):
            scalar = json.loads(text)
            value = scalar if scalar in value else _ABSENT
        else:
            return _ABSENT
        if value is _ABSENT:
            return _ABSENT
    return value


def _remove(obj: dict[str, Any], path: Path) -> None:
    parent = _lookup(obj, path[:-1])
    kind, _, text = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(text, None)
    elif kind == "k" and isinstance(parent, list):
        wanted = json.loads(text)
        parent[:] = [
            item
            for item in parent
            if not (isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()))
        ]
    elif kind == "v" and isinstance(parent, list):
        scalar = json.loads(text)
        parent[:] = [item for item in parent if item != scalar]


def describe_path(path: Path) -> str:
    """Kubernetes' printed form of a field path: `.spec.containers[name="app"].image`."""
    text = ""
    for step in path:
        kind, _, rest = step.partition(":")
        if kind == "f":
            text += f".{rest}"
        elif kind == "k":
            keys = json.loads(rest)
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        else:
            text += f"[={rest}]"
    return text


class _Entry:
    """One managedFields entry, with its field set decoded."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.paths = paths_from_fields_v1(raw.get("fieldsV1"))

    @property
    def identity(self) -> tuple[str, str]:
        return (str(self.raw.get("manager", "")), str(self.raw.get("operation", "")))

    def encoded(self) -> dict[str, Any]:
        return {**self.raw, "fieldsType": "FieldsV1", "fieldsV1": fields_v1(self.paths)}


def _entries(obj: dict[str, Any]) -> list[_Entry]:
    raw = (obj.get("metadata") or {}).get("managedFields") or []
    return [_Entry(entry) for entry in raw if isinstance(entry, dict)]


def _store_entries(obj: dict[str, Any], entries: list[_Entry]) -> None:
    encoded = [entry.encoded() for entry in entries if entry.paths]
    metadata = obj.setdefault("metadata", {})
    if encoded:
        metadata["managedFields"] = encoded
    else:
        metadata.pop("managedFields", None)


def _conflict_with(entry: _Entry) -> str:
    return f'conflict with "{entry.raw.get("manager", "")}" using {entry.raw.get("apiVersion", "")}'


def _conflict_error(conflicts: list[tuple[_Entry, Path]]) -> ApiError:
    by_manager: dict[tuple[str, str], list[str]] = {}
    for entry, path in conflicts:
        key = (str(entry.raw.get("manager", "")), str(entry.raw.get("apiVersion", "")))
        by_manager.setdefault(key, []).append(describe_path(path))
    count = len(conflicts)
    parts = []
    for (manager, api_version), fields in by_manager.items():
        if len(fields) == 1:
            parts.append(f'conflict with "{manager}" using {api_version}: {fields[0]}')
        else:
            listed = "\n".join(f"- {field}" for field in fields)
            parts.append(f'conflicts with "{manager}" using {api_version}:\n{listed}')
    message = f"Apply failed with {count} conflict{'s' if count != 1 else ''}: " + "\n".join(parts)
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": _conflict_with(entry),
            "field": describe_path(path),
        }
        for entry, path in conflicts
    ]
    return ApiError(409, "Conflict", message, causes=causes)


def _validate_configuration(live: dict[str, Any], applied: dict[str, Any], field_manager: str | None) -> None:
    if not field_manager:
        raise ApiError(400, "BadRequest", "fieldManager: Required value: is required for apply patch")
    for field in ("apiVersion", "kind"):
        if not isinstance(applied.get(field), str) or not applied[field]:
            raise ApiError(
                400,
                "BadRequest",
                f"Object '{field[0].upper() + field[1:]}' is missing in the apply configuration",
            )
    if live.get("kind") and applied["kind"] != live["kind"]:
        raise ApiError(
            400,
            "BadRequest",
            f"the kind of the applied configuration ({applied['kind']}) "
            f"does not match the object ({live['kind']})",
        )
    live_name = (live.get("metadata") or {}).get("name")
    applied_name = (
        (applied.get("metadata") or {}).get("name") if isinstance(applied.get("metadata"), dict) else None
    )
    if live_name and applied_name and live_name != applied_name:
        raise ApiError(
            400,
            "BadRequest",
            f"the name of the object ({applied_name}) does not match the name on the URL ({live_name})",
        )
    _reject_directives(applied)


def _reject_directives(value: Any) -> None:
    # Strategic-merge directives have no meaning in an apply configuration; refusing them keeps the
    # merge below from interpreting user data as instructions.
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(key, str) and key.startswith("$"):
                raise ApiError(400, "BadRequest", f"apply configurations may not contain directives: {key}")
            _reject_directives(child)
    elif isinstance(value, list):
        for child in value:
            _reject_directives(child)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(child) for key, child in value.items() if child is not None}
    if isinstance(value, list):
        return [_without_nulls(child) for child in value]
    return value


def _remove_abandoned(
    obj: dict[str, Any], previously: set[Path], wanted: Iterable[Path], others: list[_Entry]
) -> None:
    """Delete what this manager applied before and no longer applies, unless someone else owns it.

    Deepest paths go first. A list item goes with everything in it (server defaults included).
    """
    abandoned = previously - set(wanted)

    def owned_by_others(path: Path) -> bool:
        return any(other_path[: len(path)] == path for other in others for other_path in other.paths)

    # List items leave whole; their own fields must not be removed first, or the item loses its key.
    leaving_items = [path for path in abandoned if path[-1].startswith("k:") and not owned_by_others(path)]
    for path in sorted(abandoned, key=len, reverse=True):
        if path == ("f:metadata",) or owned_by_others(path):
            continue
        if any(len(item) < len(path) and path[: len(item)] == item for item in leaving_items):
            continue
        _remove(obj, path)
        _prune_emptied_parents(obj, path)


def _prune_emptied_parents(obj: dict[str, Any], path: Path) -> None:
    """Drop maps and lists a removal left empty: Go's `omitempty` never serialises them either."""
    for length in range(len(path) - 1, 0, -1):
        parent = path[:length]
        if parent == ("f:metadata",) or _lookup(obj, parent) not in ({}, []):
            return
        _remove(obj, parent)


def server_side_apply(
    live: dict[str, Any],
    applied: dict[str, Any],
    *,
    field_manager: str | None,
    force: bool,
    now: str | None = None,
) -> dict[str, Any]:
    """Apply `applied` (a decoded apply configuration) to a copy of `live` for `field_manager`."""
    live = live or {}
    _validate_configuration(live, applied, field_manager)
    applied = _without_nulls(applied)
    kind = applied["kind"]
    wanted = field_set(applied, kind)
    entries = _entries(live)
    identity = (str(field_manager), "Apply")
    mine = next((entry for entry in entries if entry.identity == identity), None)
    others = [entry for entry in entries if entry is not mine]

    conflicts: list[tuple[_Entry, Path]] = []
    for path, value in wanted.items():
        if value is _NODE:
            continue
        current = _lookup(live, path)
        if current is _ABSENT or current == value:
            continue  # the same value may be shared by several managers
        conflicts.extend((entry, path) for entry in others if path in entry.paths)
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for entry, path in conflicts:
        entry.paths.discard(path)

    config = {key: value for key, value in applied.items() if key != "metadata"}
    config["metadata"] = {
        key: value for key, value in (applied.get("metadata") or {}).items() if key not in _UNTRACKED_METADATA
    }
    result = strategic_merge(live, config, kind=kind)
    if not live:
        # Creating through apply: the configuration names the object.
        metadata = applied.get("metadata") or {}
        for key in ("name", "namespace"):
            if metadata.get(key):
                result.setdefault("metadata", {})[key] = metadata[key]

    _remove_abandoned(result, mine.paths if mine else set(), wanted.keys(), others)

    entry = mine or _Entry({"manager": field_manager, "operation": "Apply"})
    entry.raw = {**entry.raw, "apiVersion": applied["apiVersion"], "time": now or _now()}
    entry.paths = set(wanted)
    if mine is None:
        entries.append(entry)
    _store_entries(result, entries)
    return result


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    *,
    now: str | None = None,
) -> dict[str, Any]:
    """Attribute the fields a create/update/non-apply patch changed to `manager` (operation Update).

    Returns a copy of `new` with managedFields updated: changed fields move to `manager`'s Update
    entry and out of every other entry, as kube-apiserver's field manager does, so a later apply
    by someone else conflicts with this change.
    """
    result = copy.deepcopy(new)
    kind = new.get("kind")
    before = field_set(old, kind) if old else {}
    after = field_set(new, kind)
    changed = {
        path for path, value in after.items() if value is not _NODE and before.get(path, _ABSENT) != value
    }
    entries = _entries(old or {}) if "managedFields" not in (new.get("metadata") or {}) else _entries(new)
    for entry in entries:
        entry.paths &= after.keys()  # a field the update removed has no owner any more
    if not changed:
        _store_entries(result, entries)
        return result
    identity = (manager, "Update")
    mine = next((entry for entry in entries if entry.identity == identity), None)
    for entry in entries:
        if entry is not mine:
            entry.paths -= changed
    if mine is None:
        mine = _Entry({"manager": manager, "operation": "Update"})
        entries.append(mine)
    # Also own the structure leading to the changed values, so removal logic sees the owner.
    ancestors = {
        path[:length] for path in changed for length in range(1, len(path)) if path[:length] in after
    }
    mine.paths |= changed | ancestors
    mine.raw = {**mine.raw, "apiVersion": new.get("apiVersion", ""), "time": now or _now()}
    _store_entries(result, entries)
    return result
