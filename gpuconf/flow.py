"""The article's steps as actions with evidence: what the suites call and then assert on.

Each step is done once per test session and its outcome cached (success or failure): the suite
modules, one per article section, each assert their own step; a later step whose prerequisite
failed fails at once with "prerequisite ... failed" instead of burning its own timeout. Every wait
goes through gpuconf.waits (list + watch with a named timeout). Everything the suite creates is
recorded and removed at the end; a failed removal is a leak and fails the run.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from gpuconf import states
from gpuconf.backends.base import ClusterHandle
from gpuconf.checks.drift import DriftFacts, DriftFinding, evaluate
from gpuconf.checks.vmsizes import UnknownVmSize, lookup
from gpuconf.checks.workload import LogAssessment, assess_training_log
from gpuconf.kube import Kube, condition, gpu_quantity, load_manifest
from gpuconf.settings import SuiteSettings
from gpuconf.timeouts import Timeouts
from gpuconf.waits import Progress, WaitResult, wait_for

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"
ARTICLE_PLUGIN_MANIFEST = MANIFESTS / "article" / "nvidia-device-plugin-ds.yaml"
ARTICLE_JOB_MANIFEST = MANIFESTS / "article" / "samples-tf-mnist-demo.yaml"
GPU = "nvidia.com/gpu"
PLUGIN_NAMESPACE = "gpu-resources"
PLUGIN_LABEL = "name=nvidia-device-plugin-ds"
JOB_NAMESPACE = "default"
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
# Set by NVIDIA GPU feature discovery on real clusters (and by the emulator's real-GPU nodes).
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


class PrerequisiteFailed(AssertionError):
    pass


@dataclass
class StepOutcome:
    evidence: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def node_name(node: dict[str, Any]) -> str:
    return str(node["metadata"]["name"])


def node_vm_size(node: dict[str, Any]) -> str | None:
    labels = node["metadata"].get("labels") or {}
    for label in INSTANCE_TYPE_LABELS:
        if labels.get(label):
            return str(labels[label])
    return None


class ArticleFlow:
    def __init__(
        self,
        kube: Kube,
        handle: ClusterHandle,
        settings: SuiteSettings,
        timeouts: Timeouts,
        progress: Progress | None = None,
        reports_dir: Path | None = None,
    ) -> None:
        self.kube = kube
        self.handle = handle
        self.settings = settings
        self.timeouts = timeouts
        self.progress = progress
        self.reports_dir = reports_dir
        self.created: list[tuple[str, str, str | None]] = []  # (kind, name, namespace), creation order
        self._outcomes: dict[str, StepOutcome | BaseException] = {}
        self.facts: dict[str, Any] = {}

    @property
    def emulated(self) -> bool:
        """True for the embedded cluster, also behind another backend (the AKS rehearsal against a
        fake ARM hands out the emulator's kubeconfig): the server's version string says so."""
        return self.handle.emulated or "gpuconf-emulated" in str(self.facts.get("server_version", ""))

    # Step bookkeeping --------------------------------------------------------------------
    def _once(self, step: str, action: Callable[[], StepOutcome]) -> StepOutcome:
        __tracebackhide__ = True
        if step not in self._outcomes:
            try:
                self._outcomes[step] = action()
            except BaseException as error:  # noqa: BLE001 - cached and re-raised for every asker
                self._outcomes[step] = error
        outcome = self._outcomes[step]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def require(self, step: str) -> StepOutcome:
        """Run a prerequisite step; its failure becomes a one-line PrerequisiteFailed here."""
        __tracebackhide__ = True
        try:
            return getattr(self, step.replace("-", "_"))()
        except PrerequisiteFailed:
            raise
        except AssertionError as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise PrerequisiteFailed(f"prerequisite step {step!r} failed: {first}") from None

    def _wait(self, lister: Callable[..., Any], **kwargs: Any) -> WaitResult:
        __tracebackhide__ = True
        namespace = kwargs.get("namespace")
        return wait_for(
            lister, progress=self.progress, recent_events=lambda: self.kube.events_text(namespace), **kwargs
        )

    # Node facts --------------------------------------------------------------------------
    def expected_gpus(self, node: dict[str, Any]) -> int:
        """GPUs this node must advertise: --gpu-count, else its VM size's count (0: a CPU node)."""
        size = node_vm_size(node)
        table = None
        if size:
            try:
                table = lookup(size)
            except UnknownVmSize:
                table = None
        labels = node["metadata"].get("labels") or {}
        has_gpu = (table.gpu_count if table else 0) > 0 or labels.get("accelerator") == "nvidia"
        if not has_gpu:
            return 0
        if self.settings.gpu_count:
            return self.settings.gpu_count
        count_label = labels.get("nvidia.com/gpu.count")
        if count_label and count_label.isdigit():
            return int(count_label)
        return table.gpu_count if table else 1

    def expected_model(self, node: dict[str, Any]) -> str | None:
        labels = node["metadata"].get("labels") or {}
        if labels.get(GPU_PRODUCT_LABEL):
            return str(labels[GPU_PRODUCT_LABEL]).replace("-", " ")
        size = node_vm_size(node)
        try:
            return lookup(size).gpu_model if size else None
        except UnknownVmSize:
            return None

    def gpu_nodes(self) -> list[dict[str, Any]]:
        return [n for n in self.kube.nodes() if self.expected_gpus(n) > 0]

    # create-an-aks-cluster ----------------------------------------------------------------
    def create_an_aks_cluster(self) -> StepOutcome:
        return self._once("create-an-aks-cluster", self._cluster_ready)

    def _cluster_ready(self) -> StepOutcome:
        version = self.kube.server_version()
        self.facts["server_version"] = version
        result = self._wait(
            self.kube.core.list_node,
            until=lambda nodes: (
                nodes and all((condition(n, "Ready") or {}).get("status") == "True" for n in nodes)
            ),
            timeout=self.timeouts.nodes_ready,
            timeout_name="nodes_ready",
            describe="every node to be Ready",
            summarize=states.summarize_node,
        )
        nodes = result.objects
        gpu_nodes = [n for n in nodes if self.expected_gpus(n) > 0]
        sizes = sorted({node_vm_size(n) or "unknown" for n in gpu_nodes})
        self.facts["vm_sizes"] = sizes
        self.facts["kubelet_version"] = nodes[0]["status"].get("nodeInfo", {}).get("kubeletVersion")
        self.facts.update(real_gpu_facts(gpu_nodes))
        assert gpu_nodes, (
            f"no GPU node: {len(nodes)} node(s) are Ready but none has a GPU VM size "
            f"({', '.join(sorted({node_vm_size(n) or 'no instance-type label' for n in nodes}))}) "
            "or the label accelerator=nvidia"
        )
        if self.settings.vm_sizes:
            missing = sorted(set(self.settings.vm_sizes) - set(sizes))
            assert not missing, (
                f"asked for VM size(s) {', '.join(missing)} but the GPU nodes are {', '.join(sizes)}"
            )
        return StepOutcome(
            evidence=[
                f"server version {version}",
                f"{len(nodes)} node(s) Ready, {len(gpu_nodes)} GPU node(s): "
                + ", ".join(f"{node_name(n)} ({node_vm_size(n)})" for n in gpu_nodes),
            ],
            timeline=result.timeline,
            data={"gpu_nodes": [node_name(n) for n in gpu_nodes]},
        )

    # install-nvidia-device-plugin --------------------------------------------------------
    def install_nvidia_device_plugin(self) -> StepOutcome:
        return self._once("install-nvidia-device-plugin", self._install_plugin)

    def plugin_manifest(self) -> Path:
        return Path(self.handle.properties.get("plugin_manifest", ARTICLE_PLUGIN_MANIFEST))

    def _install_plugin(self) -> StepOutcome:
        self.require("create-an-aks-cluster")
        if self.settings.install_path == "node-image":
            return self._plugin_from_node_image()
        outcome = StepOutcome()
        self._ensure_namespace(PLUGIN_NAMESPACE, outcome)
        (daemonset,) = load_manifest(self.plugin_manifest())
        name = daemonset["metadata"]["name"]
        image = daemonset["spec"]["template"]["spec"]["containers"][0]["image"]
        self.facts["device_plugin_image"] = image
        try:
            self.kube.create(daemonset)
            self.created.append(("DaemonSet", name, PLUGIN_NAMESPACE))
            outcome.evidence.append(f"daemonset.apps/{name} created (image {image})")
        except ApiException as error:
            if error.status != 409:
                raise
            outcome.evidence.append(
                f"daemonset.apps/{name} already present: reused, not created by the suite"
            )

        def plugin_pod_failure(_: dict[str, Any]) -> str | None:
            for pod in self.kube.pods(PLUGIN_NAMESPACE, PLUGIN_LABEL):
                reason = states.pod_failure(pod)
                if reason:
                    return f"device-plugin {reason}"
            return None

        result = self._wait(
            self.kube.apps.list_namespaced_daemon_set,
            namespace=PLUGIN_NAMESPACE,
            field_selector=f"metadata.name={name}",
            until=lambda items: items and states.daemonset_rolled_out(items[0]),
            timeout=self.timeouts.daemonset_rollout,
            timeout_name="daemonset_rollout",
            describe=f"daemonset {PLUGIN_NAMESPACE}/{name} to roll out",
            summarize=states.summarize_daemonset,
            fail_fast=plugin_pod_failure,
        )
        outcome.timeline += result.timeline
        assert result.object is not None
        outcome.evidence.append(states.summarize_daemonset(result.object))
        running = {
            p["spec"].get("nodeName"): p["metadata"]["name"]
            for p in self.kube.pods(PLUGIN_NAMESPACE, PLUGIN_LABEL)
            if p.get("status", {}).get("phase") == "Running"
        }
        gpu_nodes = [node_name(n) for n in self.gpu_nodes()]
        without = [n for n in gpu_nodes if n not in running]
        assert not without, (
            "the daemonset rolled out but no device-plugin pod is Running on GPU node(s) "
            f"{', '.join(without)} "
            f"(Running on: {', '.join(sorted(k for k in running if k)) or 'none'}); a taint the plugin does "
            "not tolerate or a nodeSelector keeps it away"
        )
        outcome.evidence.append(
            "device-plugin pod Running on every GPU node: "
            + ", ".join(f"{running[n]} on {n}" for n in gpu_nodes)
        )
        outcome.properties["device_plugin_image"] = image
        return outcome

    def _plugin_from_node_image(self) -> StepOutcome:
        manual = [
            f"{ds['metadata']['namespace']}/{ds['metadata']['name']}"
            for ds in self.kube.read(self.kube.apps.list_daemon_set_for_all_namespaces)["items"]
            if any(
                "device-plugin" in c.get("image", "") for c in ds["spec"]["template"]["spec"]["containers"]
            )
        ]
        assert not manual, (
            "the node image ships the NVIDIA device plugin, so no plugin DaemonSet may be installed "
            f"(the article's warning), but found: {', '.join(manual)}"
        )
        self.facts["device_plugin_image"] = "node image (AKS GPU VHD)"
        # This path is what the article's `--aks-custom-headers UseGPUDedicatedVHD=true` produced.
        self.facts["custom_headers"] = {"UseGPUDedicatedVHD": "true"}
        return StepOutcome(evidence=["no manual device-plugin DaemonSet: the node image runs the plugin"])

    def _ensure_namespace(self, namespace: str, outcome: StepOutcome) -> None:
        try:
            self.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            self.created.append(("Namespace", namespace, None))
            outcome.evidence.append(f"namespace/{namespace} created")
        except ApiException as error:
            if error.status != 409:
                raise
            outcome.evidence.append(f"namespace/{namespace} already existed")
        result = self._wait(
            self.kube.core.list_namespace,
            field_selector=f"metadata.name={namespace}",
            until=lambda items: items and items[0].get("status", {}).get("phase") == "Active",
            timeout=self.timeouts.namespace_active,
            timeout_name="namespace_active",
            describe=f"namespace {namespace} to be Active",
            summarize=lambda ns: f"namespace {ns['metadata']['name']} {ns.get('status', {}).get('phase')}",
        )
        outcome.timeline += result.timeline

    # confirm-that-gpus-are-schedulable ---------------------------------------------------
    def confirm_that_gpus_are_schedulable(self) -> StepOutcome:
        return self._once("confirm-that-gpus-are-schedulable", self._gpus_schedulable)

    def _gpus_schedulable(self) -> StepOutcome:
        self.require("install-nvidia-device-plugin")
        expected = {node_name(n): self.expected_gpus(n) for n in self.gpu_nodes()}

        def all_advertised(nodes: list[dict[str, Any]]) -> bool:
            # Called on every node event with every node: stop at the first GPU node that does not
            # match yet instead of indexing all of them first (O(N) per event at 1,000 nodes).
            matched = 0
            for node in nodes:
                count = expected.get(node_name(node))
                if count is None:
                    continue
                if gpu_quantity(node, "capacity") != count or gpu_quantity(node, "allocatable") != count:
                    return False
                matched += 1
            return matched == len(expected)

        try:
            result = self._wait(
                self.kube.core.list_node,
                until=all_advertised,
                timeout=self.timeouts.gpu_advertised,
                timeout_name="gpu_advertised",
                describe=f"capacity and allocatable {GPU} to match the VM size on every GPU node",
                summarize=states.summarize_node,
            )
        except AssertionError as error:
            nodes = {node_name(n): n for n in self.kube.nodes()}
            raise AssertionError(
                "; ".join(
                    _gpu_mismatch(nodes[name], count) for name, count in expected.items() if name in nodes
                )
                + f"\n{error}"
            ) from None
        evidence = []
        for node in result.objects:
            name = node_name(node)
            if name in expected:
                evidence.append(
                    f"{name} ({node_vm_size(node)}): Capacity {GPU}: {gpu_quantity(node, 'capacity')}, "
                    f"Allocatable {GPU}: {gpu_quantity(node, 'allocatable')} (VM size has {expected[name]})"
                )
        return StepOutcome(evidence=evidence, timeline=result.timeline, data={"expected": expected})

    # run-a-gpu-enabled-workload ----------------------------------------------------------
    def run_a_gpu_enabled_workload(self) -> StepOutcome:
        return self._once("run-a-gpu-enabled-workload", self._run_workload)

    def workload_job(self) -> dict[str, Any]:
        manifest = Path(self.handle.properties.get("workload_manifest", ARTICLE_JOB_MANIFEST))
        (job,) = load_manifest(manifest)
        job["metadata"].setdefault("namespace", JOB_NAMESPACE)
        container = job["spec"]["template"]["spec"]["containers"][0]
        container["args"] = ["--max_steps", str(self.settings.max_steps)]
        self.facts["workload_image"] = container["image"]
        return job

    def _run_workload(self) -> StepOutcome:
        self.require("confirm-that-gpus-are-schedulable")
        job = self.workload_job()
        name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
        self.kube.create(job)
        self.created.append(("Job", name, namespace))
        if self.reports_dir:
            # The accuracy plot needs matplotlib (~0.4 s to import); import it while the Job runs.
            _import_in_background("gpuconf.reports.plots")
        result = self._wait(
            self.kube.core.list_namespaced_pod,
            namespace=namespace,
            label_selector=f"job-name={name}",
            until=lambda pods: [p for p in pods if p["spec"].get("nodeName")],
            timeout=self.timeouts.pod_scheduled,
            timeout_name="pod_scheduled",
            describe=f"the pod of job {name} to be scheduled",
            summarize=states.summarize_pod,
            fail_fast=states.pod_failure,
        )
        pod = result.value[0]
        node = pod["spec"]["nodeName"]
        gpu_nodes = {node_name(n) for n in self.gpu_nodes()}
        assert node in gpu_nodes, (
            f"pod {pod['metadata']['name']} was scheduled on {node}, which is not a GPU node"
        )
        return StepOutcome(
            evidence=[
                f"job.batch/{name} created",
                f"pod {pod['metadata']['name']} scheduled on GPU node {node}",
            ],
            timeline=result.timeline,
            data={"job": name, "namespace": namespace, "node": node},
        )

    # view-the-status-and-output-of-the-gpu-enabled-workload ------------------------------
    def view_the_status_and_output(self) -> StepOutcome:
        return self._once("view-the-status-and-output-of-the-gpu-enabled-workload", self._workload_output)

    def _workload_output(self) -> StepOutcome:
        run = self.require("run-a-gpu-enabled-workload")
        name, namespace = run.data["job"], run.data["namespace"]

        def job_or_pod_failure(job: dict[str, Any]) -> str | None:
            reason = states.job_failure(job)
            if reason:
                return reason
            for pod in self.kube.pods(namespace, f"job-name={name}"):
                reason = states.pod_failure(pod)
                if reason:
                    return f"workload {reason}"
            return None

        result = self._wait(
            self.kube.batch.list_namespaced_job,
            namespace=namespace,
            field_selector=f"metadata.name={name}",
            until=lambda jobs: jobs and states.job_complete(jobs[0]),
            timeout=self.timeouts.job_complete,
            timeout_name="job_complete",
            describe=f"job {name} to reach 1/1 completions",
            summarize=states.summarize_job,
            fail_fast=job_or_pod_failure,
        )
        job = result.object
        assert job is not None
        succeeded = job.get("status", {}).get("succeeded", 0)
        assert succeeded == 1, f"job {name} is Complete but status.succeeded is {succeeded}, expected 1"
        pods = [
            p
            for p in self.kube.pods(namespace, f"job-name={name}")
            if p["status"].get("phase") == "Succeeded"
        ]
        assert pods, f"job {name} is Complete but none of its pods shows Completed"
        pod = pods[0]
        status_text = states.pod_status_text(pod)
        assert status_text == "Completed", (
            f"pod {pod['metadata']['name']} shows {status_text}, expected Completed"
        )
        node = next((n for n in self.kube.nodes() if node_name(n) == pod["spec"]["nodeName"]), None)
        expected_model = self.expected_model(node) if node else None
        log_text = self.kube.pod_log(pod["metadata"]["name"], namespace)
        assessment = assess_training_log(
            log_text, expected_gpu_model=expected_model, max_steps=self.settings.max_steps
        )
        self.facts["log_assessment"] = assessment
        if assessment.log.discoveries and assessment.log.discoveries[0].compute_capability:
            self.facts["gpu_compute_capability"] = assessment.log.discoveries[0].compute_capability
        self.facts["gpu_model"] = expected_model
        evidence = [
            states.summarize_job(job),
            f"pod {pod['metadata']['name']} Completed on {pod['spec']['nodeName']}",
            *assessment.evidence,
        ]
        plot = self._plot(assessment, pod["metadata"]["name"])
        if plot:
            evidence.append(f"accuracy curve: {plot}")
        assert assessment.passed, (
            f"the logs of pod {pod['metadata']['name']} on {pod['spec']['nodeName']} "
            "do not prove GPU training: " + " ".join(assessment.problems)
        )
        return StepOutcome(evidence=evidence, timeline=result.timeline, data={"pod": pod["metadata"]["name"]})

    def _plot(self, assessment: LogAssessment, pod: str) -> str | None:
        if not self.reports_dir or not assessment.log.accuracy:
            return None
        from gpuconf.reports.plots import plot_accuracy

        path = plot_accuracy(
            assessment.log.accuracy,
            self.reports_dir / f"accuracy-{pod}.png",
            f"{pod}: accuracy by step ({self.handle.backend})",
        )
        return str(path)

    # clean-up-resources ------------------------------------------------------------------
    def clean_up_resources(self) -> StepOutcome:
        return self._once("clean-up-resources", self._clean_up)

    def _clean_up(self) -> StepOutcome:
        run = self.require("run-a-gpu-enabled-workload")
        name, namespace = run.data["job"], run.data["namespace"]
        # `kubectl delete jobs samples-tf-mnist-demo`: kubectl deletes Jobs with background propagation.
        self.kube.delete("Job", name, namespace)
        timeline = self.wait_gone("Job", name, namespace, label_selector=f"job-name={name}")
        self.created = [c for c in self.created if c != ("Job", name, namespace)]
        return StepOutcome(
            evidence=[f"job.batch/{name} deleted; the job and its pods are gone"], timeline=timeline
        )

    def wait_gone(
        self, kind: str, name: str, namespace: str | None, label_selector: str | None = None
    ) -> list[tuple[float, str]]:
        """Wait until an object (and the pods selected by label_selector) no longer exist."""
        listers = {
            "Job": self.kube.batch.list_namespaced_job,
            "DaemonSet": self.kube.apps.list_namespaced_daemon_set,
            "Pod": self.kube.core.list_namespaced_pod,
        }
        timeline: list[tuple[float, str]] = []
        if kind == "Namespace":
            result = self._wait(
                self.kube.core.list_namespace,
                field_selector=f"metadata.name={name}",
                until=lambda items: not items and "gone",
                timeout=self.timeouts.object_deleted,
                timeout_name="object_deleted",
                describe=f"namespace {name} to be deleted",
            )
            return result.timeline
        result = self._wait(
            listers[kind],
            namespace=namespace,
            field_selector=f"metadata.name={name}",
            until=lambda items: not items and "gone",
            timeout=self.timeouts.object_deleted,
            timeout_name="object_deleted",
            describe=f"{kind.lower()} {namespace}/{name} to be deleted",
        )
        timeline += result.timeline
        if label_selector:
            result = self._wait(
                self.kube.core.list_namespaced_pod,
                namespace=namespace,
                label_selector=label_selector,
                until=lambda pods: not pods and "gone",
                timeout=self.timeouts.object_deleted,
                timeout_name="object_deleted",
                describe=f"the pods of {kind.lower()} {name} ({label_selector}) to be deleted",
                summarize=states.summarize_pod,
            )
            timeline += result.timeline
        return timeline

    def remove_created(self) -> list[str]:
        """Delete everything the suite created, newest first; returns what could not be removed."""
        leaks = []
        for kind, name, namespace in reversed(self.created):
            try:
                self.kube.delete(kind, name, namespace)
                self.wait_gone(kind, name, namespace)
            except AssertionError as error:
                leaks.append(
                    f"{kind} {namespace + '/' if namespace else ''}{name}: {str(error).splitlines()[0]}"
                )
        self.created = []
        return leaks

    # Doc drift ---------------------------------------------------------------------------
    def drift_findings(self, section: str) -> list[DriftFinding]:
        sizes = self.facts.get("vm_sizes") or list(self.settings.vm_sizes)
        findings: list[DriftFinding] = []
        for size in sizes or [None]:
            facts = DriftFacts(
                vm_size=size,
                custom_headers=self.facts.get("custom_headers", {}),
                device_plugin_image=self.facts.get("device_plugin_image"),
                workload_image=self.facts.get("workload_image"),
                gpu_compute_capability=self.facts.get("gpu_compute_capability"),
                server_version=self.facts.get("server_version"),
            )
            findings += [f for f in evaluate(facts) if f.article_section == section and f not in findings]
        return findings


def real_gpu_facts(gpu_nodes: list[dict[str, Any]]) -> dict[str, str]:
    """Driver, CUDA and GPU UUIDs of real-GPU nodes (labels the emulator's real-GPU nodes carry)."""
    facts: dict[str, str] = {}
    for node in gpu_nodes:
        labels = node["metadata"].get("labels") or {}
        annotations = node["metadata"].get("annotations") or {}
        for key, source in (("driver_version", labels), ("cuda_version", labels), ("gpu_uuids", annotations)):
            value = source.get(f"gpuconf.io/{key.replace('_', '-')}")
            if value:
                facts[key] = ",".join(filter(None, [facts.get(key), value])) if key == "gpu_uuids" else value
    return facts


def _import_in_background(module: str) -> None:
    """Start importing `module` on a daemon thread, so a later import of it finds it done.

    Used while the suite only waits (on a watch) for the cluster. A failure here is dropped on
    purpose: the later, real import raises it where it belongs."""
    if module in sys.modules:
        return

    def run() -> None:
        try:
            importlib.import_module(module)
        except BaseException:  # noqa: BLE001 - the real import reports it
            pass

    threading.Thread(target=run, name=f"import-{module}", daemon=True).start()


def _gpu_mismatch(node: dict[str, Any], expected: int) -> str:
    name, size = node_name(node), node_vm_size(node)
    capacity, allocatable = gpu_quantity(node, "capacity"), gpu_quantity(node, "allocatable")
    ready = (condition(node, "Ready") or {}).get("status")
    if ready != "True":
        message = (condition(node, "Ready") or {}).get("message", "no Ready condition")
        return f"GPU node {name} is NotReady ({message})"
    if capacity == 0:
        return (
            f"{name} ({size}) advertises no {GPU} under Capacity: the device plugin never registered "
            f"its GPUs with the kubelet (expected {expected})"
        )
    if allocatable < capacity:
        return (
            f"allocatable {GPU} is {allocatable} while capacity is {capacity} on {name}: "
            f"{capacity - allocatable} device(s) are Unhealthy"
        )
    if capacity != expected:
        return f"{name} ({size}) advertises {capacity} {GPU} but its VM size has {expected}"
    return f"{name}: capacity {capacity}, allocatable {allocatable} (expected {expected}) — ok"
