"""Randomized malformed and hostile requests never get a 5xx and never take the server down."""

from __future__ import annotations

import http.client
import json
import random

from gpuconf.emulator.testing import ServerHandle
from tests.emulator_api.raw_http import connect, request

SEED = 20261128
REQUESTS = 1200

_SEGMENTS = [
    "api",
    "apis",
    "v1",
    "apps",
    "batch",
    "namespaces",
    "default",
    "pods",
    "nodes",
    "jobs",
    "daemonsets",
    "status",
    "log",
    "binding",
    "finalize",
    "events",
    "leases",
    "coordination.k8s.io",
    "configmaps",
    "x",
    "..",
    "%00",
    "%ff",
    "%C3%BC",
    "a" * 300,
    "",
    "openapi",
    "v3",
    "version",
    "watch",
    "*",
]
_QUERIES = [
    "labelSelector=a in (",
    "labelSelector==b",
    "labelSelector=app=a b",
    "labelSelector=!!x",
    "fieldSelector=spec.bogus=1",
    "fieldSelector=metadata.name",
    "fieldSelector=a==b==c",
    "limit=-1",
    "limit=abc",
    "limit=99999999999999999999",
    "continue=%%%",
    "continue=eyJydiI6Im5vIn0=",
    "resourceVersion=abc",
    "resourceVersion=-5",
    "watch=maybe",
    "timeoutSeconds=x",
    "dryRun=Some",
    "propagationPolicy=Sideways",
    "gracePeriodSeconds=soon",
    "fieldValidation=Loud",
    "force=perhaps",
    "container=",
    "tailLines=-3",
    "follow=yes",
    "includeObject=All",
    "sendInitialEvents=true",
]
_CONTENT_TYPES = [
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/vnd.kubernetes.protobuf",
    "text/html",
    "application/xml",
    "",
]


def _body(rng: random.Random) -> bytes:
    kind = rng.randrange(12)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 200))
    if kind == 1:
        return b'{"metadata": {"name": "x"'  # truncated JSON
    if kind == 2:
        return json.dumps(rng.choice([[], "str", 5, None, True, [1, {"a": 1}]])).encode()
    if kind == 3:
        return ("[" * 5000 + "]" * 5000).encode()  # deep nesting
    if kind == 4:
        return json.dumps(
            {
                "metadata": {"name": rng.choice(["Bad_Name", "", "a" * 400, 7, None])},
                "spec": rng.choice([[], "x", {"containers": "nope"}, {"containers": [{"name": []}]}]),
            }
        ).encode()
    if kind == 5:
        return json.dumps(
            [
                {
                    "op": rng.choice(["add", "remove", "explode", "test"]),
                    "path": rng.choice(["", "/", "/metadata/~2", "/spec/containers/99", 5]),
                }
            ]
        ).encode()
    if kind == 6:
        return b"k8s\x00" + rng.randbytes(rng.randrange(0, 64))  # junk protobuf envelope
    if kind == 7:
        return json.dumps({"apiVersion": "apps/v1", "kind": "Pod", "metadata": {"name": "mismatch"}}).encode()
    if kind == 8:
        return json.dumps(
            {
                "metadata": {"name": "q", "labels": {"bad key!": "v"}},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "i",
                            "resources": {"limits": {"cpu": "lots", "nvidia.com/gpu": [1]}},
                        }
                    ]
                },
            }
        ).encode()
    if kind == 9:
        return b"NaN"
    if kind == 10:
        return b"key: [unclosed\n\t- tab"
    return json.dumps({"metadata": {"name": f"ok{rng.randrange(50)}"}, "data": {"k": "v"}}).encode()


