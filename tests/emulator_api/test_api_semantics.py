"""Object semantics over HTTP: deletion, finalizers, namespaces, field validation, faults, discovery."""

from __future__ import annotations

import asyncio
import json

import pytest

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.store import Store
from gpuconf.emulator.tables import human_duration, pod_status_reason
from gpuconf.emulator.testing import ServerHandle, running_server
from tests.emulator_api.conftest import CASCADE_TIMEOUT_S
from tests.emulator_api.raw_http import WatchStream, request

JSON = {"Content-Type": "application/json"}


def _post(api_server: ServerHandle, path: str, body: dict, query: str = "") -> tuple[int, dict, dict]:
    return request(api_server.url, "POST", path + query, json.dumps(body).encode(), JSON)


def _watch_until_deleted(api_server: ServerHandle, path: str, name: str, since: str) -> None:
    with WatchStream(
        api_server.url, f"{path}?watch=true&resourceVersion={since}", timeout=CASCADE_TIMEOUT_S
    ) as s:
        while True:  # bounded by the stream's read timeout
            event = s.next()
            assert event is not None, f"watch ended before {name} was deleted"
            if event["type"] == "DELETED" and event["object"]["metadata"]["name"] == name:
                return


def test_finalizers_hold_deletion_until_removed(api_server: ServerHandle):
    cms = "/api/v1/namespaces/default/configmaps"
    status, _, created = _post(
        api_server, cms, {"metadata": {"name": "held", "finalizers": ["example.com/x"]}}
    )
    assert status == 201
    status, _, deleting = request(api_server.url, "DELETE", f"{cms}/held")
    assert status == 200 and deleting["metadata"]["deletionTimestamp"]
    status, _, still = request(api_server.url, "GET", f"{cms}/held")
    assert status == 200 and still["metadata"]["finalizers"] == ["example.com/x"]
    added = dict(still, metadata=dict(still["metadata"], finalizers=["example.com/x", "example.com/y"]))
    status, _, refused = request(api_server.url, "PUT", f"{cms}/held", json.dumps(added).encode(), JSON)
    assert status == 422 and "no new finalizers" in refused["message"]
    patch = json.dumps({"metadata": {"finalizers": None}}).encode()
    status, _, _ = request(
        api_server.url, "PATCH", f"{cms}/held", patch, {"Content-Type": "application/merge-patch+json"}
    )
    assert status == 200
    assert request(api_server.url, "GET", f"{cms}/held")[0] == 404


