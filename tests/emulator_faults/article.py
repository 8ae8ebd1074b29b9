"""Drive the article's steps against an emulated cluster with the official Python client.

Waits re-read the objects on every watch event (no polling sleeps) and end at a named timeout.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, dynamic, watch

from gpuconf.emulator.cluster import ClusterThread, fast_test_options, running_cluster
from gpuconf.emulator.runtime.process import live_process_groups

Obj = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
DAEMONSET_MANIFEST = ROOT / "manifests/article/nvidia-device-plugin-ds.yaml"
JOB_MANIFEST = ROOT / "manifests/article/samples-tf-mnist-demo.yaml"
PLUGIN_NAMESPACE = "gpu-resources"
PLUGIN_LABEL = "name=nvidia-device-plugin-ds"
JOB_NAME = "samples-tf-mnist-demo"
GPU = "nvidia.com/gpu"
# Fewer steps than the article's 500 (as the suite's --max-steps does) keep each run ~2 s.
MAX_STEPS = 60
# Named timeouts: plugin processes start in ~0.5 s, the workload in ~2 s, on 2 shared cores.
STATE_TIMEOUT_S = 30.0
JOB_TIMEOUT_S = 60.0


class Article:
    def __init__(self, handle: ClusterThread) -> None:
        self.handle = handle
        self.api = config.new_client_from_config(str(handle.kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)

    def close(self) -> None:
        self.api.close()

    def plain(self, obj: Any) -> Obj:
        return self.api.sanitize_for_serialization(obj)

    # --- steps ---------------------------------------------------------------------------------
    def install_plugin(self) -> None:
        self.core.create_namespace(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PLUGIN_NAMESPACE}}
        )
        (daemonset,) = yaml.safe_load_all(DAEMONSET_MANIFEST.read_text())
        self.create(daemonset, PLUGIN_NAMESPACE)

    def run_job(self, max_steps: int = MAX_STEPS) -> None:
        (job,) = yaml.safe_load_all(JOB_MANIFEST.read_text())
        job["spec"]["template"]["spec"]["containers"][0]["args"] = ["--max_steps", str(max_steps)]
        self.create(job, "default")

    @functools.cached_property
    def dynamic(self) -> dynamic.DynamicClient:
        """Manifests go through the dynamic client, as `kubectl apply` sends them (the typed API
        rejects the article's integer `nvidia.com/gpu: 1`). Built on first use: it runs discovery."""
        # Its discovery cache goes beside the cluster's kubeconfig (removed with the cluster), not
        # into a file per server URL in /tmp that every run would leave behind.
        cache = self.handle.kubeconfig.parent / "discovery.json"
        return dynamic.DynamicClient(self.api, cache_file=str(cache))

    def create(self, manifest: Obj, namespace: str) -> None:
        kind = self.dynamic.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        kind.create(body=manifest, namespace=namespace)

    # --- reads ---------------------------------------------------------------------------------
    def node(self, name: str | None = None) -> Obj:
        return self.plain(self.core.read_node(name or self.handle.node_names[0]))

    def plugin_pods(self) -> list[Obj]:
        return self.plain(self.core.list_namespaced_pod(PLUGIN_NAMESPACE, label_selector=PLUGIN_LABEL).items)

    def job_pods(self) -> list[Obj]:
        return self.plain(
            self.core.list_namespaced_pod("default", label_selector=f"job-name={JOB_NAME}").items
        )

    def events(self, name: str, namespace: str = "default") -> list[tuple[str, str, str]]:
        items = self.plain(
            self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
        )
        return [(e["type"], e["reason"], e["message"]) for e in items]

    def log(self, pod: str, namespace: str = "default") -> str:
        return self.core.read_namespaced_pod_log(pod, namespace)

    def wait_log_line(self, pod: str, namespace: str, needle: str, timeout_s: float = STATE_TIMEOUT_S) -> str:
        """Follow the container's log until a line contains `needle`; that line."""
        response = self.core.read_namespaced_pod_log(
            pod, namespace, follow=True, _preload_content=False, _request_timeout=timeout_s
        )
        try:
            for raw in response.stream(decode_content=True):
                for line in raw.decode().splitlines():
                    if needle in line:
                        return line
        finally:
            response.release_conn()
        raise AssertionError(f"{namespace}/{pod}'s log ended without a line containing {needle!r}")

    # --- waits ---------------------------------------------------------------------------------
    def wait(
        self,
        list_fn: Callable[..., Any],
        predicate: Callable[[list[Obj]], Any],
        *,
        timeout_s: float,
        describe: str,
        **kwargs: Any,
    ) -> Any:
        """Until predicate(items) is truthy (re-checked on each watch event); AssertionError at timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:  # each turn waits for one watch event; the deadline bounds the loop
            listing = list_fn(**kwargs)
            items = self.plain(listing.items)
            value = predicate(items)
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                brief = [(i["metadata"]["name"], i.get("status")) for i in items][:3]
                raise AssertionError(f"timed out after {timeout_s}s waiting for {describe}; last: {brief}")
            stream = watch.Watch()
            for _event in stream.stream(
                list_fn,
                resource_version=listing.metadata.resource_version,
                timeout_seconds=max(1, int(remaining)),
                _request_timeout=remaining + 5,
                **kwargs,
            ):
                stream.stop()

    def wait_plugin_pods(self, predicate: Callable[[list[Obj]], Any], describe: str) -> Any:
        return self.wait(
            self.core.list_namespaced_pod,
            predicate,
            timeout_s=STATE_TIMEOUT_S,
            describe=describe,
            namespace=PLUGIN_NAMESPACE,
            label_selector=PLUGIN_LABEL,
        )

    def wait_job_pods(
        self, predicate: Callable[[list[Obj]], Any], describe: str, timeout_s: float = STATE_TIMEOUT_S
    ) -> Any:
        return self.wait(
            self.core.list_namespaced_pod,
            predicate,
            timeout_s=timeout_s,
            describe=describe,
            namespace="default",
            label_selector=f"job-name={JOB_NAME}",
        )

    def wait_node(
        self, predicate: Callable[[Obj], Any], describe: str, timeout_s: float = STATE_TIMEOUT_S
    ) -> Any:
        name = self.handle.node_names[0]
        return self.wait(
            self.core.list_node,
            lambda nodes: next((predicate(n) for n in nodes if n["metadata"]["name"] == name), None),
            timeout_s=timeout_s,
            describe=describe,
        )

    def wait_job(
        self, predicate: Callable[[Obj], Any], describe: str, timeout_s: float = JOB_TIMEOUT_S
    ) -> Any:
        return self.wait(
            self.batch.list_namespaced_job,
            lambda jobs: next((predicate(j) for j in jobs if j["metadata"]["name"] == JOB_NAME), None),
            timeout_s=timeout_s,
            describe=describe,
            namespace="default",
        )


def gpu_count(node: Obj, field: str) -> str | None:
    return (node.get("status") or {}).get(field, {}).get(GPU)


def running(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]


def waiting_reason(pods: list[Obj]) -> str | None:
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            reason = ((status.get("state") or {}).get("waiting") or {}).get("reason")
            if reason:
                return reason
    return None


def condition(obj: Obj, kind: str) -> Obj:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def job_done(job: Obj) -> str | None:
    """ "Complete" or "Failed" once the Job has finished, else None."""
    for kind in ("Complete", "Failed"):
        if condition(job, kind).get("status") == "True":
            return kind
    return None


@contextlib.contextmanager
def faulty_cluster(*names: str, vm_size: str = "Standard_NC6", **options: Any) -> Iterator[Article]:
    """A fast-option cluster with `names` injected; checks afterwards that nothing was left behind."""
    opts = fast_test_options(faults=tuple(names), **options)
    groups_before = live_process_groups()
    with running_cluster(vm_size=vm_size, options=opts) as handle:
        root = handle.cluster.root
        article = Article(handle)
        try:
            yield article
        finally:
            article.close()
    assert root is not None and not root.exists(), f"cluster root {root} left behind"
    assert live_process_groups() <= groups_before, "container processes left behind"
