"""The article's steps as actions with evidence: what the suites call and then assert on.

Each step is done once per test session and its outcome cached (success or failure): the suite
modules, one per article section, each assert their own step; a later step whose prerequisite
failed fails at once with "prerequisite ... failed" instead of burning its own timeout. Every wait
goes through gpuconf.waits (list + watch with a named timeout). Everything the suite creates is
recorded and removed at the end; a failed removal is a leak and fails the run.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from gpuconf import failfast, states
from gpuconf.backends.base import ClusterHandle
from gpuconf.checks.article import ARTICLE_MIN_KUBERNETES, GPU, PLUGIN_LABEL, PLUGIN_NAMESPACE
from gpuconf.checks.drift import DriftFacts, DriftFinding, evaluate
from gpuconf.kube import Kube, condition, gpu_quantity, load_manifest
from gpuconf.matrix import NodeSlot
from gpuconf.nodes import (
    expected_compute_capability,
    expected_gpu_count,
    expected_gpu_model,
    gpu_count_source,
    natural_key,
    node_name,
    node_vm_size,
)
from gpuconf.settings import SuiteSettings
from gpuconf.step_outcome import StepOutcome
from gpuconf.taints import untolerated_taint
from gpuconf.timeouts import Timeouts
from gpuconf.waits import Progress, WaitResult, WaitTimeout, api_error_text, wait_for

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"
ARTICLE_PLUGIN_MANIFEST = MANIFESTS / "article" / "nvidia-device-plugin-ds.yaml"
ARTICLE_WORKLOAD = "mnist-job"  # gpuconf.workloads.MNIST_JOB.name: the workload the article runs


class PrerequisiteFailed(AssertionError):
    pass


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

    def require(self, step: str, action: Callable[[], StepOutcome] | None = None) -> StepOutcome:
        """Run a prerequisite step (the method named after it, or `action`); its failure becomes a
        one-line PrerequisiteFailed here, naming the step."""
        __tracebackhide__ = True
        try:
            return (action or getattr(self, step.replace("-", "_")))()
        except PrerequisiteFailed:
            raise
        except AssertionError as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise PrerequisiteFailed(f"prerequisite step {step!r} failed: {first}") from None
        except ApiException as error:  # said once, here, not as the same traceback on every later step
            raise PrerequisiteFailed(
                f"prerequisite step {step!r} failed: the API server answered {api_error_text(error)}"
            ) from None

    def _wait(self, lister: Callable[..., Any], **kwargs: Any) -> WaitResult:
        __tracebackhide__ = True
        namespace = kwargs.get("namespace")
        return wait_for(
            lister, progress=self.progress, recent_events=lambda: self.kube.events_text(namespace), **kwargs
        )

    # Node facts --------------------------------------------------------------------------
    def expected_gpus(self, node: dict[str, Any]) -> int:
        """GPUs this node must advertise (0: a CPU node); see gpuconf.nodes.expected_gpu_count."""
        return expected_gpu_count(node, self.settings.gpu_count)

    def expected_model(self, node: dict[str, Any]) -> str | None:
        return expected_gpu_model(node)

    def gpu_mismatch(self, node: dict[str, Any], expected: int) -> str:
        """Why this node's nvidia.com/gpu capacity/allocatable is not `expected`, in one sentence."""
        return _gpu_mismatch(node, expected, gpu_count_source(node, self.settings.gpu_count))

    def gpu_nodes(self) -> list[dict[str, Any]]:
        return [n for n in self.kube.nodes() if self.expected_gpus(n) > 0]

    def slot_nodes(self, slot: NodeSlot) -> list[str]:
        """The node name(s) a test slot stands for: the slot.ordinal-th GPU node of its VM size (in
        natural name order), or every GPU node for the catch-all slot. The names are read once: a
        per-node test at 1,000 nodes must not list every node again."""
        if "gpu_nodes_by_size" not in self.facts:
            by_size: dict[str, list[str]] = {}
            for node in sorted(self.gpu_nodes(), key=lambda n: natural_key(node_name(n))):
                by_size.setdefault(node_vm_size(node) or "unknown-size", []).append(node_name(node))
            self.facts["gpu_nodes_by_size"] = by_size
        by_size = self.facts["gpu_nodes_by_size"]
        if slot.vm_size is None:
            names = [name for names in by_size.values() for name in names]
            assert names, "the cluster has no GPU node"
            return names
        names = by_size.get(slot.vm_size, [])
        assert slot.ordinal < len(names), (
            f"expected GPU node #{slot.ordinal + 1} of VM size {slot.vm_size}, but the cluster has "
            f"{len(names)} GPU node(s) of that size"
            + (f" ({', '.join(names)})" if names else "")
            + f"; GPU nodes by size: {', '.join(f'{k}: {len(v)}' for k, v in by_size.items()) or 'none'}"
        )
        return [names[slot.ordinal]]

    def slot_size(self, name: str) -> str:
        """The VM size of a GPU node, from the names read once by slot_nodes."""
        by_size: dict[str, list[str]] = self.facts.get("gpu_nodes_by_size", {})
        return next((size for size, names in by_size.items() if name in names), "unknown size")

    def read_node(self, name: str) -> dict[str, Any]:
        return self.kube.read(self.kube.core.read_node, name)

    # before-you-begin --------------------------------------------------------------------
    def before_you_begin(self) -> StepOutcome:
        return self._once("before-you-begin", self._kubernetes_version)

    def _kubernetes_version(self) -> StepOutcome:
        version = self.kube.server_version()
        self.facts["server_version"] = version  # every later report row names it
        match = re.match(r"v?(\d+)\.(\d+)", version)
        assert match, f"the API server reports an unparsable version {version!r}"
        assert (int(match[1]), int(match[2])) >= ARTICLE_MIN_KUBERNETES, (
            f"Kubernetes {version} is older than the article's 1.10"
        )
        return StepOutcome(evidence=[f"server version {version} >= 1.10"])

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
            # A booting node is NotReady for a while; one that stays so for a quarter of the budget
            # (at most 2 minutes) has a broken kubelet or runtime.
            fail_fast=failfast.node_not_ready_for(min(self.timeouts.nodes_ready / 4, 120.0)),
            recheck_every_s=failfast.RECHECK_EVERY_S,
        )
        nodes = result.objects
        gpu_nodes = [n for n in nodes if self.expected_gpus(n) > 0]
        sizes = sorted({node_vm_size(n) or "unknown" for n in gpu_nodes})
        self.facts["vm_sizes"] = sizes
        self.facts["kubelet_version"] = nodes[0]["status"].get("nodeInfo", {}).get("kubeletVersion")
        self.facts.update(real_gpu_facts(gpu_nodes))
        capability = next(filter(None, (expected_compute_capability(n) for n in gpu_nodes)), None)
        if capability:
            self.facts["gpu_compute_capability"] = capability
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

    def plugin_daemonset(self) -> dict[str, Any]:
        """The device-plugin DaemonSet manifest (read once: every per-node test looks at it)."""
        if "plugin_daemonset" not in self.facts:
            (self.facts["plugin_daemonset"],) = load_manifest(self.plugin_manifest())
        return copy.deepcopy(self.facts["plugin_daemonset"])

    def plugin_manifest(self) -> Path:
        return Path(self.handle.properties.get("plugin_manifest", ARTICLE_PLUGIN_MANIFEST))

    def _install_plugin(self) -> StepOutcome:
        self.require("create-an-aks-cluster")
        if self.settings.install_path == "node-image":
            return self._plugin_from_node_image()
        outcome = StepOutcome()
        self._ensure_namespace(PLUGIN_NAMESPACE, outcome)
        daemonset = self.plugin_daemonset()
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

        kept_off = failfast.taints_keep_daemonset_off(self.gpu_nodes(), daemonset["spec"]["template"])
        failing_pod = failfast.failing_pod_once_stalled(
            lambda: self.kube.pods(PLUGIN_NAMESPACE, PLUGIN_LABEL)
        )

        def plugin_pod_failure(ds: dict[str, Any]) -> str | None:
            failure = failing_pod(ds)
            return f"device-plugin {failure}" if failure else kept_off(ds)

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
            recheck_every_s=failfast.RECHECK_EVERY_S,  # a pod that fails after the last DaemonSet update
        )
        outcome.timeline += result.timeline
        assert result.object is not None
        outcome.evidence.append(states.summarize_daemonset(result.object))
        # A plugin that dies at start (it cannot load NVML) was Ready for the moment between: each plugin
        # pod must have registered with its kubelet, or stay Ready without a restart a little longer
        # (0.5 s emulated, 10 s on real clusters).
        settle = min(self.timeouts.daemonset_rollout / 60, 10.0)
        # Read as often as the settle is re-checked: a healthy plugin's registration ends the wait.
        registered = failfast.throttled(
            lambda: {node_name(n) for n in self.kube.nodes() if _registered(n)}, every_s=settle / 2
        )
        outcome.timeline += self._wait(
            self.kube.core.list_namespaced_pod,
            namespace=PLUGIN_NAMESPACE,
            label_selector=PLUGIN_LABEL,
            until=failfast.ready_without_restart_for(settle, lambda name: name in registered()),
            timeout=self.timeouts.daemonset_rollout,
            timeout_name="daemonset_rollout",
            describe=f"the device-plugin pods to stay Ready for {settle:g}s",
            summarize=states.summarize_pod,
            fail_fast=lambda pod: f"device-plugin {crash}" if (crash := failfast.pod_crashed(pod)) else None,
            recheck_every_s=settle / 2,
        ).timeline
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

    def device_plugin_runs_on(self, slot: NodeSlot) -> StepOutcome:
        """A device-plugin pod Running on this slot's GPU node (or the reason there is none)."""
        return self._once(f"install-nvidia-device-plugin[{slot.id}]", lambda: self._plugin_on(slot))

    def _plugin_on(self, slot: NodeSlot) -> StepOutcome:
        self.require("create-an-aks-cluster")
        rollout_failure, rollout_timed_out = None, False
        try:
            self.install_nvidia_device_plugin()
        except PrerequisiteFailed:
            raise
        except AssertionError as error:
            # The DaemonSet's own test reports the rollout; this one still tells its node's story.
            rollout_failure = str(error).splitlines()[0]
            rollout_timed_out = isinstance(error, WaitTimeout)
        daemonset = self.plugin_daemonset()
        evidence, problems, timeline = [], [], []
        for name in self.slot_nodes(slot):
            pods = self._plugin_pods_by_node().get(name, [])
            undecided = (
                rollout_failure
                and not rollout_timed_out  # the rollout already had its whole budget
                and pods
                and not any(states.pod_running_and_ready(p) or states.pod_failure(p) for p in pods)
            )
            if undecided:
                # The rollout stopped early on another node's failure: give this node's pod its time.
                try:
                    waited = self._wait(
                        self.kube.core.list_namespaced_pod,
                        namespace=PLUGIN_NAMESPACE,
                        label_selector=PLUGIN_LABEL,
                        field_selector=f"spec.nodeName={name}",
                        until=lambda ps: [p for p in ps if states.pod_running_and_ready(p)],
                        timeout=self.timeouts.daemonset_rollout,
                        timeout_name="daemonset_rollout",
                        describe=f"the device-plugin pod on {name} to run",
                        summarize=states.summarize_pod,
                        fail_fast=states.pod_failure,
                    )
                    timeline += waited.timeline
                except AssertionError:
                    pass  # judged from its state below
                pods = self._plugin_pods_on(name)
            running = [p for p in pods if states.pod_running_and_ready(p)]
            if running:
                evidence.append(f"{states.summarize_pod(running[0])} ({self.slot_size(name)})")
            else:
                problems.append(self._no_plugin_pod_reason(name, pods, daemonset))
        assert not problems, "; ".join(problems) + (
            f" (DaemonSet rollout: {rollout_failure})" if rollout_failure else ""
        )
        return StepOutcome(
            evidence=evidence, timeline=timeline, properties={"gpu_node": ",".join(self.slot_nodes(slot))}
        )

    def _plugin_pods_by_node(self) -> dict[str, list[dict[str, Any]]]:
        """The device-plugin pods by node, listed once after the install step: one per-node test each
        reads its node's (at 1,000 nodes, 1,000 lists of 1,000 pods would be a million objects)."""
        if "plugin_pods_by_node" not in self.facts:
            self.facts["plugin_pods_by_node"] = failfast.pods_by_node(
                self.kube.pods(PLUGIN_NAMESPACE, PLUGIN_LABEL)
            )
        by_node: dict[str, list[dict[str, Any]]] = self.facts["plugin_pods_by_node"]
        return by_node

    def _plugin_pods_on(self, name: str) -> list[dict[str, Any]]:
        return self.kube.read(
            self.kube.core.list_namespaced_pod,
            PLUGIN_NAMESPACE,
            label_selector=PLUGIN_LABEL,
            field_selector=f"spec.nodeName={name}",
        )["items"]

    def _no_plugin_pod_reason(self, name: str, pods: list[dict[str, Any]], daemonset: dict[str, Any]) -> str:
        if pods:
            pod = pods[0]
            reason = states.pod_failure(pod) or states.summarize_pod(pod)
            return f"the device-plugin pod on GPU node {name} is not Running and ready: {reason}"
        node = self.read_node(name)
        taint = untolerated_taint(daemonset["spec"]["template"], node)
        if taint:
            return (
                f"no device-plugin pod on GPU node {name}: its taint {states.taint_text(taint)} is not "
                f"tolerated by daemonset {daemonset['metadata']['name']} (add a toleration for it)"
            )
        return f"no device-plugin pod on GPU node {name}: the DaemonSet placed none there"

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
                if not states.advertises(node, count):
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
                fail_fast=failfast.gpu_mismatch_persists(
                    expected,
                    lambda: self.kube.pods(PLUGIN_NAMESPACE, PLUGIN_LABEL),
                    self.gpu_mismatch,
                    settle_s=min(self.timeouts.gpu_advertised / 6, 60.0),
                ),
                recheck_every_s=failfast.RECHECK_EVERY_S,
            )
        except AssertionError as error:
            nodes = {node_name(n): n for n in self.kube.nodes()}
            raise AssertionError(
                "; ".join(
                    self.gpu_mismatch(nodes[name], count) for name, count in expected.items() if name in nodes
                )
                + f"\n{error}"
            ) from None
        evidence = [
            _gpu_evidence(n, expected[node_name(n)]) for n in result.objects if node_name(n) in expected
        ]
        # The nodes as the wait saw them all advertise: each per-node test judges its own from these.
        advertised = {node_name(n): n for n in result.objects}
        return StepOutcome(
            evidence=evidence, timeline=result.timeline, data={"expected": expected, "nodes": advertised}
        )

    def gpus_schedulable_on(self, slot: NodeSlot) -> StepOutcome:
        """Capacity == allocatable == the VM size's GPU count on this slot's node."""
        return self._once(f"confirm-that-gpus-are-schedulable[{slot.id}]", lambda: self._schedulable_on(slot))

    def _schedulable_on(self, slot: NodeSlot) -> StepOutcome:
        if self.settings.install_path == "daemonset":
            self.require("install-nvidia-device-plugin", lambda: self.device_plugin_runs_on(slot))
        else:
            self.require("install-nvidia-device-plugin")
        names = self.slot_nodes(slot)
        wait_note, waited, seen = "", True, {}
        try:
            # One wait for every node; then this node as that wait last saw it advertise.
            seen = self.confirm_that_gpus_are_schedulable().data["nodes"]
        except PrerequisiteFailed:
            waited = False  # another node's plugin is broken: this node gets a wait of its own
        except AssertionError as error:
            lines = str(error).splitlines()
            wait_note = f" ({lines[1]})" if len(lines) > 1 else ""
        evidence, problems, timeline = [], [], []
        for name in names:
            node = seen.get(name) or self.read_node(name)
            count = self.expected_gpus(node)
            if not waited:
                try:
                    result = self._wait(
                        self.kube.core.list_node,
                        field_selector=f"metadata.name={name}",
                        until=lambda ns, c=count: ns and states.advertises(ns[0], c),
                        timeout=self.timeouts.gpu_advertised,
                        timeout_name="gpu_advertised",
                        describe=f"capacity and allocatable {GPU} on {name} to match its VM size",
                        summarize=states.summarize_node,
                    )
                    timeline += result.timeline
                    node = result.objects[0]
                except AssertionError as error:
                    wait_note = f" ({str(error).splitlines()[0]})"
                    node = self.read_node(name)
            if states.advertises(node, count):
                evidence.append(_gpu_evidence(node, count))
            else:
                problems.append(self.gpu_mismatch(node, count) + wait_note)
        assert not problems, "; ".join(problems)
        return StepOutcome(evidence=evidence, timeline=timeline, properties={"gpu_node": ",".join(names)})

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
                fail_fast=failfast.held_by_finalizer_for(min(self.timeouts.object_deleted / 6, 60.0)),
                recheck_every_s=failfast.RECHECK_EVERY_S,
            )
            timeline += result.timeline
        return timeline

    def remove_created(self) -> list[str]:
        """Delete everything the suite created, newest first; returns what could not be removed."""
        leaks = []
        for kind, name, namespace in reversed(self.created):
            try:
                self.kube.delete(kind, name, namespace)
                # A Job is gone when its pods are (what the clean-up step checks too).
                self.wait_gone(
                    kind, name, namespace, label_selector=f"job-name={name}" if kind == "Job" else None
                )
            except AssertionError as error:
                leaks.append(
                    f"{kind} {namespace + '/' if namespace else ''}{name}: {str(error).splitlines()[0]}"
                )
        self.created = []
        return leaks

    # Doc drift ---------------------------------------------------------------------------
    def drift_findings(self, section: str, workload: str | None = None) -> list[DriftFinding]:
        """The doc-drift rules that fire for `section` on this run. A workload other than the
        article's own does not carry the article's workload image, so its rules stay silent there."""
        sizes = self.facts.get("vm_sizes") or list(self.settings.vm_sizes)
        article_workload = workload in (None, ARTICLE_WORKLOAD)
        findings: list[DriftFinding] = []
        for size in sizes or [None]:
            facts = DriftFacts(
                vm_size=size,
                custom_headers=self.facts.get("custom_headers", {}),
                device_plugin_image=self.facts.get("device_plugin_image"),
                workload_image=self.facts.get("workload_image") if article_workload else None,
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


def _registered(node: dict[str, Any]) -> bool:
    """A device plugin has registered the GPU resource with this node's kubelet (0 devices or more)."""
    return GPU in (node.get("status", {}).get("capacity") or {})


def _gpu_evidence(node: dict[str, Any], expected: int) -> str:
    return (
        f"{node_name(node)} ({node_vm_size(node)}): Capacity {GPU}: {gpu_quantity(node, 'capacity')}, "
        f"Allocatable {GPU}: {gpu_quantity(node, 'allocatable')} (VM size has {expected})"
    )


def _gpu_mismatch(node: dict[str, Any], expected: int, source: str) -> str:
    name, size = node_name(node), node_vm_size(node)
    capacity, allocatable = gpu_quantity(node, "capacity"), gpu_quantity(node, "allocatable")
    ready = (condition(node, "Ready") or {}).get("status")
    if ready != "True":
        message = (condition(node, "Ready") or {}).get("message", "no Ready condition")
        return f"GPU node {name} is NotReady ({message})"
    if not _registered(node):
        return (
            f"{name} ({size}) advertises no {GPU} under Capacity: the device plugin never registered "
            f"its GPUs with the kubelet (expected {expected})"
        )
    if capacity == 0:
        return (
            f"{name} ({size}) advertises {GPU}: 0 under Capacity: the device plugin registered but found "
            f"no GPU to advertise (expected {expected}: is the GPU passed through to the VM and visible "
            "to the driver?)"
        )
    if allocatable < capacity:
        return (
            f"allocatable {GPU} is {allocatable} while capacity is {capacity} on {name}: "
            f"{capacity - allocatable} device(s) are Unhealthy"
        )
    if capacity != expected:
        return f"{name} ({size}) advertises {capacity} {GPU} but {source} {expected}"
    return f"{name}: capacity {capacity}, allocatable {allocatable} (expected {expected}) — ok"