def test_terminating_namespace_refuses_new_content_and_waits_for_finalizers(api_server: ServerHandle):
    assert _post(api_server, "/api/v1/namespaces", {"metadata": {"name": "gone"}})[0] == 201
    cms = "/api/v1/namespaces/gone/configmaps"
    _, _, held = _post(api_server, cms, {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    status, _, ns = request(api_server.url, "DELETE", "/api/v1/namespaces/gone")
    assert status == 200 and ns["status"]["phase"] == "Terminating"
    status, _, refused = _post(api_server, cms, {"metadata": {"name": "new"}})
    assert status == 403 and "because it is being terminated" in refused["message"]
    assert request(api_server.url, "GET", "/api/v1/namespaces/gone")[2]["status"]["phase"] == "Terminating"
    patch = json.dumps({"metadata": {"finalizers": None}}).encode()
    request(api_server.url, "PATCH", f"{cms}/held", patch, {"Content-Type": "application/merge-patch+json"})
    _watch_until_deleted(api_server, "/api/v1/namespaces", "gone", held["metadata"]["resourceVersion"])
    assert request(api_server.url, "GET", "/api/v1/namespaces/gone")[0] == 404


def test_create_in_a_missing_namespace_is_not_found(api_server: ServerHandle):
    status, _, body = _post(api_server, "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "a"}})
    assert status == 404 and body["message"] == 'namespaces "nope" not found'


def test_field_validation_strict_warn_and_ignore(api_server: ServerHandle):
    cms = "/api/v1/namespaces/default/configmaps"
    body = {"metadata": {"name": "a"}, "data": {"k": "v"}, "bogus": 1}
    status, _, strict = _post(api_server, cms, body, "?fieldValidation=Strict")
    assert status == 400 and strict["message"] == 'strict decoding error: unknown field "bogus"'
    status, headers, created = _post(api_server, cms, body)
    assert status == 201 and "bogus" not in created
    assert headers["Warning"] == '299 - "unknown field \\"bogus\\""'
    status, _, bad = _post(api_server, cms, {"metadata": {"name": "b"}}, "?fieldValidation=Loud")
    assert status == 400 and "fieldValidation" in bad["message"]


def test_wrong_scalar_types_are_bad_requests(api_server: ServerHandle):
    status, _, body = _post(
        api_server,
        "/api/v1/namespaces/default/pods",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": 5, "image": "x"}]}},
    )
    assert status == 400 and "spec.containers[0].name" in body["message"]


def test_binary_data_is_base64_and_anything_else_is_a_bad_request(api_server: ServerHandle):
    cms = "/api/v1/namespaces/default/configmaps"
    status, _, created = _post(api_server, cms, {"metadata": {"name": "bin"}, "binaryData": {"k": "AAEC"}})
    assert status == 201 and created["binaryData"] == {"k": "AAEC"}
    status, _, body = _post(
        api_server, cms, {"metadata": {"name": "bad"}, "binaryData": {"k": "not base64!"}}
    )
    assert status == 400 and "illegal base64 data in field binaryData.k" in body["message"]


def test_job_default_deletion_orphans_with_a_warning(api_server: ServerHandle):
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "c", "image": "x:1"}], "restartPolicy": "Never"}}
        },
    }
    assert _post(api_server, "/apis/batch/v1/namespaces/default/jobs", job)[0] == 201
    status, headers, _ = request(api_server.url, "DELETE", "/apis/batch/v1/namespaces/default/jobs/j")
    assert status == 200 and "child pods are preserved by default" in headers["Warning"]


def test_delete_preconditions_conflict(api_server: ServerHandle):
    _post(api_server, "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "a"}})
    options = json.dumps({"preconditions": {"uid": "not-the-uid"}}).encode()
    status, _, body = request(
        api_server.url, "DELETE", "/api/v1/namespaces/default/configmaps/a", options, JSON
    )
    assert status == 409 and "Precondition failed: UID in precondition: not-the-uid" in body["message"]


def test_request_faults_answer_with_the_injected_status(api_server: ServerHandle):
    def throttle(req):
        return (
            ApiError(429, "TooManyRequests", "slow down", retry_after_seconds=1)
            if "configmaps" in req.path
            else None
        )

    api_server.call(api_server.server.request_faults.append, throttle)
    status, headers, body = request(api_server.url, "GET", "/api/v1/namespaces/default/configmaps")
    assert status == 429 and headers["Retry-After"] == "1" and body["reason"] == "TooManyRequests"
    assert request(api_server.url, "GET", "/api/v1/namespaces")[0] == 200
    api_server.call(api_server.server.request_faults.clear)
    assert request(api_server.url, "GET", "/api/v1/namespaces/default/configmaps")[0] == 200


def test_discovery_documents_agree_with_served_resources(api_server: ServerHandle):
    _, _, core = request(api_server.url, "GET", "/api/v1")
    assert core["groupVersion"] == "v1"
    names = {r["name"] for r in core["resources"]}
    assert {"pods", "pods/log", "pods/status", "pods/binding", "nodes", "namespaces", "events"} <= names
    _, _, apis = request(api_server.url, "GET", "/apis")
    assert {g["name"] for g in apis["groups"]} == {"apps", "batch", "coordination.k8s.io"}
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    status, headers, aggregated = request(api_server.url, "GET", "/apis", headers={"Accept": accept})
    assert status == 200 and headers["Content-Type"] == accept
    batch = next(i for i in aggregated["items"] if i["metadata"]["name"] == "batch")
    assert batch["versions"][0]["resources"][0]["resource"] == "jobs"
    _, _, version = request(api_server.url, "GET", "/version")
    assert version["gitVersion"].endswith("-gpuconf-emulated")
    _, _, openapi = request(api_server.url, "GET", "/openapi/v3")
    doc_path = openapi["paths"]["apis/apps/v1"]["serverRelativeURL"]
    _, _, document = request(api_server.url, "GET", doc_path)
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}"]["patch"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}


