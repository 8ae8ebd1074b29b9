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


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used (missing, malformed, no current context): a usage error."""


def validate_kubeconfig(path: Path) -> None:
    """Fail with one line if `path` is not a usable kubeconfig (before any client touches it)."""
    if not path.is_file():
        raise KubeconfigError(f"kubeconfig {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML: {first}") from None
    if not isinstance(data, dict) or not data.get("clusters") or not data.get("contexts"):
        raise KubeconfigError(f"kubeconfig {path} has no clusters or contexts")
    if not data.get("current-context"):
        raise KubeconfigError(f"kubeconfig {path} has no current-context")


@dataclass
class Kube:
    """The typed API groups the suites use, sharing one ApiClient."""

    api_client: client.ApiClient
    core: client.CoreV1Api = field(init=False)
    apps: client.AppsV1Api = field(init=False)
    batch: client.BatchV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.batch = client.BatchV1Api(self.api_client)

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
        """Call a typed read/list method and return the server's JSON (not a model object)."""
        response = method(*args, **kwargs, _preload_content=False)
        return json.loads(response.data)

    def server_version(self) -> str:
        return client.VersionApi(self.api_client).get_code().git_version

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
        response: Any = self.core.read_namespaced_pod_log(name, namespace, _preload_content=False, **kwargs)
        return response.data.decode("utf-8", errors="replace")

    # Writes ------------------------------------------------------------------------------
    def create(self, obj: Obj) -> Obj:
        """Create one manifest object (Namespace, DaemonSet, Job, Pod); AlreadyExists is an error."""
        # The typed client accepts JSON dicts as bodies; its annotations only name the model types.
        body: Any = normalize_quantities(obj)
        kind, namespace = obj["kind"], obj.get("metadata", {}).get("namespace", "default")
        creators = {
            "Namespace": lambda: self.core.create_namespace(body, _preload_content=False),
            "DaemonSet": lambda: self.apps.create_namespaced_daemon_set(
                namespace, body, _preload_content=False
            ),
            "Job": lambda: self.batch.create_namespaced_job(namespace, body, _preload_content=False),
            "Pod": lambda: self.core.create_namespaced_pod(namespace, body, _preload_content=False),
        }
        if kind not in creators:
            raise ValueError(f"gpuconf cannot create a {kind}; supported: {', '.join(creators)}")
        response: Any = creators[kind]()
        return json.loads(response.data)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete with background propagation (what kubectl does); False if it was already gone."""
        ns = namespace or "default"
        body = client.V1DeleteOptions(propagation_policy="Background")
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


def normalize_quantities(obj: Obj) -> Obj:
    """Resource quantities as strings, as the API stores them.

    The article writes `nvidia.com/gpu: 1` unquoted; kubectl sends that fine, but the official client
    (37.x) validates request bodies and refuses a number where a Quantity string belongs."""
    spec = obj.get("spec", {})
    pod_spec = spec.get("template", {}).get("spec", spec)
    for container in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
        resources = container.get("resources") or {}
        for section in ("limits", "requests"):
            if resources.get(section):
                resources[section] = {k: str(v) for k, v in resources[section].items()}
    return obj


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
