"""The Kubernetes API calls the suite makes, sent through the official client's ApiClient.

The methods have the names and arguments of the official client's generated CoreV1Api, AppsV1Api
and BatchV1Api (`list_namespaced_pod(namespace, label_selector=...)`, `_request_timeout`), so
gpuconf.waits and the official Watch take either. Two things differ, on purpose:

- They always return the raw urllib3 response: the suite reads the server's JSON itself
  (gpuconf.kube.Kube.read), as it did with `_preload_content=False` on the generated classes.
- They do not import the generated model classes. In kubernetes 37 those are pydantic models, and
  importing the three API classes builds ~300 of them: 0.8 s of CPU at the start of every run, for
  request validation the suite never relied on (bench/results/issue8.md).

Everything else is the official client's own: kubeconfig loading, authentication (bearer tokens,
exec plugins, client certificates), TLS, retries, and ApiException for an error answer.
"""

from __future__ import annotations

import re
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

Obj = dict[str, Any]
JSON = "application/json"


class ApiGroup:
    """One API group's calls on a shared ApiClient."""

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client

    def _call(self, verb: str, path: str, *, body: Any = None, **options: Any) -> Any:
        """`path` names its {namespace} and {name}; they are taken from `options`."""
        path_params = {key: options.pop(key) for key in ("namespace", "name") if "{" + key + "}" in path}
        for key, value in path_params.items():
            if not value or not isinstance(value, str):
                raise ValueError(f"gpuconf.kube_api: {key} must be a non-empty string, got {value!r}")
        streams = bool(options.get("watch") or options.get("follow"))
        timeout = options.pop("_request_timeout", None)
        if options.pop("_preload_content", False):
            raise TypeError("gpuconf.kube_api returns raw responses only (_preload_content=False)")
        headers = {"Accept": JSON}
        if body is not None:
            headers["Content-Type"] = JSON
        request = self.api_client.param_serialize(
            method=verb,
            resource_path=path,
            path_params=path_params,
            query_params=query_parameters(options),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],  # what every generated method names: kubeconfig tokens
        )
        response = self.api_client.call_api(*request, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        if not streams:
            # Read the whole answer now (urllib3 keeps it for `.data`): only then does the connection
            # go back to the pool, also for a caller that never reads it (a delete).
            response.response.data  # noqa: B018
        return response.response


# The query options of the calls below, as the generated methods name them (list/watch, read, log,
# create, delete): anything else is a typo that the server would silently ignore.
QUERY_OPTIONS = frozenset(
    {
        "pretty", "label_selector", "field_selector", "resource_version", "resource_version_match",
        "allow_watch_bookmarks", "timeout_seconds", "watch", "limit", "_continue", "send_initial_events",
        "container", "follow", "previous", "since_seconds", "tail_lines", "timestamps", "limit_bytes",
        "dry_run", "field_manager", "field_validation", "grace_period_seconds", "orphan_dependents",
        "propagation_policy",
    }
)  # fmt: skip


def query_parameters(options: dict[str, Any]) -> list[tuple[str, Any]]:
    """`label_selector="a=b", _continue="x"` -> [("labelSelector", "a=b"), ("continue", "x")]."""
    unknown = sorted(set(options) - QUERY_OPTIONS)
    if unknown:
        raise TypeError(f"gpuconf.kube_api does not take {', '.join(unknown)}")
    return [(wire_name(name), value) for name, value in options.items() if value is not None]


def wire_name(option: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m[1].upper(), option.lstrip("_"))


POD = "/api/v1/namespaces/{namespace}/pods/{name}"
DAEMONSETS = "/apis/apps/v1/namespaces/{namespace}/daemonsets"
JOBS = "/apis/batch/v1/namespaces/{namespace}/jobs"


class CoreV1(ApiGroup):
    def list_node(self, **options: Any) -> Any:
        return self._call("GET", "/api/v1/nodes", **options)

    def read_node(self, name: str, **options: Any) -> Any:
        return self._call("GET", "/api/v1/nodes/{name}", name=name, **options)

    def list_namespace(self, **options: Any) -> Any:
        return self._call("GET", "/api/v1/namespaces", **options)

    def create_namespace(self, body: Obj, **options: Any) -> Any:
        return self._call("POST", "/api/v1/namespaces", body=body, **options)

    def delete_namespace(self, name: str, body: Obj | None = None, **options: Any) -> Any:
        return self._call("DELETE", "/api/v1/namespaces/{name}", name=name, body=body, **options)

    def list_namespaced_pod(self, namespace: str, **options: Any) -> Any:
        return self._call("GET", "/api/v1/namespaces/{namespace}/pods", namespace=namespace, **options)

    def create_namespaced_pod(self, namespace: str, body: Obj, **options: Any) -> Any:
        return self._call(
            "POST", "/api/v1/namespaces/{namespace}/pods", namespace=namespace, body=body, **options
        )

    def delete_namespaced_pod(
        self, name: str, namespace: str, body: Obj | None = None, **options: Any
    ) -> Any:
        return self._call("DELETE", POD, name=name, namespace=namespace, body=body, **options)

    def read_namespaced_pod_log(self, name: str, namespace: str, **options: Any) -> Any:
        return self._call("GET", POD + "/log", name=name, namespace=namespace, **options)

    def list_namespaced_event(self, namespace: str, **options: Any) -> Any:
        return self._call("GET", "/api/v1/namespaces/{namespace}/events", namespace=namespace, **options)

    def list_event_for_all_namespaces(self, **options: Any) -> Any:
        return self._call("GET", "/api/v1/events", **options)


class AppsV1(ApiGroup):
    def list_daemon_set_for_all_namespaces(self, **options: Any) -> Any:
        return self._call("GET", "/apis/apps/v1/daemonsets", **options)

    def list_namespaced_daemon_set(self, namespace: str, **options: Any) -> Any:
        return self._call("GET", DAEMONSETS, namespace=namespace, **options)

    def create_namespaced_daemon_set(self, namespace: str, body: Obj, **options: Any) -> Any:
        return self._call("POST", DAEMONSETS, namespace=namespace, body=body, **options)

    def delete_namespaced_daemon_set(
        self, name: str, namespace: str, body: Obj | None = None, **options: Any
    ) -> Any:
        return self._call(
            "DELETE", DAEMONSETS + "/{name}", name=name, namespace=namespace, body=body, **options
        )


class BatchV1(ApiGroup):
    def list_namespaced_job(self, namespace: str, **options: Any) -> Any:
        return self._call("GET", JOBS, namespace=namespace, **options)

    def create_namespaced_job(self, namespace: str, body: Obj, **options: Any) -> Any:
        return self._call("POST", JOBS, namespace=namespace, body=body, **options)

    def delete_namespaced_job(
        self, name: str, namespace: str, body: Obj | None = None, **options: Any
    ) -> Any:
        return self._call("DELETE", JOBS + "/{name}", name=name, namespace=namespace, body=body, **options)


class Version(ApiGroup):
    def get_code(self, **options: Any) -> Any:
        return self._call("GET", "/version/", **options)
