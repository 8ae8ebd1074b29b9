"""Namespace deletion: a Terminating namespace empties itself, then disappears.

kube-controller-manager's namespace controller deletes every object in a namespace marked for
deletion and removes the `kubernetes` spec finalizer once nothing is left. Pods bound to a node stay
Terminating until their kubelet confirms, so the namespace waits for them exactly as on a real cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.resources import RESOURCES
from gpuconf.emulator.store import Store
from gpuconf.emulator.watch import LogEntry

log = logging.getLogger(__name__)

_NAMESPACED = [rt.plural for rt in RESOURCES if rt.namespaced]


class NamespaceFinalizer:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._dirty: set[str] = set()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        store.add_listener(self._on_change)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="namespace-finalizer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_change(self, entry: LogEntry) -> None:
        if entry.resource == "namespaces":
            if entry.obj["metadata"].get("deletionTimestamp") and entry.type != "DELETED":
                self._dirty.add(entry.obj["metadata"]["name"])
                self._wakeup.set()
        elif entry.type == "DELETED" and entry.namespace:
            self._dirty.add(entry.namespace)  # maybe the last object of a Terminating namespace
            self._wakeup.set()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._dirty = self._dirty, set()
            for name in sorted(batch):
                try:
                    self._finalize(name)
                except ApiError as error:  # raced with another writer: the next change retries it
                    log.debug("namespace finalizer: %s", error.message)
            await asyncio.sleep(0)

    def _finalize(self, name: str) -> None:
        try:
            namespace = self._store.get("namespaces", name)
        except ApiError:
            return
        if not namespace["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for resource in _NAMESPACED:
            items, _ = self._store.list(resource, namespace=name)
            remaining += len(items)
            for item in items:
                if not item["metadata"].get("deletionTimestamp"):
                    self._store.delete(
                        resource, item["metadata"]["name"], namespace=name, propagation_policy="Background"
                    )
        if remaining == 0:
            self._store.finalize_namespace(name)
