"""gpuconf.kube_api sends, call for call, the request the official client's generated classes send.

Both are pointed at a loopback server that records every request and answers 200 (or an error), through
a token kubeconfig loaded by gpuconf.kube.Kube.from_kubeconfig, as the suite loads it. The comparison
covers the method, the path, the query parameters (in any order), the Accept and Authorization
headers and the JSON body. One difference is on purpose: a request with a body says
`Content-Type: application/json`, as kubectl does; the generated 37.x classes send none (the API
server reads a body without one as JSON).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from kubernetes import client as generated
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from gpuconf.kube import Kube
from gpuconf.kube_api import Version, query_parameters

TOKEN = "t0ken-for-the-test"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gpu-resources"}}
DAEMONSET = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "ds"},
    "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [{"name": "c"}]}}},
}
JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "j"},
    "spec": {"template": {"spec": POD["spec"]}},
}
BACKGROUND = {"propagationPolicy": "Background"}


class Recorder(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []
        self.answer: tuple[int, bytes] = (200, b'{"kind": "Status", "gitVersion": "v1.36.0", "items": []}')


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        self.server.requests.append(
            {
                "method": self.command,
                "path": url.path,
                "query": sorted(parse_qsl(url.query)),
                "accept": self.headers.get("Accept"),
                "content-type": self.headers.get("Content-Type"),
                "authorization": self.headers.get("Authorization"),
                "body": json.loads(body) if body else None,
            }
        )
        status, payload = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _record

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def kube(recorder: Recorder, tmp_path: Path) -> Iterator[Kube]:
    kubeconfig = tmp_path / "kubeconfig"
    host = f"http://127.0.0.1:{recorder.server_address[1]}"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": host}}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    client = Kube.from_kubeconfig(kubeconfig)
    yield client
    client.close()


# (call id, ours, the generated client's) — each takes the Kube and makes one request.
Call = Callable[[Kube], Any]
CORE = generated.CoreV1Api
APPS = generated.AppsV1Api
BATCH = generated.BatchV1Api
WATCH_OPTIONS = {
    "label_selector": "name=nvidia-device-plugin-ds",
    "field_selector": "spec.nodeName=aks-gpunp-0",
    "resource_version": "42",
    "allow_watch_bookmarks": True,
    "timeout_seconds": 5,
    "watch": True,
}
CALLS: list[tuple[str, Call, Call]] = [
    (
        "list_node",
        lambda k: k.core.list_node(**WATCH_OPTIONS),
        lambda k: CORE(k.api_client).list_node(**WATCH_OPTIONS, _preload_content=False),
    ),
    (
        "read_node",
        lambda k: k.core.read_node("aks-gpunp-0"),
        lambda k: CORE(k.api_client).read_node("aks-gpunp-0", _preload_content=False),
    ),
    (
        "list_namespace",
        lambda k: k.core.list_namespace(limit=5, _continue="token"),
        lambda k: CORE(k.api_client).list_namespace(limit=5, _continue="token", _preload_content=False),
    ),
    (
        "create_namespace",
        lambda k: k.core.create_namespace(NAMESPACE),
        lambda k: CORE(k.api_client).create_namespace(NAMESPACE, _preload_content=False),
    ),
    (
        "delete_namespace",
        lambda k: k.core.delete_namespace("gpu-resources", body=BACKGROUND),
        lambda k: CORE(k.api_client).delete_namespace(
            "gpu-resources", body=generated.V1DeleteOptions(propagation_policy="Background")
        ),
    ),
    (
        "list_namespaced_pod",
        lambda k: k.core.list_namespaced_pod("gpu-resources", **WATCH_OPTIONS),
        lambda k: CORE(k.api_client).list_namespaced_pod(
            "gpu-resources", **WATCH_OPTIONS, _preload_content=False
        ),
    ),
    (
        "create_namespaced_pod",
        lambda k: k.core.create_namespaced_pod("default", POD),
        lambda k: CORE(k.api_client).create_namespaced_pod("default", POD, _preload_content=False),
    ),
    (
        "delete_namespaced_pod",
        lambda k: k.core.delete_namespaced_pod("p", "default", body=BACKGROUND),
        lambda k: CORE(k.api_client).delete_namespaced_pod(
            "p", "default", body=generated.V1DeleteOptions(propagation_policy="Background")
        ),
    ),
    (
        "read_namespaced_pod_log",
        lambda k: k.core.read_namespaced_pod_log("p", "default", container="c"),
        lambda k: CORE(k.api_client).read_namespaced_pod_log(
            "p", "default", container="c", _preload_content=False
        ),
    ),
    (
        "list_namespaced_event",
        lambda k: k.core.list_namespaced_event("default", field_selector="involvedObject.name=p"),
        lambda k: CORE(k.api_client).list_namespaced_event(
            "default", field_selector="involvedObject.name=p", _preload_content=False
        ),
    ),
    (
        "list_event_for_all_namespaces",
        lambda k: k.core.list_event_for_all_namespaces(),
        lambda k: CORE(k.api_client).list_event_for_all_namespaces(_preload_content=False),
    ),
    (
        "list_daemon_set_for_all_namespaces",
        lambda k: k.apps.list_daemon_set_for_all_namespaces(),
        lambda k: APPS(k.api_client).list_daemon_set_for_all_namespaces(_preload_content=False),
    ),
    (
        "list_namespaced_daemon_set",
        lambda k: k.apps.list_namespaced_daemon_set("gpu-resources", **WATCH_OPTIONS),
        lambda k: APPS(k.api_client).list_namespaced_daemon_set(
            "gpu-resources", **WATCH_OPTIONS, _preload_content=False
        ),
    ),
    (
        "create_namespaced_daemon_set",
        lambda k: k.apps.create_namespaced_daemon_set("gpu-resources", DAEMONSET),
        lambda k: APPS(k.api_client).create_namespaced_daemon_set(
            "gpu-resources", DAEMONSET, _preload_content=False
        ),
    ),
    (
        "delete_namespaced_daemon_set",
        lambda k: k.apps.delete_namespaced_daemon_set("ds", "gpu-resources", body=BACKGROUND),
        lambda k: APPS(k.api_client).delete_namespaced_daemon_set(
            "ds", "gpu-resources", body=generated.V1DeleteOptions(propagation_policy="Background")
        ),
    ),
    (
        "list_namespaced_job",
        lambda k: k.batch.list_namespaced_job("default", label_selector="job-name=j"),
        lambda k: BATCH(k.api_client).list_namespaced_job(
            "default", label_selector="job-name=j", _preload_content=False
        ),
    ),
    (
        "create_namespaced_job",
        lambda k: k.batch.create_namespaced_job("default", JOB),
        lambda k: BATCH(k.api_client).create_namespaced_job("default", JOB, _preload_content=False),
    ),
    (
        "delete_namespaced_job",
        lambda k: k.batch.delete_namespaced_job("j", "default", body=BACKGROUND),
        lambda k: BATCH(k.api_client).delete_namespaced_job(
            "j", "default", body=generated.V1DeleteOptions(propagation_policy="Background")
        ),
    ),
    (
        "version",
        lambda k: Version(k.api_client).get_code(),
        lambda k: generated.VersionApi(k.api_client).get_code(_preload_content=False),
    ),
]


@pytest.mark.parametrize(("ours", "theirs"), [(o, t) for _, o, t in CALLS], ids=[c[0] for c in CALLS])
def test_each_call_sends_what_the_generated_client_sends(
    recorder: Recorder, kube: Kube, ours: Call, theirs: Call
) -> None:
    ours(kube)
    theirs(kube)
    sent_by_us, sent_by_them = recorder.requests
    our_content_type = sent_by_us.pop("content-type")
    assert our_content_type == ("application/json" if sent_by_us["body"] is not None else None)
    assert sent_by_them.pop("content-type") in (None, "application/json")
    assert sent_by_us == sent_by_them
    assert sent_by_us["authorization"] == f"Bearer {TOKEN}"  # the kubeconfig's token reached the server


def test_the_watch_arguments_travel_as_the_api_spells_them(recorder: Recorder, kube: Kube) -> None:
    kube.core.list_namespaced_pod("gpu-resources", **WATCH_OPTIONS)
    assert recorder.requests[0]["path"] == "/api/v1/namespaces/gpu-resources/pods"
    assert dict(recorder.requests[0]["query"]) == {
        "labelSelector": "name=nvidia-device-plugin-ds",
        "fieldSelector": "spec.nodeName=aks-gpunp-0",
        "resourceVersion": "42",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "5",
        "watch": "true",
    }


def test_the_response_is_the_raw_one_the_suite_reads_as_json(kube: Kube) -> None:
    assert kube.read(kube.core.list_node) == {"kind": "Status", "gitVersion": "v1.36.0", "items": []}
    assert kube.server_version() == "v1.36.0"


def test_an_error_answer_raises_the_official_clients_api_exception(recorder: Recorder, kube: Kube) -> None:
    status = {
        "kind": "Status",
        "status": "Failure",
        "reason": "NotFound",
        "code": 404,
        "message": "nodes gone",
    }
    recorder.answer = (404, json.dumps(status).encode())
    with pytest.raises(ApiException) as ours:
        kube.core.read_node("gone")
    with pytest.raises(ApiException) as theirs:
        CORE(kube.api_client).read_node("gone", _preload_content=False)
    assert ours.value.status == theirs.value.status == 404
    assert ours.value.reason == theirs.value.reason
    assert json.loads(ours.value.body)["message"] == "nodes gone"
    assert kube.delete("Pod", "gone") is False  # Kube.delete reads a 404 as "already gone"


def test_the_official_watch_streams_from_our_methods(recorder: Recorder, kube: Kube) -> None:
    events = [
        {"type": "ADDED", "object": {"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "7"}}},
        {"type": "DELETED", "object": {"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "8"}}},
    ]
    recorder.answer = (200, "".join(json.dumps(e) + "\n" for e in events).encode())
    seen = list(
        watch.Watch().stream(
            kube.core.list_namespaced_pod, namespace="default", timeout_seconds=1, deserialize=False
        )
    )
    assert [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in seen] == [
        ("ADDED", "7"),
        ("DELETED", "8"),
    ]
    assert ("watch", "true") in recorder.requests[0]["query"]


def test_options_it_does_not_take_fail_loudly(recorder: Recorder, kube: Kube) -> None:
    with pytest.raises(TypeError, match="raw responses only"):
        kube.core.list_node(_preload_content=True)
    with pytest.raises(TypeError, match="does not take _async_req"):
        query_parameters({"_async_req": True})
    with pytest.raises(TypeError, match="does not take label_selectors"):  # a typo lists everything
        kube.core.list_namespaced_pod("default", label_selectors="app=x")
    with pytest.raises(ValueError, match="namespace must be a non-empty string, got None"):
        kube.core.list_namespaced_pod(None)  # type: ignore[arg-type]  # would list /namespaces/None
    assert recorder.requests == []  # refused before anything was sent


def test_an_answer_nobody_reads_still_frees_its_connection(recorder: Recorder, kube: Kube) -> None:
    """A delete's answer is never read by Kube.delete: the call reads it, so the pooled connection is
    reused rather than a new one opened (a new TLS handshake on AKS) per delete."""
    for name in ("a", "b", "c"):
        kube.delete("Pod", name, "default")
    host, port = recorder.server_address[:2]
    pool = kube.api_client.rest_client.pool_manager.connection_from_host(str(host), int(port), "http")
    assert pool.num_connections == 1