def _pod(status: dict, deleting: bool = False) -> dict:
    meta = {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"}
    if deleting:
        meta["deletionTimestamp"] = "2020-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"containers": [{"name": "c"}]}, "status": status}


@pytest.mark.parametrize(
    ("status", "deleting", "shown"),
    [
        (
            {
                "phase": "Pending",
                "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}],
            },
            False,
            "ContainerCreating",
        ),
        (
            {"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ErrImagePull"}}}]},
            False,
            "ErrImagePull",
        ),
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    {"restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ],
            },
            False,
            "CrashLoopBackOff",
        ),
        (
            {"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"reason": "Completed"}}}]},
            False,
            "Completed",
        ),
        (
            {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 2}}}]},
            False,
            "ExitCode:2",
        ),
        (
            {"phase": "Running", "containerStatuses": [{"ready": True, "state": {"running": {}}}]},
            True,
            "Terminating",
        ),
    ],
)
def test_pod_status_column_matches_kubectl(status: dict, deleting: bool, shown: str):
    assert pod_status_reason(_pod(status, deleting))[0] == shown


def test_human_duration_matches_kubernetes():
    assert [
        human_duration(s) for s in (5, 119, 125, 600, 3 * 3600 + 60, 9 * 3600, 50 * 3600, 400 * 86400)
    ] == ["5s", "119s", "2m5s", "10m", "3h1m", "9h", "2d2h", "400d"]


def test_deletecollection_deletes_only_the_selection(api_server: ServerHandle):
    cms = "/api/v1/namespaces/default/configmaps"
    for name, labels in (("a", {"tier": "gpu"}), ("b", {"tier": "gpu"}), ("c", {"tier": "cpu"})):
        _post(api_server, cms, {"metadata": {"name": name, "labels": labels}})
    status, _, deleted = request(api_server.url, "DELETE", f"{cms}?labelSelector=tier%3Dgpu")
    assert status == 200 and deleted["kind"] == "ConfigMapList"
    _, _, left = request(api_server.url, "GET", cms)
    assert [c["metadata"]["name"] for c in left["items"]] == ["c"]


def test_a_watcher_too_slow_to_drain_is_closed_without_slowing_the_writer():
    async def scenario() -> tuple[bool, int]:
        store = Store(watch_queue_limit=3)
        watcher = store.subscribe("configmaps", namespace="default")
        for i in range(5):  # nobody reads: the fourth change overflows the watcher's queue
            store.create("configmaps", {"metadata": {"name": f"c{i}"}}, namespace="default")
        events = [event async for event in watcher]
        return watcher.overflowed, len(events)

    overflowed, delivered = asyncio.run(scenario())
    assert overflowed and delivered == 0  # closed: the client must re-list, as after a real overflow


def test_a_port_in_use_fails_to_start_with_an_os_error(api_server: ServerHandle):
    with pytest.raises(OSError), running_server(port=api_server.server.port):
        raise AssertionError("a second server started on a port already in use")


def test_a_continue_token_older_than_the_compaction_is_gone(api_server: ServerHandle):
    cms = "/api/v1/namespaces/default/configmaps"
    for i in range(3):
        _post(api_server, cms, {"metadata": {"name": f"c{i}"}})
    _, _, page = request(api_server.url, "GET", f"{cms}?limit=1")
    token = page["metadata"]["continue"]
    assert page["metadata"]["remainingItemCount"] == 2
    _post(api_server, cms, {"metadata": {"name": "later"}})
    api_server.call(api_server.server.store.compact)
    status, _, body = request(api_server.url, "GET", f"{cms}?limit=1&continue={token}")
    assert status == 410 and body["reason"] == "Expired"
    status, _, body = request(api_server.url, "GET", f"{cms}?limit=1&continue=not-a-token")
    assert status == 400 and "continue key is not valid" in body["message"]
