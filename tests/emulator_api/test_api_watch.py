"""Watch semantics: resume, 410, bookmarks, initial events, selectors, timeouts, dropped watches."""

from __future__ import annotations

import threading
import time

from gpuconf.emulator.testing import ServerHandle
from tests.emulator_api.conftest import WATCH_TIMEOUT_S
from tests.emulator_api.raw_http import WatchStream, request

CMS = "/api/v1/namespaces/default/configmaps"


def _create(api_server: ServerHandle, name: str, labels: dict | None = None) -> dict:
    body = {"metadata": {"name": name, "labels": labels or {}}}
    return api_server.call(api_server.server.store.create, "configmaps", body, namespace="default")


def _rv(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])


def test_watch_resumes_after_a_resource_version_in_order(api_server: ServerHandle):
    first = _create(api_server, "a")
    _create(api_server, "b")
    _create(api_server, "c")
    with WatchStream(api_server.url, f"{CMS}?watch=true&resourceVersion={_rv(first)}") as stream:
        events = [stream.next() for _ in range(2)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b"), ("ADDED", "c")]
    assert _rv(events[0]["object"]) < _rv(events[1]["object"])


def test_watch_without_resource_version_starts_with_current_state(api_server: ServerHandle):
    _create(api_server, "existing")
    with WatchStream(api_server.url, f"{CMS}?watch=1") as stream:
        first = stream.next()
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "existing")
        _create(api_server, "later")
        assert stream.next()["object"]["metadata"]["name"] == "later"


def test_compacted_resource_version_is_gone(api_server: ServerHandle):
    old = _create(api_server, "a")
    _create(api_server, "b")
    api_server.call(api_server.server.store.compact)
    with WatchStream(api_server.url, f"{CMS}?watch=true&resourceVersion={_rv(old)}") as stream:
        event = stream.next()
        assert stream.next() is None
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"


