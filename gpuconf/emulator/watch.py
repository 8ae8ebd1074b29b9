"""Watch plumbing: the bounded event log (for resuming from a resourceVersion) and per-watcher queues.

Every write gets the next global resourceVersion and exactly one log entry, so entry i of the log
has resourceVersion `first + i`: resuming is an index computation, not a search. The log keeps a
window of recent events; resuming from before the window is 410 Gone, like an etcd compaction.

Writers never wait for watchers: fan-out appends to each matching watcher's bounded deque and wakes
it. A watcher that falls `queue_limit` events behind is closed (the client re-lists), which is what
kube-apiserver does to a watcher too slow to drain its channel.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpuconf.emulator.interface import ApiError

Obj = dict[str, Any]


class WatchEvent(dict):
    """`{"type": ..., "object": ...}` that serialises once however many watchers send it."""

    _encoded: bytes | None = None

    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = json.dumps(self, separators=(",", ":")).encode() + b"\n"
        return self._encoded


@dataclass(frozen=True)
class LogEntry:
    rv: int
    resource: str
    namespace: str
    type: str  # ADDED / MODIFIED / DELETED
    obj: Obj  # the object after the change (for DELETED: as it was deleted)
    old: Obj | None  # the object before the change (None for ADDED)


class Subscription:
    """One watcher: filters the store's changes and hands them out in resourceVersion order."""

    def __init__(
        self,
        resource: str,
        namespace: str | None,
        matches: Callable[[Obj], bool],
        queue_limit: int,
        on_close: Callable[[Subscription], None],
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self._matches = matches
        self._queue: deque[WatchEvent] = deque()
        self._queue_limit = queue_limit
        self._wakeup = asyncio.Event()
        self._on_close = on_close
        self.closed = False
        self.overflowed = False

    def offer(self, entry: LogEntry) -> None:
        """Called by the store for every change of this resource type; never blocks."""
        if self.closed or (self.namespace is not None and entry.namespace != self.namespace):
            return
        event_type = self._event_type(entry)
        if event_type is None:
            return
        if len(self._queue) >= self._queue_limit:
            self.overflowed = True
            self.close()
            return
        self._queue.append(WatchEvent(type=event_type, object=entry.obj))
        self._wakeup.set()

    def _event_type(self, entry: LogEntry) -> str | None:
        # A selector watch sees an object enter (ADDED) or leave (DELETED) its selection on
        # MODIFIED, exactly as the watch cache reports label changes.
        now = self._matches(entry.obj)
        if entry.type != "MODIFIED":
            return entry.type if now else None
        before = entry.old is not None and self._matches(entry.old)
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        return "DELETED" if before else None

    def push(self, event: WatchEvent) -> None:
        """Queue a synthetic event (initial ADDED events, bookmarks) ahead of later changes."""
        self._queue.append(event)
        self._wakeup.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Obj:
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._queue.popleft()

    async def next_event(self, timeout: float) -> WatchEvent | None:
        """The next event, or None when `timeout` seconds pass first; StopAsyncIteration once closed."""
        try:
            event = await asyncio.wait_for(self.__anext__(), timeout)
            return event if isinstance(event, WatchEvent) else WatchEvent(event)
        except TimeoutError:
            return None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # Dropping what is queued loses nothing: the client resumes from the last resourceVersion
        # it received and the event log replays the rest.
        self._queue.clear()
        self._wakeup.set()
        self._on_close(self)


class EventLog:
    """The last `window` changes, indexed by resourceVersion."""

    def __init__(self, window: int) -> None:
        self._entries: deque[LogEntry] = deque()
        self._window = window
        self.compacted = 0  # resourceVersions <= this are gone

    def append(self, entry: LogEntry) -> None:
        self._entries.append(entry)
        while len(self._entries) > self._window:
            self.compacted = self._entries.popleft().rv

    def compact(self, through: int) -> None:
        """Forget everything up to `through` (tests and fault injection use this to provoke 410)."""
        while self._entries and self._entries[0].rv <= through:
            self.compacted = self._entries.popleft().rv
        self.compacted = max(self.compacted, through)

    def since(self, rv: int) -> list[LogEntry]:
        """Entries with resourceVersion > rv; 410 Gone if some of them were compacted away."""
        if rv < self.compacted:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({self.compacted + 1})")
        if not self._entries:
            return []
        start = max(0, rv + 1 - self._entries[0].rv)
        return [self._entries[i] for i in range(start, len(self._entries))]
