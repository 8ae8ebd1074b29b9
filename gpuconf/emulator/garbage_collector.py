"""ownerReferences garbage collection: background, foreground and orphan propagation.

Driven by the store's change notifications and run as its own task, so a cascade happens after the
write that caused it (as kube-controller-manager's collector does) instead of inside it. Objects are
found by uid; an index from owner uid to dependents keeps each step proportional to the dependents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.resources import RESOURCES
from gpuconf.emulator.store import Obj, Store
from gpuconf.emulator.watch import LogEntry

log = logging.getLogger(__name__)

Ref = tuple[str, str, str]  # (resource, namespace, name)


class GarbageCollector:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_uid: dict[str, Ref] = {}
        self._dependents: dict[str, set[str]] = {}  # owner uid -> dependent uids
        self._owners: dict[str, list[Obj]] = {}  # dependent uid -> its ownerReferences
        self._dirty: set[str] = set()  # uids to look at
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        for rt in RESOURCES:
            for obj in store.objects_in(rt.plural):
                self._index(rt.plural, obj)
        store.add_listener(self._on_change)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="garbage-collector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- index maintenance (synchronous, inside the store's write) ---------------------------

    def _index(self, resource: str, obj: Obj) -> None:
        meta = obj["metadata"]
        uid = meta["uid"]
        self._by_uid[uid] = (resource, meta.get("namespace", ""), meta["name"])
        refs = meta.get("ownerReferences") or []
        for old in self._owners.get(uid, []):
            self._dependents.get(old["uid"], set()).discard(uid)
        self._owners[uid] = refs
        for ref in refs:
            self._dependents.setdefault(ref["uid"], set()).add(uid)

    def _on_change(self, entry: LogEntry) -> None:
        uid = entry.obj["metadata"]["uid"]
        if entry.type == "DELETED":
            self._by_uid.pop(uid, None)
            for ref in self._owners.pop(uid, []):
                self._dependents.get(ref["uid"], set()).discard(uid)
                self._dirty.add(ref["uid"])  # a foreground owner may be waiting for this one
            self._dirty.update(self._dependents.get(uid, set()))
        else:
            self._index(entry.resource, entry.obj)
            meta = entry.obj["metadata"]
            if meta.get("ownerReferences") or meta.get("deletionTimestamp"):
                self._dirty.add(uid)  # the only objects the collector has anything to do for
        if self._dirty:
            self._wakeup.set()

    # --- the collector task ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._dirty = self._dirty, set()
            for uid in batch:
                try:
                    self._process(uid)
                except ApiError as error:  # raced with another writer: the next change retries it
                    log.debug("garbage collector: %s", error.message)
            await asyncio.sleep(0)  # let writers run between batches of a large cascade

    def _get(self, uid: str) -> Obj | None:
        ref = self._by_uid.get(uid)
        if ref is None:
            return None
        try:
            obj = self._store.get(ref[0], ref[2], namespace=ref[1] or None)
        except ApiError:
            return None
        return obj if obj["metadata"]["uid"] == uid else None

    def _process(self, uid: str) -> None:
        obj = self._get(uid)
        if obj is None:
            return
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and "orphan" in finalizers:
            self._orphan_dependents(uid)
            self._remove_finalizer(obj, "orphan")
        elif meta.get("deletionTimestamp") and "foregroundDeletion" in finalizers:
            self._delete_foreground(obj)
        refs = meta.get("ownerReferences") or []
        if refs:
            self._collect_if_orphaned(obj, refs)

    def _dependents_of(self, uid: str) -> list[Obj]:
        found = (self._get(dep) for dep in sorted(self._dependents.get(uid, set())))
        return [d for d in found if d is not None]

    def _orphan_dependents(self, uid: str) -> None:
        for dependent in self._dependents_of(uid):
            refs = [r for r in dependent["metadata"].get("ownerReferences") or [] if r["uid"] != uid]
            self._set_owner_refs(dependent, refs)

    def _delete_foreground(self, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        blocking = 0
        for dependent in self._dependents_of(uid):
            ref = next(r for r in dependent["metadata"]["ownerReferences"] if r["uid"] == uid)
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            if not dependent["metadata"].get("deletionTimestamp"):
                self._delete(dependent, "Foreground")
        if blocking == 0:
            self._remove_finalizer(owner, "foregroundDeletion")

    def _collect_if_orphaned(self, obj: Obj, refs: list[Obj]) -> None:
        alive = [r for r in refs if self._owner_alive(r)]
        if not alive:
            if not obj["metadata"].get("deletionTimestamp"):
                # A dependent of a foreground-deleted owner goes in foreground too, so the owner
                # waits for the whole subtree; otherwise background, the default.
                self._delete(obj, "Background")
        elif len(alive) != len(refs):
            self._set_owner_refs(obj, alive)  # drop references to owners that are gone

    def _owner_alive(self, ref: Obj) -> bool:
        return self._get(ref["uid"]) is not None

    def _resource_of(self, obj: Obj) -> Ref:
        return self._by_uid[obj["metadata"]["uid"]]

    def _delete(self, obj: Obj, policy: str) -> None:
        resource, namespace, name = self._resource_of(obj)
        self._store.delete(
            resource,
            name,
            namespace=namespace or None,
            propagation_policy=policy,
            preconditions={"uid": obj["metadata"]["uid"]},
        )

    def _set_owner_refs(self, obj: Obj, refs: list[Obj]) -> None:
        resource, namespace, _ = self._resource_of(obj)
        obj["metadata"]["ownerReferences"] = refs
        if not refs:
            del obj["metadata"]["ownerReferences"]
        self._store.update(resource, obj, namespace=namespace or None)

    def _remove_finalizer(self, obj: Obj, finalizer: str) -> None:
        resource, namespace, _ = self._resource_of(obj)
        obj["metadata"]["finalizers"] = [f for f in obj["metadata"]["finalizers"] if f != finalizer]
        self._store.update(resource, obj, namespace=namespace or None)
