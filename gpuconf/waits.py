"""The one wait helper every step uses: list + watch with a deadline (ARCHITECTURE principle 3).

Why not poll: every existing GPU conformance tool polls (50 ms to 20 s), which adds half an interval
of latency to every step and load on the API server. Here a wait lists once, then watches from that
list's resourceVersion, so it wakes on the change itself; a 410 Gone (our resourceVersion was
compacted) means "re-list and watch again", never an error.

    result = wait_for(
        core.list_namespaced_pod, namespace="gpu", label_selector="app=x",
        until=lambda pods: pods and all(p["status"].get("phase") == "Succeeded" for p in pods),
        timeout=timeouts.job_complete, timeout_name="job_complete",
        describe="the workload pod to complete", summarize=summarize_pod,
        fail_fast=pod_failure_reason,
    )

`until` sees the current objects (JSON dicts, fresh from the server) matching the list query and
returns a truthy value when done; `fail_fast` sees each changed object (after `until`: a condition
that holds wins) and returns a reason string for a permanent failure (ImagePullBackOff,
Unschedulable for lack of GPUs, Job Failed, ...), which ends the wait at once instead of burning
the timeout. The result carries the fresh objects and a
timeline of every state transition seen, for the reports. A timeout's first line names the last state
seen (`...; last state: node X Ready=False (KubeletNotReady: ...)`), so the one line a summary shows
already says what the wait was stuck on.

An overloaded API server answers 429 or 5xx with Retry-After; client-go (kubectl) waits and retries
such answers, and so does a wait here for its own list and watch requests (within its deadline).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ReadTimeoutError

Obj = dict[str, Any]
Progress = Callable[[str], None]

# A watch request is re-issued at least this often so a silently dead connection cannot eat the
# whole deadline; the server ends it cleanly with timeoutSeconds.
MAX_WATCH_WINDOW_S = 30
PROGRESS_EVERY_S = 5.0
# Answers that mean "not now, ask again" (client-go retries these when they carry Retry-After).
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
DEFAULT_RETRY_AFTER_S = 1.0
MAX_RETRY_AFTER_S = 10.0
# How much of the last state goes into a timeout's first line (the summary shows that line only).
HEADLINE_OBJECTS = 3
HEADLINE_SUMMARY_CHARS = 200


class WaitError(AssertionError):
    """A wait ended without its condition: timeout or a permanent failure state.

    An AssertionError on purpose: in a suite it is the step's failure, reported with its evidence."""

    def __init__(self, message: str, *, objects: Sequence[Obj], timeline: list[tuple[float, str]]):
        super().__init__(message)
        self.objects = list(objects)
        self.timeline = timeline


class WaitTimeout(WaitError):
    pass


class WaitFailed(WaitError):
    pass


@dataclass
class WaitResult:
    objects: list[Obj]  # the matching objects when the condition held (fresh from the server)
    value: Any  # what `until` returned
    elapsed_s: float
    timeline: list[tuple[float, str]] = field(default_factory=list)
    requests: int = 0  # API requests the wait cost (lists + watches)

    @property
    def object(self) -> Obj | None:
        return self.objects[0] if self.objects else None


def _key(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def default_summary(obj: Obj) -> str:
    return f"{obj.get('kind', 'object')} {obj.get('metadata', {}).get('name')} seen"


def trimmed_yaml(obj: Obj, limit: int = 60) -> str:
    """The object as YAML without managedFields, cut to `limit` lines (for failure messages)."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    text = yaml.safe_dump({**obj, "metadata": meta}, sort_keys=False, default_flow_style=False)
    lines = text.splitlines()
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more lines)"]
    return "\n".join(lines)


def retry_after_s(error: ApiException) -> float:
    """The server's Retry-After (seconds) on a 429/5xx answer; 1 s when it sent none."""
    headers = getattr(error, "headers", None) or {}
    raw = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        seconds = float(raw) if raw is not None else DEFAULT_RETRY_AFTER_S
    except (TypeError, ValueError):
        seconds = DEFAULT_RETRY_AFTER_S
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, ApiException) and error.status in RETRYABLE_STATUS


