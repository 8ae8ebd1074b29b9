"""The in-memory object store: the emulator's one implementation of `ClusterAPI`.

HTTP handlers, controllers and kubelets all write through these methods, so defaulting,
validation, resourceVersion bumps, deletion semantics and watch fan-out happen on one code path.
Everything runs on the server's event loop; no method awaits, so each write is atomic.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from gpuconf.emulator import schema
from gpuconf.emulator.defaults import apply_defaults
from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.patch import APPLY_PATCH, apply_patch
from gpuconf.emulator.resources import RESOURCES, ResourceType, resource_type
from gpuconf.emulator.selectors import parse_field_selector, parse_label_selector
from gpuconf.emulator.validation import validate
from gpuconf.emulator.watch import EventLog, LogEntry, Subscription

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)
ChangeListener = Callable[[LogEntry], None]
# Aliases: inside Store, `list` names the ClusterAPI method, not the builtin.
ObjList = list[Obj]
StrList = list[str]

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")
JOB_ORPHAN_WARNING = (
    "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background "
    "to remove them or set propagationPolicy=Orphan to suppress this warning"
)
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's generateName alphabet


def now_rfc3339(clock_offset: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=clock_offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_part(obj: Obj) -> Obj:
    # Everything but metadata and status counts as "spec" for generation bumps (pods, jobs, DS).
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{rt.plural}{"." + rt.group if rt.group else ""} "{name}" not found',
        kind=rt.plural,
        name=name,
        group=rt.group or None,
    )


def _conflict(rt: ResourceType, name: str, why: str) -> ApiError:
    qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified} "{name}": {why}',
        kind=rt.plural,
        name=name,
        group=rt.group or None,
    )


# Watch history kept for resuming (each entry holds the object before and after a change); older
# resourceVersions get 410 Gone, as after an etcd compaction. A watcher this many events behind
# is closed and must re-list.
DEFAULT_EVENT_WINDOW = 10_000
DEFAULT_WATCH_QUEUE_LIMIT = 10_000


class Store:
    """Objects by resource and (namespace, name), one global resourceVersion, watch fan-out."""

    def __init__(
        self, *, event_window: int = DEFAULT_EVENT_WINDOW, watch_queue_limit: int = DEFAULT_WATCH_QUEUE_LIMIT
    ) -> None:
        self._objects: dict[str, dict[Key, Obj]] = {rt.plural: {} for rt in RESOURCES}
        self._rv = 0
        self._log = EventLog(event_window)
        self._watch_queue_limit = watch_queue_limit
        self._subscriptions: dict[str, set[Subscription]] = {rt.plural: set() for rt in RESOURCES}
        self._listeners: list[ChangeListener] = []
        for name in BOOTSTRAP_NAMESPACES:
            self.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    # --- bookkeeping ------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def compacted_resource_version(self) -> int:
        """ResourceVersions up to this one are forgotten: watching or paging from them is 410."""
        return self._log.compacted

    def add_listener(self, listener: ChangeListener) -> None:
        """Call `listener(entry)` after every committed change (garbage collector, namespace finalizer)."""
        self._listeners.append(listener)

    def compact(self, through: int | None = None) -> None:
        """Forget watch history up to `through` (default: now), so older resourceVersions get 410."""
        self._log.compact(self._rv if through is None else through)

    def close_all_watches(self) -> int:
        subs = [s for group in self._subscriptions.values() for s in group]
        for sub in subs:
            sub.close()
        return len(subs)

    def watcher_count(self) -> int:
        return sum(len(group) for group in self._subscriptions.values())

    def _commit(self, rt: ResourceType, event_type: str, obj: Obj, old: Obj | None) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if event_type == "DELETED":
            self._objects[rt.plural].pop(key, None)
        else:
            self._objects[rt.plural][key] = obj
        # Watchers and listeners get their own copy so later in-place writes cannot leak into them.
        entry = LogEntry(self._rv, rt.plural, key[0], event_type, copy.deepcopy(obj), old)
        self._log.append(entry)
        for sub in list(self._subscriptions[rt.plural]):
            sub.offer(entry)
        for listener in self._listeners:
            listener(entry)

    def _lookup(self, rt: ResourceType, name: str, namespace: str | None) -> Obj:
        found = self._objects[rt.plural].get((namespace or "" if rt.namespaced else "", name))
        if found is None:
            raise _not_found(rt, name)
        return found

    def _namespace_of(self, rt: ResourceType, obj: Obj, namespace: str | None) -> str:
        if not rt.namespaced:
            return ""
        body_ns = (obj.get("metadata") or {}).get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        resolved = namespace or body_ns
        if not resolved:
            raise ApiError(400, "BadRequest", f"a namespace is required for namespaced resource {rt.plural}")
        return resolved

    def _check_type(self, rt: ResourceType, obj: Any) -> Obj:
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", f"the body must be a {rt.kind} object")
        api_version = obj.setdefault("apiVersion", rt.api_version)
        kind = obj.setdefault("kind", rt.kind)
        if api_version != rt.api_version:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({api_version}) does not match "
                f"the expected API version ({rt.api_version})",
            )
        if kind != rt.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})",
            )
        return obj

    def _decode(self, rt: ResourceType, obj: Any, field_validation: str, warnings: StrList | None) -> Obj:
        obj = self._check_type(rt, obj)
        decoded, unknown = schema.decode(obj, rt.model, rt.kind, rt.api_version)
        found = schema.enforce_field_validation(field_validation, unknown)
        if warnings is not None:
            warnings.extend(found)
        decoded.setdefault("metadata", {})
        return decoded

    # --- ClusterAPI -------------------------------------------------------------------------

    def create(
        self,
        resource: str,
        obj: Obj,
        *,
        namespace: str | None = None,
        field_validation: str = "Ignore",
        warnings: StrList | None = None,
        dry_run: bool = False,
    ) -> Obj:
        rt = resource_type(resource)
        new = self._decode(rt, copy.deepcopy(schema.check_depth(obj)), field_validation, warnings)
        meta = new["metadata"]
        ns = self._namespace_of(rt, new, namespace)
        if rt.namespaced:
            meta["namespace"] = ns
            self._require_live_namespace(ns)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choices(_NAME_SUFFIX_ALPHABET, k=5))
        for server_owned in (
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
        ):
            meta.pop(server_owned, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rt.has_generation:
            meta["generation"] = 1
        if rt.plural in ("pods", "daemonsets", "jobs"):
            new.pop("status", None)  # status is the controllers' to write, as on a real server
        if rt.plural == "namespaces":
            new.pop("status", None)
        apply_defaults(rt.plural, new)
        validate(rt, new)
        if (ns, meta["name"]) in self._objects[rt.plural]:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{rt.plural}{"." + rt.group if rt.group else ""} "{meta["name"]}" already exists',
                kind=rt.plural,
                name=meta["name"],
                group=rt.group or None,
            )
        if dry_run:
            return new
        self._commit(rt, "ADDED", new, None)
        return copy.deepcopy(new)

    def _require_live_namespace(self, ns: str) -> None:
        found = self._objects["namespaces"].get(("", ns))
        if found is None:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found', kind="namespaces", name=ns)
        if found["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {ns} because it is being terminated",
                kind="namespaces",
                name=ns,
            )

    def get(self, resource: str, name: str, *, namespace: str | None = None) -> Obj:
        rt = resource_type(resource)
        return copy.deepcopy(self._lookup(rt, name, namespace))

    def _matcher(self, rt: ResourceType, label_selector: str, field_selector: str) -> Callable[[Obj], bool]:
        labels = parse_label_selector(label_selector or "")
        fields = parse_field_selector(field_selector or "", rt.plural)
        return lambda obj: labels.matches(obj["metadata"].get("labels") or {}) and fields.matches(obj)

    def list(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[ObjList, int]:
        items, rv, _ = self.list_page(
            resource, namespace=namespace, label_selector=label_selector, field_selector=field_selector
        )
        return items, rv

    def list_page(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        after: Key | None = None,
    ) -> tuple[ObjList, int, int]:
        """Matching objects in key order after `after`, at most `limit`, plus how many remain."""
        rt = resource_type(resource)
        matches = self._matcher(rt, label_selector, field_selector)
        keys = sorted(self._objects[rt.plural])
        selected = [
            self._objects[rt.plural][k]
            for k in keys
            if (namespace is None or not rt.namespaced or k[0] == namespace) and (after is None or k > after)
        ]
        selected = [obj for obj in selected if matches(obj)]
        remaining = 0
        if limit and len(selected) > limit:
            remaining = len(selected) - limit
            selected = selected[:limit]
        return [copy.deepcopy(obj) for obj in selected], self._rv, remaining

    def update(
        self,
        resource: str,
        obj: Obj,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        field_validation: str = "Ignore",
        warnings: StrList | None = None,
        dry_run: bool = False,
        name: str | None = None,
    ) -> Obj:
        rt = resource_type(resource)
        body = self._decode(rt, copy.deepcopy(schema.check_depth(obj)), field_validation, warnings)
        body_name = body["metadata"].get("name")
        if name is not None and body_name and body_name != name:
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({body_name}) does not match the name on the URL ({name})",
            )
        name = name or body_name
        if not name:
            raise ApiError(400, "BadRequest", "metadata.name is required on update")
        ns = self._namespace_of(rt, body, namespace) if rt.namespaced else ""
        old = self._lookup(rt, name, ns)
        return self._replace(rt, old, body, subresource, dry_run=dry_run)

    def _replace(
        self, rt: ResourceType, old: Obj, body: Obj, subresource: str | None, *, dry_run: bool = False
    ) -> Obj:
        meta, old_meta = body["metadata"], old["metadata"]
        name = old_meta["name"]
        if meta.get("resourceVersion") and meta["resourceVersion"] != old_meta["resourceVersion"]:
            raise _conflict(
                rt,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise _conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: {meta['uid']}, "
                f"UID in object meta: {old_meta['uid']}",
            )
        if subresource == "status":
            new = copy.deepcopy(old)
            new["status"] = body.get("status", {})
        elif subresource is None:
            new = body
            if "status" in rt.subresources:
                new["status"] = copy.deepcopy(old.get("status", {}))
            if rt.plural == "namespaces":
                new["spec"] = copy.deepcopy(old.get("spec", {}))
            for immutable in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
            ):
                if immutable in old_meta:
                    meta[immutable] = old_meta[immutable]
                else:
                    meta.pop(immutable, None)
            meta["name"] = name
        else:
            raise ApiError(
                405, "MethodNotAllowed", f"the server does not allow this method on {rt.plural}/{subresource}"
            )
        apply_defaults(rt.plural, new)
        validate(rt, new, old)
        if rt.has_generation and _spec_part(new) != _spec_part(old):
            new["metadata"]["generation"] = old_meta.get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if new == old or dry_run:
            return copy.deepcopy(new)  # a no-op write keeps its resourceVersion, as on a real server
        if self._ready_to_remove(new):
            self._commit(rt, "DELETED", new, old)
        else:
            self._commit(rt, "MODIFIED", new, old)
        return copy.deepcopy(new)

    def patch(
        self,
        resource: str,
        name: str,
        body: Any,
        content_type: str,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool = False,
        field_validation: str = "Ignore",
        warnings: StrList | None = None,
        dry_run: bool = False,
    ) -> Obj:
        rt = resource_type(resource)
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if isinstance(body, str):
            raw = body.encode()
        elif isinstance(body, bytes | bytearray):
            raw = bytes(body)
        else:
            raw = json.dumps(body).encode()
        try:
            original = self._lookup(rt, name, namespace)
        except ApiError:
            if media_type != APPLY_PATCH or subresource is not None:
                raise
            # Server-side apply creates what does not exist yet.
            applied = apply_patch({}, raw, content_type, field_manager=field_manager, force=force)
            applied.setdefault("metadata", {})["name"] = name
            return self.create(
                resource,
                applied,
                namespace=namespace,
                field_validation=field_validation,
                warnings=warnings,
                dry_run=dry_run,
            )
        schema.check_depth(body if not isinstance(body, bytes | bytearray | str) else None)
        patched = apply_patch(
            copy.deepcopy(original), raw, content_type, field_manager=field_manager, force=force
        )
        if (patched.get("metadata") or {}).get("name", name) != name:
            raise ApiError(400, "BadRequest", "metadata.name: the name of a patched object cannot change")
        decoded = self._decode(rt, schema.check_depth(patched), field_validation, warnings)
        decoded["metadata"]["name"] = name
        if rt.namespaced:
            decoded["metadata"]["namespace"] = original["metadata"]["namespace"]
        return self._replace(rt, original, decoded, subresource, dry_run=dry_run)

    def _ready_to_remove(self, obj: Obj) -> bool:
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if obj.get("kind") == "Namespace" and (obj.get("spec") or {}).get("finalizers"):
            return False
        # A gracefully deleted pod stays until its kubelet confirms with a zero grace period.
        return not meta.get("deletionGracePeriodSeconds")

    def _pod_grace(self, pod: Obj, requested: int | None) -> int:
        phase = (pod.get("status") or {}).get("phase")
        if not pod["spec"].get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0  # nothing runs it: a real server deletes an unscheduled or finished pod at once
        if requested is not None:
            return max(0, requested)
        return int(pod["spec"].get("terminationGracePeriodSeconds", 30))

    def delete(
        self,
        resource: str,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Obj | None = None,
        warnings: StrList | None = None,
        dry_run: bool = False,
    ) -> Obj:
        rt = resource_type(resource)
        current = self._lookup(rt, name, namespace)
        meta = current["metadata"]
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted, stored = (preconditions or {}).get(field), meta[field]
            if wanted and wanted != stored:
                raise _conflict(
                    rt,
                    name,
                    f"Precondition failed: {label} in precondition: {wanted}, "
                    f"{label} in object meta: {stored}",
                )
        policy = propagation_policy
        if policy is None:
            policy = "Orphan" if rt.plural == "jobs" else "Background"
            if rt.plural == "jobs" and warnings is not None:
                warnings.append(JOB_ORPHAN_WARNING)
        if policy not in PROPAGATION_POLICIES:
            raise ApiError(
                422,
                "Invalid",
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported '
                f'value: "{policy}": supported values: "Foreground", "Background", "Orphan"',
                kind="DeleteOptions",
            )
        new = copy.deepcopy(current)
        new_meta = new["metadata"]
        finalizers = list(new_meta.get("finalizers") or [])
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        grace = self._pod_grace(current, grace_period_seconds) if rt.plural == "pods" else 0
        pending = (
            bool(finalizers)
            or grace > 0
            or (rt.plural == "namespaces" and (current.get("spec") or {}).get("finalizers"))
        )
        if pending:
            if finalizers:
                new_meta["finalizers"] = finalizers
            existing_grace = new_meta.get("deletionGracePeriodSeconds")
            if not new_meta.get("deletionTimestamp") or (
                existing_grace is not None and grace < existing_grace
            ):
                new_meta["deletionTimestamp"] = now_rfc3339(grace)
                new_meta["deletionGracePeriodSeconds"] = grace
            if rt.plural == "namespaces":
                new.setdefault("status", {})["phase"] = "Terminating"
            if self._ready_to_remove(new):
                pending = False
        if dry_run:
            return new
        if not pending:
            self._commit(rt, "DELETED", new, current)
            if rt.plural == "pods":
                return copy.deepcopy(new)
            return {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": meta["uid"]},
            }
        if new != current:
            self._commit(rt, "MODIFIED", new, current)
        return copy.deepcopy(new)

    def delete_collection(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        warnings: StrList | None = None,
    ) -> ObjList:
        """Delete every matching object; returns what each single delete returned."""
        items, _ = self.list(
            resource, namespace=namespace, label_selector=label_selector, field_selector=field_selector
        )
        results = []
        for item in items:
            try:
                results.append(
                    self.delete(
                        resource,
                        item["metadata"]["name"],
                        namespace=item["metadata"].get("namespace"),
                        propagation_policy=propagation_policy,
                        grace_period_seconds=grace_period_seconds,
                        warnings=warnings,
                    )
                )
            except ApiError as error:
                if error.code != 404:  # gone meanwhile (a cascade removed it): nothing left to do
                    raise
        return results

    def finalize_namespace(self, name: str) -> None:
        """Drop the `kubernetes` spec finalizer once the namespace is empty (the /finalize subresource)."""
        rt = resource_type("namespaces")
        current = self._lookup(rt, name, None)
        new = copy.deepcopy(current)
        new["spec"]["finalizers"] = [f for f in new["spec"].get("finalizers", []) if f != "kubernetes"]
        if new != current:
            self._commit(rt, "DELETED" if self._ready_to_remove(new) else "MODIFIED", new, current)

    def subscribe(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        since: int | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> Subscription:
        rt = resource_type(resource)
        matches = self._matcher(rt, label_selector, field_selector)
        backlog = self._log.since(since) if since is not None else []
        sub = Subscription(
            rt.plural,
            namespace if rt.namespaced else None,
            matches,
            self._watch_queue_limit,
            self._subscriptions[rt.plural].discard,
        )
        for entry in backlog:
            if entry.resource == rt.plural:
                sub.offer(entry)
        self._subscriptions[rt.plural].add(sub)
        return sub

    def objects_in(self, resource: str) -> ObjList:
        """Stored objects of one type without copying: for the garbage collector's scans only."""
        return list(self._objects[resource_type(resource).plural].values())

    def bind(self, name: str, namespace: str, node: str) -> Obj:
        """The pods/binding subresource: set spec.nodeName once and mark the pod PodScheduled."""
        rt = resource_type("pods")
        pod = self._lookup(rt, name, namespace)
        current = pod["spec"].get("nodeName")
        if current:
            raise ApiError(
                409, "Conflict", f'pod {name} is already assigned to node "{current}"', kind="pods", name=name
            )
        if pod["metadata"].get("deletionTimestamp"):
            raise ApiError(
                409,
                "Conflict",
                f"pod {name} is being deleted, cannot be assigned to a host",
                kind="pods",
                name=name,
            )
        new = copy.deepcopy(pod)
        new["spec"]["nodeName"] = node
        status = new.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
            }
        )
        status["conditions"] = conditions
        self._commit(rt, "MODIFIED", new, pod)
        return copy.deepcopy(new)
