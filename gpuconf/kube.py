"""Kubernetes access for the suites: clients from a kubeconfig, applying manifests, reading state.

Everything goes through the official Python client against "a Kubernetes API at a kubeconfig", so
the same code drives the embedded emulator, kind, any existing cluster and AKS. Objects are read as
plain JSON dicts (what the server sent), which is what the checks and the reports want.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.util.retry import Retry

from gpuconf.kube_api import AppsV1, BatchV1, CoreV1, Version
from gpuconf.kubeconfig_check import KubeconfigError, validate_kubeconfig

Obj = dict[str, Any]
API_RETRIES = 10  # an overloaded server may answer "not now" this many times in a row per request


class RetryAfterAnswers(Retry):
    """client-go's rule: a 429 or 5xx answer that carries Retry-After is retried, whatever the verb
    (the server says it did not process the request), after the time it asks for. The official
    Python client does not do this by itself; kubectl does."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return bool(self.total) and has_retry_after and (status_code == 429 or 500 <= status_code <= 599)


def api_retries() -> Retry:
    return RetryAfterAnswers(
        total=API_RETRIES,
        connect=3,
        read=0,
        redirect=0,
        status=API_RETRIES,
        other=0,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


@dataclass
class Kube:
    """The API groups the suites use, sharing one ApiClient (gpuconf.kube_api: why not the generated ones)."""

    api_client: client.ApiClient
    core: CoreV1 = field(init=False)
    apps: AppsV1 = field(init=False)
    batch: BatchV1 = field(init=False)

    def __post_init__(self) -> None:
        self.core = CoreV1(self.api_client)
        self.apps = AppsV1(self.api_client)
        self.batch = BatchV1(self.api_client)

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Kube:
        validate_kubeconfig(path)
        configuration = client.Configuration()
        try:
            config.load_kube_config(config_file=str(path), client_configuration=configuration)
        except config.ConfigException as error:
            raise KubeconfigError(f"kubeconfig {path}: {error}") from None
        configuration.retries = api_retries()
        return cls(client.ApiClient(configuration))

    def close(self) -> None:
        self.api_client.close()

    # Reads as JSON dicts -------------------------------------------------------------------
    def read(self, method: Any, *args: Any, **kwargs: Any) -> Obj:
        """Call a read/list method and return the server's JSON."""
        response = method(*args, **kwargs, _preload_content=False)
        return json.loads(response.data)

    def server_version(self) -> str:
        return str(self.read(Version(self.api_client).get_code).get("gitVersion", ""))

    def nodes(self) -> list[Obj]:
        return self.read(self.core.list_node)["items"]

    def pods(self, namespace: str, label_selector: str = "") -> list[Obj]:
        return self.read(self.core.list_namespaced_pod, namespace, label_selector=label_selector)["items"]

    def events_text(self, namespace: str | None, limit: int = 20) -> str:
        """The most recent events, one line each, oldest first (for failure messages)."""
        if namespace:
            events = self.read(self.core.list_namespaced_event, namespace)["items"]
        else:
            events = self.read(self.core.list_event_for_all_namespaces)["items"]
        events.sort(key=event_time)
        return "\n".join(format_event(e) for e in events[-limit:])

    def pod_log(self, name: str, namespace: str, container: str | None = None) -> str:
        kwargs: dict[str, Any] = {"container": container} if container else {}
        response = self.core.read_namespaced_pod_log(name, namespace, **kwargs)
        return response.data.decode("utf-8", errors="replace")

    # Writes ------------------------------------------------------------------------------
    def create(self, obj: Obj) -> Obj:
        """Create one manifest object (Namespace, DaemonSet, Job, Pod); AlreadyExists is an error."""
        # Sent as written (the article's `nvidia.com/gpu: 1` stays a number), as kubectl sends it.
        kind, namespace = obj["kind"], obj.get("metadata", {}).get("namespace", "default")
        creators = {
            "Namespace": lambda: self.core.create_namespace(obj),
            "DaemonSet": lambda: self.apps.create_namespaced_daemon_set(namespace, obj),
            "Job": lambda: self.batch.create_namespaced_job(namespace, obj),
            "Pod": lambda: self.core.create_namespaced_pod(namespace, obj),
        }
        if kind not in creators:
            raise ValueError(f"gpuconf cannot create a {kind}; supported: {', '.join(creators)}")
        response = creators[kind]()
        return json.loads(response.data)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete with background propagation (what kubectl does); False if it was already gone."""
        ns = namespace or "default"
        body = {"propagationPolicy": "Background"}
        deleters = {
            "Namespace": lambda: self.core.delete_namespace(name, body=body),
            "DaemonSet": lambda: self.apps.delete_namespaced_daemon_set(name, ns, body=body),
            "Job": lambda: self.batch.delete_namespaced_job(name, ns, body=body),
            "Pod": lambda: self.core.delete_namespaced_pod(name, ns, body=body),
        }
        try:
            deleters[kind]()
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True


def load_manifest(path: Path, namespace: str | None = None) -> list[Obj]:
    """The YAML documents of a manifest file, optionally moved into `namespace`."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except yaml.YAMLError as error:
        raise ValueError(f"manifest {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "metadata" not in doc:
            raise ValueError(f"manifest {path} holds a document without kind/metadata")
        if namespace and doc["kind"] != "Namespace":
            doc["metadata"]["namespace"] = namespace
    return docs


def event_time(event: Obj) -> str:
    return (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or event.get("metadata", {}).get("creationTimestamp")
        or ""
    )


def format_event(event: Obj) -> str:
    involved = event.get("involvedObject", {})
    return (
        f"{event_time(event)} {event.get('type', '')} {event.get('reason', '')} "
        f"{involved.get('kind', '')}/{involved.get('name', '')}: {event.get('message', '')}"
    )


def condition(obj: Obj, kind: str) -> Obj | None:
    """A status condition looked up by type (never conditions[0])."""
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def gpu_quantity(node: Obj, field_name: str, resource: str = "nvidia.com/gpu") -> int:
    value = node.get("status", {}).get(field_name, {}).get(resource)
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0