def api_error_text(error: ApiException) -> str:
    """`500 InternalError: etcdserver: request timed out` from an ApiException's Status body."""
    reason, message = str(error.reason or ""), ""
    try:
        body = json.loads(error.body) if error.body else {}
    except (TypeError, ValueError):
        body = {}
    if isinstance(body, dict):
        reason = str(body.get("reason") or reason)
        message = str(body.get("message") or "")
    return f"{error.status} {reason}" + (f": {message}" if message else "")


def headline_state(objects: Sequence[Obj], summarize: Callable[[Obj], str]) -> str:
    """`last state: <summary>; <summary> (+N more)` for a timeout's first line."""
    if not objects:
        return "last state: no matching object"
    shown = []
    for obj in sorted(objects, key=_key)[:HEADLINE_OBJECTS]:
        try:
            text = summarize(obj)
        except Exception:  # noqa: BLE001 - a summary must never hide the timeout itself
            text = default_summary(obj)
        text = " ".join(text.split())
        if len(text) > HEADLINE_SUMMARY_CHARS:
            text = text[: HEADLINE_SUMMARY_CHARS - 3] + "..."
        shown.append(text)
    more = len(objects) - len(shown)
    return "last state: " + "; ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def _list(lister: Callable[..., Any], query: dict[str, Any]) -> tuple[dict[str, Obj], str]:
    response = lister(**query, _preload_content=False)
    data = json.loads(response.data)
    items = {_key(item): item for item in data.get("items", [])}
    # Lists carry the kind only on the list itself; restore it on each item for summaries.
    kind = data.get("kind", "")
    if kind.endswith("List"):
        for item in items.values():
            item.setdefault("kind", kind[: -len("List")])
    return items, data.get("metadata", {}).get("resourceVersion", "")


