"""List+watch caches and work queues: the client-go machinery controllers and kubelets share.

An `Informer` keeps a read-only cache of one resource, fed by the API server's watch through the
same ClusterAPI path the HTTP handlers use, and calls handlers on every change. When the server
closes a slow watcher or answers 410 Gone, the informer re-lists, as client-go does.
A `KeyQueue` de-duplicates keys so a burst of events for one object costs one reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gpuconf.emulator.interface import ApiError, ClusterAPI

Obj = dict[str, Any]
Handler = Callable[[str, Obj], None]  # (event type, object)
log = logging.getLogger(__name__)


def key_of(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


class Informer:
    """A cache of one resource kept current by list+watch."""

    def __init__(self, api: ClusterAPI, resource: str, *, field_selector: str = "") -> None:
        self.api = api
        self.resource = resource
        self.field_selector = field_selector
        self.cache: dict[str, Obj] = {}
        self.handlers: list[Handler] = []
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"informer-{self.resource}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def values(self) -> list[Obj]:
        return list(self.cache.values())

    def _dispatch(self, event_type: str, obj: Obj) -> None:
        for handler in self.handlers:
            try:
                handler(event_type, obj)
            except Exception:  # one broken handler must not stop the others from seeing events
                log.exception("handler for %s %s failed", self.resource, key_of(obj))

    def _relist(self) -> int:
        items, rv = self.api.list(self.resource, field_selector=self.field_selector)
        fresh = {key_of(o): o for o in items}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                del self.cache[key]
                self._dispatch("DELETED", old)
        for key, obj in fresh.items():
            known = key in self.cache
            self.cache[key] = obj
            self._dispatch("MODIFIED" if known else "ADDED", obj)
        return rv

    async def _run(self) -> None:
        while True:  # each turn is one list+watch session; ends only by cancellation
            rv = self._relist()
            self.synced.set()
            try:
                subscription = self.api.subscribe(self.resource, since=rv, field_selector=self.field_selector)
            except ApiError as err:
                log.warning("watch %s failed (%s); re-listing", self.resource, err.reason)
                await asyncio.sleep(0.1)  # back off a failing server rather than spin
                continue
            try:
                async for event in subscription:
                    obj = event.get("object") or {}
                    kind = event.get("type")
                    if kind == "BOOKMARK":
                        continue
                    if kind == "ERROR":
                        break
                    key = key_of(obj)
                    if kind == "DELETED":
                        self.cache.pop(key, None)
                    else:
                        self.cache[key] = obj
                    self._dispatch(kind or "MODIFIED", obj)
            except ApiError as err:
                log.info("watch %s ended (%s); re-listing", self.resource, err.reason)
            finally:
                subscription.close()


class KeyQueue:
    """A de-duplicating work queue with delayed re-adds; one worker task drains it."""

    def __init__(self, name: str, reconcile: Callable[[str], Awaitable[None]]) -> None:
        self.name = name
        self._reconcile = reconcile
        self._pending: dict[str, None] = {}
        self._wakeup = asyncio.Event()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, key: str, delay: float = 0.0) -> None:
        if delay > 0:
            loop = asyncio.get_running_loop()
            old = self._timers.get(key)
            due = loop.time() + delay
            if old is not None and old.when() <= due:
                return  # an earlier retry is already scheduled
            if old is not None:
                old.cancel()
            self._timers[key] = loop.call_at(due, self._fire, key)
            return
        self._pending[key] = None
        self._wakeup.set()

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"queue-{self.name}")

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:  # drains until cancelled by stop()
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                key = next(iter(self._pending))
                del self._pending[key]
                started = time.monotonic()
                try:
                    await self._reconcile(key)
                except ApiError as err:
                    # Conflicts and races with deletion are normal: retry soon with fresh state.
                    log.debug("%s %s: %s; retrying", self.name, key, err.message)
                    self.add(key, delay=0.05)
                except Exception:
                    log.exception("%s failed to reconcile %s", self.name, key)
                    self.add(key, delay=1.0)
                if time.monotonic() - started > 0.01:
                    await asyncio.sleep(0)  # let watchers and HTTP handlers run between slow keys
