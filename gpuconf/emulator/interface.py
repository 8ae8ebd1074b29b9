"""The in-process contract between the embedded API server and everything that runs beside it.

Controllers, emulated kubelets, the container runtime and the fault injector never talk HTTP to
the API server of their own process: they call an object satisfying `ClusterAPI`. The HTTP
handlers call exactly the same methods, so validation, defaulting, admission, resourceVersion
bumps and watch notifications happen once, on one code path, and every watcher (kubectl, the
official client, a controller) sees every change.

Resources are named by their plural, as in URLs: "namespaces", "nodes", "pods", "events",
"daemonsets", "jobs", "configmaps", "serviceaccounts", "leases". Objects are plain dicts in their
JSON form (as the wire carries them), always including apiVersion and kind.

Everything here runs on the server's single asyncio event loop: the write methods are plain
synchronous functions (an in-memory store needs no awaits) and never block on slow watchers;
subscriptions are async iterators fed through per-watcher queues.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

Obj = dict[str, Any]


class ApiError(Exception):
    """A Kubernetes API failure; the HTTP layer turns it into a `Status` object verbatim.

    `reason` is the Kubernetes StatusReason (NotFound, AlreadyExists, Conflict, Invalid,
    BadRequest, MethodNotAllowed, Gone, Forbidden, TooManyRequests, InternalError, ...).
    `causes` (for Invalid) are `{"reason": "FieldValueRequired", "field": "spec.template", "message": ...}`.
    """

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        group: str | None = None,
        causes: list[dict[str, str]] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = causes or []
        self.retry_after_seconds = retry_after_seconds

    def status(self) -> Obj:
        """The `Status` object a real API server sends for this error."""
        details: Obj = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group is not None:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        if self.retry_after_seconds is not None:
            details["retryAfterSeconds"] = self.retry_after_seconds
        status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            status["details"] = details
        return status


class WatchSubscription(Protocol):
    """Events after a resourceVersion, as `{"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": obj}`.

    Iterating yields events in resourceVersion order; `close()` ends the iteration and frees the
    queue. A subscriber too slow to keep up is closed by the server (its queue is bounded), which
    is what a real API server does to a slow watcher: the client re-lists.
    """

    def __aiter__(self) -> AsyncIterator[Obj]: ...

    async def __anext__(self) -> Obj: ...

    def close(self) -> None: ...


class ClusterAPI(Protocol):
    """What controllers, kubelets and the runtime call; the HTTP handlers call the same methods."""

    def create(self, resource: str, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Validate, default and store a new object; raises ApiError 409 AlreadyExists / 422 Invalid."""
        ...

    def get(self, resource: str, name: str, *, namespace: str | None = None) -> Obj:
        """A deep copy of the stored object; raises ApiError 404 NotFound."""
        ...

    def list(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[Obj], int]:
        """Matching objects (deep copies) and the store's current resourceVersion."""
        ...

    def update(
        self, resource: str, obj: Obj, *, namespace: str | None = None, subresource: str | None = None
    ) -> Obj:
        """Replace an object (or only its status with subresource="status").

        A resourceVersion in obj.metadata that is not the stored one raises 409 Conflict; an empty
        one means "unconditional" as in Kubernetes. Spec changes bump metadata.generation.
        """
        ...

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
    ) -> Obj:
        """Apply a patch in one of the four Kubernetes content types (merge, json, strategic, apply)."""
        ...

    def delete(
        self,
        resource: str,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Obj | None = None,
    ) -> Obj:
        """Delete (or mark for deletion when finalizers or foreground deletion hold it)."""
        ...

    def subscribe(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        since: int | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> WatchSubscription:
        """Watch events with resourceVersion > since (None: from now); 410 Gone if since is compacted."""
        ...


class PodLogProvider(Protocol):
    """Where the container runtime keeps container output, for `GET pods/{name}/log`."""

    def log_path(self, namespace: str, pod: str, container: str, *, previous: bool = False) -> Path | None:
        """The file holding that container's output, or None if it has not started (the API answers 400)."""
        ...

    def is_running(self, namespace: str, pod: str, container: str) -> bool:
        """True while the container may still write (a `follow=true` stream ends when this turns False)."""
        ...