def _request(rng: random.Random) -> tuple[str, str, bytes, dict[str, str]]:
    method = rng.choices(
        ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND"],
        weights=[3, 4, 3, 5, 2, 1, 1, 1],
    )[0]
    path = "/" + "/".join(rng.choice(_SEGMENTS) for _ in range(rng.randrange(0, 7)))
    if rng.random() < 0.75:
        # Mostly well-formed paths, so the requests reach the verbs' validation rather than routing.
        path = rng.choice(
            [
                "/api/v1/namespaces/default/configmaps",
                "/api/v1/namespaces/default/pods",
                "/apis/apps/v1/namespaces/default/daemonsets",
                "/api/v1/nodes",
                "/apis/batch/v1/namespaces/default/jobs/j",
                "/api/v1/namespaces/default/pods/p/log",
                "/api/v1/namespaces/default/pods/p/binding",
                "/api/v1/namespaces/default/configmaps/ok1",
                "/api/v1/namespaces/x/status",
                "/apis/apps/v1/namespaces/default/daemonsets/d/status",
            ]
        )
    query = "&".join(q.replace(" ", "%20") for q in rng.sample(_QUERIES, rng.randrange(0, 3)))
    if "watch=" not in query and rng.random() < 0.1:
        query += "&watch=maybe"
    body = _body(rng) if method in ("POST", "PUT", "PATCH", "DELETE") else b""
    headers = {"Content-Type": rng.choice(_CONTENT_TYPES)}
    if rng.random() < 0.2:
        headers["Accept"] = rng.choice(
            [
                "application/json;as=Table;v=v1;g=meta.k8s.io",
                "*/*",
                "text/html",
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            ]
        )
    return method, path + ("?" + query if query else ""), body, headers


def _seed_targets(api_server: ServerHandle) -> None:
    """The objects the well-formed paths name, so hostile writes reach validation, not just 404."""
    store = api_server.server.store
    pod_spec = {"containers": [{"name": "c", "image": "x:1"}]}
    template = {"metadata": {"labels": {"app": "d"}}, "spec": pod_spec}
    for resource, body in (
        ("namespaces", {"metadata": {"name": "x"}}),
        ("configmaps", {"metadata": {"name": "ok1"}}),
        ("pods", {"metadata": {"name": "p"}, "spec": pod_spec}),
        (
            "jobs",
            {
                "metadata": {"name": "j"},
                "spec": {"template": {"spec": dict(pod_spec, restartPolicy="Never")}},
            },
        ),
        (
            "daemonsets",
            {
                "metadata": {"name": "d"},
                "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": template},
            },
        ),
    ):
        api_server.call(
            store.create, resource, body, namespace=None if resource == "namespaces" else "default"
        )


def test_a_thousand_hostile_requests_get_no_5xx(api_server: ServerHandle):
    _seed_targets(api_server)
    rng = random.Random(SEED)
    statuses: dict[int, int] = {}
    failures = []
    conn = connect(api_server.url)
    try:
        for i in range(REQUESTS):
            method, path, body, headers = _request(rng)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.HTTPException, ConnectionError):
                conn.close()  # the server may close a connection after a malformed request: reconnect
                conn = connect(api_server.url)
                continue
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status >= 500:
                failures.append(
                    f"#{i} {method} {path} {headers} body={body[:80]!r} -> "
                    f"{response.status} {payload[:200]!r}"
                )
            elif response.status >= 400 and method != "HEAD":
                assert json.loads(payload)["kind"] == "Status", f"#{i} {method} {path}: error is not a Status"
    finally:
        conn.close()
    assert not failures, f"seed {SEED}: {len(failures)} 5xx answers, first: {failures[:3]}"
    assert sum(statuses.values()) >= 1000, statuses
    assert request(api_server.url, "GET", "/version")[0] == 200  # still alive and serving


def test_oversized_body_is_413(api_server: ServerHandle):
    huge = json.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * (4 * 1024 * 1024)}}).encode()
    status, _, body = request(
        api_server.url,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        huge,
        {"Content-Type": "application/json"},
    )
    assert status == 413 and body["reason"] == "RequestEntityTooLarge"
