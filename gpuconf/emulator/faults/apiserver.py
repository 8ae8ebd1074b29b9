"""apiserver-flaky: an overloaded API server for a while (429/500 with Retry-After, dropped watches).

Real API servers shed load with 429 TooManyRequests and, behind a struggling etcd, answer 500 with a
Retry-After header; both tell well-behaved clients (client-go, kubectl) to wait and retry. Watches
are cut when an apiserver instance restarts. The fault starts its window at the first client
request, so the cluster's own start-up is never affected, and ends on its own.

Every injected answer and every cut is logged (a WARNING line starting `fault apiserver-flaky:`, in
`serve`'s output: the emulated backend's emulator.log), and so is the window's end with its totals, so
a run that rode the fault out can show that it really met it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from gpuconf.emulator.interface import ApiError

HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
LOG_PREFIX = "fault apiserver-flaky:"
log = logging.getLogger(__name__)


@dataclass
class FlakyTiming:
    window_s: float = 8.0  # how long the server misbehaves after the first client request
    fail_every: int = 3  # every Nth request in the window fails
    retry_after_s: int = 1  # what Retry-After tells the client
    drop_watches_every_s: float = 2.0  # how often open watches are cut in the window


class FlakyApiServer:
    """A request fault for ApiServer.request_faults plus a timer that drops watches."""

    def __init__(self, server: Any, timing: FlakyTiming) -> None:
        if timing.fail_every < 1:
            raise ValueError(f"fail_every must be >= 1, got {timing.fail_every}")
        self.server = server
        self.timing = timing
        self.requests = 0
        self.failed = 0
        self.watches_dropped = 0
        self._window_end: float | None = None
        self._summarized = False
        self._dropper: asyncio.Task[None] | None = None

    def install(self) -> None:
        self.server.request_faults.append(self)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.server.request_faults.remove(self)
        if self._dropper is not None:
            self._dropper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dropper
            self._dropper = None

    def in_window(self) -> bool:
        loop = asyncio.get_running_loop()
        return self._window_end is not None and loop.time() < self._window_end

    def __call__(self, request: Any) -> ApiError | None:
        if request.path in HEALTH_PATHS:
            return None
        loop = asyncio.get_running_loop()
        if self._window_end is None:
            self._window_end = loop.time() + self.timing.window_s
            self._dropper = loop.create_task(self._drop_watches(), name="fault-apiserver-flaky")
        if not self.in_window():
            self._summarize()
            return None
        self.requests += 1
        if self.requests % self.timing.fail_every:
            return None
        self.failed += 1
        retry = self.timing.retry_after_s
        # Alternate the two overload answers a client meets in practice.
        if self.failed % 2:
            error = ApiError(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
                retry_after_seconds=retry,
            )
        else:
            error = ApiError(
                500,
                "InternalError",
                "Internal error occurred: etcdserver: request timed out",
                retry_after_seconds=retry,
            )
        log.warning(
            "%s answered %s %s to %s %s (Retry-After %ss)",
            LOG_PREFIX,
            error.code,
            error.reason,
            getattr(request, "method", "?"),
            getattr(request, "path_qs", getattr(request, "path", "?")),
            retry,
        )
        return error

    def _summarize(self) -> None:
        """Once, after the window: what the fault did in all."""
        if self._summarized or self._window_end is None:
            return
        self._summarized = True
        log.warning(
            "%s window of %gs over: %d of %d requests answered 429/500, %d watch(es) cut",
            LOG_PREFIX,
            self.timing.window_s,
            self.failed,
            self.requests,
            self.watches_dropped,
        )

    async def _drop_watches(self) -> None:
        """Cut every open watch periodically until the window closes (bounded by window_s)."""
        while self.in_window():
            await asyncio.sleep(self.timing.drop_watches_every_s)  # a period, not a synchronisation
            if self.in_window():
                cut = self.server.drop_watches()
                self.watches_dropped += cut
                if cut:
                    log.warning("%s cut %d open watch(es)", LOG_PREFIX, cut)
