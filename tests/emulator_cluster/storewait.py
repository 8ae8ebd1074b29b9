"""Waiting on the in-process store by watch (no polling, no sleeps), for the cluster's own tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gpuconf.emulator.interface import ClusterAPI

Obj = dict[str, Any]

# Named timeouts: controller reactions are milliseconds; process starts take ~0.5 s on 2 cores.
CONTROLLER_REACTION_S = 5.0
POD_START_S = 20.0


async def wait_for(
    api: ClusterAPI,
    resource: str,
    predicate: Callable[[list[Obj]], Any],
    *,
    timeout: float,
    describe: str,
    namespace: str | None = None,
) -> Any:
    """Wait until predicate(all objects of the resource) is truthy; return its value.

    Re-evaluated on every watch event; raises AssertionError naming what was awaited and the last
    objects seen.
    """
    items, rv = api.list(resource, namespace=namespace)
    result = predicate(items)
    if result:
        return result
    subscription = api.subscribe(resource, namespace=namespace, since=rv)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            await asyncio.wait_for(anext(subscription), timeout=remaining)
            items, _ = api.list(resource, namespace=namespace)
            result = predicate(items)
            if result:
                return result
    except (TimeoutError, StopAsyncIteration):
        items, _ = api.list(resource, namespace=namespace)
        brief = [{"name": i["metadata"]["name"], "status": i.get("status")} for i in items][:5]
        raise AssertionError(
            f"timed out after {timeout}s waiting for {describe}; last {resource}: {brief}"
        ) from None
    finally:
        subscription.close()


async def wait_for_version(
    api: ClusterAPI,
    resource: str,
    predicate: Callable[[Obj], Any],
    *,
    since: int,
    timeout: float,
    describe: str,
    namespace: str | None = None,
) -> Obj:
    """Wait for a change after resourceVersion `since` whose object satisfies predicate; return it.

    wait_for re-lists and so sees only the latest state; this sees every version in order, so a
    state that lasts a few milliseconds (a node advertising no GPU while its plugin restarts) is
    not missed. The returned object's resourceVersion is the `since` for the next step.
    """
    subscription = api.subscribe(resource, namespace=namespace, since=since)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = 0
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            event = await asyncio.wait_for(anext(subscription), timeout=remaining)
            seen += 1
            if predicate(event["object"]):
                return dict(event["object"])
    except (TimeoutError, StopAsyncIteration):
        raise AssertionError(
            f"timed out after {timeout}s waiting for {describe} ({seen} {resource} changes since "
            f"resourceVersion {since}, none matched)"
        ) from None
    finally:
        subscription.close()


def named(name: str) -> Callable[[list[Obj]], Obj | None]:
    return lambda items: next((i for i in items if i["metadata"]["name"] == name), None)


def events_for(api: ClusterAPI, name: str, namespace: str = "default") -> list[tuple[str, str, str]]:
    """(type, reason, message) of the events about object `name`, oldest first."""
    events, _ = api.list("events", namespace=namespace)
    events.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [(e["type"], e["reason"], e["message"]) for e in events if e["involvedObject"].get("name") == name]
