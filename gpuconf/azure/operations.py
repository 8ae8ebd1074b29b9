"""Run ARM long-running operations, several at once, with a deadline and one progress line each.

Each operation runs on its own daemon thread (start the LRO, wait for its poller); the caller's
thread waits on a queue with a timeout, so it stays responsive to Ctrl-C/SIGTERM, prints progress
lines (what, elapsed, state) every `progress_every_s`, and gives up at the deadline. Daemon
threads, because a create still polling after Ctrl-C must not keep the interpreter alive: teardown
deletes the resource and ARM ends that operation as Canceled on its own.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from azure.core.polling import LROPoller

from gpuconf.azure.verdicts import ArmTimeout

log = logging.getLogger("gpuconf.azure")


@dataclass
class ProgressLog:
    """One line per event, to a stream (stderr: visible under pytest's capture) and the logger."""

    stream: TextIO | None = field(default_factory=lambda: sys.stderr)
    prefix: str = "[gpuconf aks]"

    def line(self, message: str) -> None:
        log.info("%s", message)
        if self.stream is not None:
            self.stream.write(f"{self.prefix} {message}\n")
            self.stream.flush()


@dataclass
class LongOperation:
    """`start` sends the initial request and returns the SDK poller; `what` names it in every line."""

    what: str
    start: Callable[[], LROPoller[Any]]
    headers: dict[str, str] = field(default_factory=dict)  # custom headers sent (for error verdicts)
    poller: LROPoller[Any] | None = None
    started: float = 0.0

    def state(self) -> str:
        return self.poller.status() if self.poller is not None else "Requesting"

    def run(self, timeout_s: float) -> Any:
        self.started = time.monotonic()
        self.poller = self.start()
        result = self.poller.result(timeout=timeout_s)
        if not self.poller.done():
            raise ArmTimeout(self.what, timeout_s, self.state())
        return result


def run_all(
    operations: list[LongOperation],
    *,
    timeout_s: float,
    progress_every_s: float,
    progress: ProgressLog,
    translate: Callable[[Exception, LongOperation], Exception] | None = None,
) -> list[Any]:
    """Run the operations in parallel; return their results in order or raise the first failure
    (passed through `translate`, which turns SDK errors into verdicts)."""
    outcomes: queue.Queue[tuple[int, bool, Any]] = queue.Queue()

    def worker(index: int, op: LongOperation) -> None:
        try:
            outcomes.put((index, True, op.run(timeout_s)))
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread, which raises it
            outcomes.put((index, False, err))

    began = time.monotonic()
    deadline = began + timeout_s
    for index, op in enumerate(operations):
        progress.line(f"{op.what}: started")
        threading.Thread(target=worker, args=(index, op), name=f"arm:{op.what}", daemon=True).start()
    results: dict[int, Any] = {}
    while len(results) < len(operations):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            late = next(op for i, op in enumerate(operations) if i not in results)
            raise ArmTimeout(late.what, timeout_s, late.state())
        try:
            index, ok, value = outcomes.get(timeout=min(progress_every_s, remaining))
        except queue.Empty:
            for i, op in enumerate(operations):
                if i not in results:
                    progress.line(f"{op.what}: {time.monotonic() - began:.0f}s elapsed, state {op.state()}")
            continue
        op = operations[index]
        if not ok:
            progress.line(f"{op.what}: failed after {time.monotonic() - began:.0f}s")
            if translate is not None and isinstance(value, Exception):
                raise translate(value, op) from value
            raise value
        results[index] = value
        progress.line(f"{op.what}: {op.state()} after {time.monotonic() - began:.0f}s")
    return [results[i] for i in range(len(operations))]