def test_send_initial_events_ends_with_the_marked_bookmark(api_server: ServerHandle):
    _create(api_server, "a")
    _create(api_server, "b")
    path = (
        f"{CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    )
    with WatchStream(api_server.url, path) as stream:
        events = [stream.next() for _ in range(3)]
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    bookmark = events[2]["object"]
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert bookmark["kind"] == "ConfigMap"
    status, _, body = request(api_server.url, "GET", f"{CMS}?watch=true&sendInitialEvents=true")
    assert status == 422 and "sendInitialEvents" in body["message"]


# Enough initial state that the server cannot have sent it all before the client reads: the
# client's receive buffer is pinned small, so the server's writes stall on a full socket while
# other requests (the concurrent writes) are served.
BIG_OBJECTS, BIG_VALUE_BYTES, CLIENT_RCVBUF_BYTES = 48, 256 * 1024, 16 * 1024
LATE_WRITES = 20
WRITER_TIMEOUT_S = 30.0


def test_resuming_from_the_initial_events_end_bookmark_loses_no_concurrent_write(api_server: ServerHandle):
    value = "x" * BIG_VALUE_BYTES
    store = api_server.server.store
    for i in range(BIG_OBJECTS):
        body = {"metadata": {"name": f"big-{i:02d}"}, "data": {"v": value}}
        listed_at = _rv(api_server.call(store.create, "configmaps", body, namespace="default"))
    path = (
        f"{CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    )
    late = [f"late-{i:02d}" for i in range(LATE_WRITES)]
    written: list[int] = []
    with WatchStream(api_server.url, path, receive_buffer=CLIENT_RCVBUF_BYTES) as stream:
        # Headers arrived: the server has listed the state and subscribed. While it is still
        # pushing the initial events into a full socket, another client writes.
        writer = threading.Thread(target=lambda: written.extend(_rv(_create(api_server, n)) for n in late))
        writer.start()
        writer.join(WRITER_TIMEOUT_S)
        assert not writer.is_alive(), f"the concurrent writes did not finish within {WRITER_TIMEOUT_S}s"
        initial = [stream.next() for _ in range(BIG_OBJECTS)]
        bookmark = stream.next()
        after = [e for e in (stream.next() for _ in range(LATE_WRITES)) if e["type"] != "BOOKMARK"]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in initial] == [
        ("ADDED", f"big-{i:02d}") for i in range(BIG_OBJECTS)
    ]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    # The bookmark names the state the initial events represent (KEP-3157: "the ResourceVersion
    # corresponding to the set of objects"), not whatever the store reached meanwhile ...
    assert _rv(bookmark["object"]) == listed_at
    assert written == list(range(listed_at + 1, listed_at + 1 + LATE_WRITES))
    # ... and everything written after it follows on the same stream, in order.
    assert [e["object"]["metadata"]["name"] for e in after] == late[: len(after)]
    # A client that drops the connection right at the bookmark and resumes from it misses nothing.
    _create(api_server, "sentinel")
    with WatchStream(
        api_server.url, f"{CMS}?watch=true&resourceVersion={_rv(bookmark['object'])}"
    ) as resumed:
        replayed = []
        while not replayed or replayed[-1] != "sentinel":
            replayed.append(resumed.next()["object"]["metadata"]["name"])
    assert replayed == [*late, "sentinel"]


def test_idle_watch_gets_progress_bookmarks(api_server: ServerHandle):
    created = _create(api_server, "a")
    with WatchStream(
        api_server.url, f"{CMS}?watch=true&allowWatchBookmarks=true&resourceVersion={_rv(created)}"
    ) as s:
        event = s.next()  # the fixture's server sends one every 0.2 s
    assert event["type"] == "BOOKMARK" and _rv(event["object"]) >= _rv(created)


def test_label_selector_watch_reports_objects_entering_and_leaving(api_server: ServerHandle):
    start = _create(api_server, "x")
    with WatchStream(
        api_server.url, f"{CMS}?watch=true&labelSelector=gpu%3Dyes&resourceVersion={_rv(start)}"
    ) as s:
        store = api_server.server.store
        api_server.call(
            store.patch,
            "configmaps",
            "x",
            {"metadata": {"labels": {"gpu": "yes"}}},
            "application/merge-patch+json",
            namespace="default",
        )
        api_server.call(
            store.patch,
            "configmaps",
            "x",
            {"metadata": {"labels": {"gpu": "no"}}},
            "application/merge-patch+json",
            namespace="default",
        )
        assert [s.next()["type"], s.next()["type"]] == ["ADDED", "DELETED"]


def test_timeout_seconds_ends_the_watch(api_server: ServerHandle):
    began = time.monotonic()
    with WatchStream(api_server.url, f"{CMS}?watch=true&resourceVersion=1&timeoutSeconds=1") as stream:
        assert stream.next() is None
    assert 0.9 <= time.monotonic() - began < WATCH_TIMEOUT_S


def test_drop_watches_closes_every_open_stream(api_server: ServerHandle):
    path = f"{CMS}?watch=true&resourceVersion=1&allowWatchBookmarks=true"
    streams = [WatchStream(api_server.url, path) for _ in range(5)]
    try:
        # A bookmark on each stream proves its watch is registered on the server.
        assert [s.next()["type"] for s in streams] == ["BOOKMARK"] * 5
        assert api_server.call(api_server.server.drop_watches) == 5
        for stream in streams:
            event = stream.next()
            while event is not None and event["type"] == "BOOKMARK":  # bounded: the stream is closing
                event = stream.next()
            assert event is None
    finally:
        for stream in streams:
            stream.close()


def test_table_watch_sends_column_definitions_once(api_server: ServerHandle):
    start = _create(api_server, "a")
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    with WatchStream(
        api_server.url, f"{CMS}?watch=true&resourceVersion={_rv(start) - 1}", accept=accept
    ) as s:
        _create(api_server, "b")
        first, second = s.next(), s.next()
    assert first["object"]["kind"] == "Table" and first["object"]["columnDefinitions"]
    assert second["object"]["columnDefinitions"] == []
    assert second["object"]["rows"][0]["cells"][0] == "b"


def test_watch_on_an_object_path_sees_only_that_object(api_server: ServerHandle):
    start = _create(api_server, "mine")
    with WatchStream(api_server.url, f"{CMS}/mine?watch=true&resourceVersion={_rv(start)}") as stream:
        _create(api_server, "other")
        store = api_server.server.store
        api_server.call(
            store.patch,
            "configmaps",
            "mine",
            {"data": {"a": "b"}},
            "application/merge-patch+json",
            namespace="default",
        )
        event = stream.next()
    assert (event["type"], event["object"]["metadata"]["name"]) == ("MODIFIED", "mine")