def wait_for(
    lister: Callable[..., Any],
    *,
    until: Callable[[list[Obj]], Any],
    timeout: float,
    timeout_name: str,
    describe: str,
    summarize: Callable[[Obj], str] = default_summary,
    fail_fast: Callable[[Obj], str | None] | None = None,
    progress: Progress | None = None,
    recent_events: Callable[[], str] | None = None,
    recheck_every_s: float | None = None,
    **query: Any,
) -> WaitResult:
    """Wait until `until(objects)` is truthy; raise WaitTimeout / WaitFailed with the evidence.

    `lister` is a list function of the official client (e.g. CoreV1Api.list_node); `query` its
    arguments (namespace=, label_selector=, field_selector=). `timeout_name` is the name of the
    budget in gpuconf.timeouts, quoted in the failure so the user knows what to stretch.
    `recheck_every_s`: also re-run `fail_fast` on every object and `until` on them all at least this
    often when nothing changes (a watch ends after that long and resumes from its resourceVersion):
    for conditions that turn true with time alone ("Ready for 5 s", "unchanged for a settle period").
    """
    __tracebackhide__ = True
    start = time.monotonic()
    deadline = start + timeout
    timeline: list[tuple[float, str]] = []
    last_summary: dict[str, str] = {}
    requests = 0
    last_progress = start
    state: dict[str, Obj] = {}

    def elapsed() -> float:
        return time.monotonic() - start

    def observe(obj: Obj, deleted: bool = False) -> None:
        key = _key(obj)
        summary = f"{summarize(obj)} (deleted)" if deleted else summarize(obj)
        if last_summary.get(key) != summary:
            last_summary[key] = summary
            timeline.append((round(elapsed(), 3), summary))

    def check() -> WaitResult | None:
        objects = list(state.values())
        value = until(objects)
        if value:
            return WaitResult(objects, value, elapsed(), timeline, requests)
        return None

    def failed(obj: Obj) -> None:
        reason = fail_fast(obj) if fail_fast else None
        if reason:
            raise WaitFailed(
                _message(f"gave up waiting for {describe}: {reason}", obj_list(), recent_events),
                objects=obj_list(),
                timeline=timeline,
            )

    def obj_list() -> list[Obj]:
        return list(state.values())

    last_api_error: list[str] = []  # the latest retryable answer, for a timeout's message

    def timed_out() -> WaitTimeout:
        headline = (
            f"timed out after {elapsed():.1f}s ({timeout_name}={timeout:g}s) waiting for {describe}; "
            + headline_state(obj_list(), summarize)
        )
        if last_api_error:
            headline += f"; last API error: {last_api_error[-1]}"
        return WaitTimeout(
            _message(headline, obj_list(), recent_events, timeline),
            objects=obj_list(),
            timeline=timeline,
        )

    def back_off(error: ApiException, what: str) -> None:
        """A 429/5xx: note it, wait what the server asked (never past the deadline)."""
        text = api_error_text(error)
        last_api_error.append(text)
        delay = min(retry_after_s(error), max(deadline - time.monotonic(), 0.0))
        timeline.append(
            (round(elapsed(), 3), f"API server answered {what} with {text}; retrying in {delay:g}s")
        )
        time.sleep(delay)  # the server's own Retry-After: what client-go waits too

    while True:
        try:
            state, resource_version = _list(lister, query)
        except ApiException as error:
            requests += 1
            if not is_retryable(error):
                raise
            if time.monotonic() >= deadline:
                raise timed_out() from None
            back_off(error, "a list")
            if time.monotonic() >= deadline:
                raise timed_out() from None
            continue
        requests += 1
        for obj in state.values():
            observe(obj)
        # The condition first: once it holds there is nothing left to wait for, even if an object is
        # also in a state fail_fast would stop on (a pod bound to its node, then refused its image,
        # has been scheduled: a later step fails on the image, deterministically).
        done = check()
        if done:
            return done
        for obj in state.values():
            failed(obj)
        relist = False
        while not relist:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timed_out()
            window = max(1, min(MAX_WATCH_WINDOW_S, math.ceil(remaining)))
            # The server's timeoutSeconds is whole seconds; a shorter recheck ends the watch on the
            # client side instead (a read timeout: the window is over, resume from resourceVersion).
            read_timeout: float = window + 10
            if recheck_every_s:
                window = max(1, min(window, math.ceil(recheck_every_s)))
                read_timeout = min(read_timeout, recheck_every_s) if recheck_every_s < 1 else read_timeout
            watcher = watch.Watch()
            requests += 1
            try:
                for event in watcher.stream(
                    lister,
                    **query,
                    resource_version=resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=window,
                    _request_timeout=read_timeout,
                    deserialize=False,
                ):
                    kind, obj = event["type"], event["object"]
                    resource_version = obj.get("metadata", {}).get("resourceVersion", resource_version)
                    if kind == "BOOKMARK":
                        continue
                    if kind == "DELETED":
                        state.pop(_key(obj), None)
                        observe(obj, deleted=True)
                    else:
                        state[_key(obj)] = obj
                        observe(obj)
                    done = check()
                    if done:
                        watcher.stop()
                        return done
                    if kind != "DELETED":
                        failed(obj)
                    if progress and time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                        last_progress = time.monotonic()
                        progress(f"waiting for {describe}: {elapsed():.0f}s, last: {timeline[-1][1]}")
                    if time.monotonic() >= deadline:
                        break
            except ReadTimeoutError:
                if not (recheck_every_s and recheck_every_s < 1):
                    raise
            except ApiException as error:
                if error.status == 410:
                    relist = True  # our resourceVersion was compacted: list again
                elif is_retryable(error):
                    back_off(error, "a watch")
                    relist = True
                else:
                    raise
            finally:
                watcher.stop()
            if recheck_every_s and not relist:
                done = check()
                if done:
                    return done
                for obj in list(state.values()):
                    failed(obj)
            if progress and not relist and time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                last = timeline[-1][1] if timeline else "nothing yet"
                progress(f"waiting for {describe}: {elapsed():.0f}s, last: {last}")


def _message(
    headline: str,
    objects: list[Obj],
    recent_events: Callable[[], str] | None,
    timeline: list[tuple[float, str]] | None = None,
) -> str:
    parts = [headline]
    if timeline:
        parts.append("timeline:\n" + "\n".join(f"  +{t:.2f}s {what}" for t, what in timeline[-15:]))
    if objects:
        parts.append("last seen:\n" + "\n---\n".join(trimmed_yaml(o, 40) for o in objects[:3]))
    else:
        parts.append("last seen: no matching object")
    if recent_events:
        try:
            events = recent_events()
        except Exception as error:  # evidence gathering must not hide the real failure
            events = f"(could not read events: {error})"
        if events:
            parts.append("recent events:\n" + events)
    return "\n".join(parts)
