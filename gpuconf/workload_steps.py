"""The article's workload sections, once per workload case (gpuconf.matrix.WorkloadCase):

  run-a-gpu-enabled-workload     create the Job or Pod; its pod is scheduled onto a GPU node (of the
                                 case's VM size)
  view-the-status-and-output...  the Job reaches 1/1 (succeeded == 1, condition Complete) or the Pod
                                 Succeeded; the pod shows Completed; its log passes the workload's
                                 rule (gpuconf.checks.workload), naming that node's GPU model
  clean-up-resources             `kubectl delete jobs samples-tf-mnist-demo` (or the pod): the object
                                 and its pods are gone
The suite orders the cases one after another (run, view, clean-up, then the next case), so a case
never waits for a GPU another case still holds.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from gpuconf import failfast, states
from gpuconf.checks.article import GPU, JOB_NAMESPACE
from gpuconf.checks.workload import LogAssessment, assess_workload_log
from gpuconf.flow import ArticleFlow
from gpuconf.kube import load_manifest
from gpuconf.matrix import WorkloadCase
from gpuconf.nodes import INSTANCE_TYPE_LABELS, node_name, node_vm_size
from gpuconf.step_outcome import StepOutcome
from gpuconf.workloads import MNIST_JOB, Workload

RUN = "run-a-gpu-enabled-workload"
VIEW = "view-the-status-and-output-of-the-gpu-enabled-workload"
CLEAN_UP = "clean-up-resources"
# The handle property that switches every workload to its kind-tier manifest (fake GPUs, offline image).
MANIFEST_VARIANT = "workload_manifests"
CASES_RUN = "workload_cases_created"  # flow.facts key: case id -> {case, kind, name, namespace[, node]}
PLOTS = "accuracy_plots"  # flow.facts key: accuracy pictures being drawn
PLOT_TIMEOUT_S = 60.0  # one small PNG: seconds even on a loaded machine


def manifest_object(flow: ArticleFlow, workload: Workload) -> dict[str, Any]:
    """The workload's manifest as the backend wants it (the kind tier swaps in offline images)."""
    path = (
        workload.kind_manifest
        if flow.handle.properties.get(MANIFEST_VARIANT) == "kind"
        else workload.manifest
    )
    (obj,) = load_manifest(Path(path))
    obj["metadata"].setdefault("namespace", JOB_NAMESPACE)
    return obj


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"] if obj["kind"] == "Job" else obj["spec"]


def workload_object(flow: ArticleFlow, case: WorkloadCase) -> dict[str, Any]:
    obj = manifest_object(flow, case.workload)
    obj["metadata"]["name"] = case.object_name(obj["metadata"]["name"])
    spec = pod_spec(obj)
    if case.workload.trains:
        spec["containers"][0]["args"] = ["--max_steps", str(flow.settings.max_steps)]
    if case.pinned and case.vm_size:
        spec.setdefault("nodeSelector", {})[INSTANCE_TYPE_LABELS[0]] = case.vm_size
    if case.workload is MNIST_JOB:
        flow.facts["workload_image"] = spec["containers"][0]["image"]
    return obj


def _selectors(kind: str, name: str) -> dict[str, str]:
    """How the workload's pods are listed: a Job's by its job-name label, a Pod by its name."""
    return (
        {"label_selector": f"job-name={name}"}
        if kind == "Job"
        else {"field_selector": f"metadata.name={name}"}
    )


def _requested_gpus(obj: dict[str, Any]) -> int:
    limits = pod_spec(obj)["containers"][0].get("resources", {}).get("limits", {})
    return int(str(limits.get(GPU, 0)))


# run-a-gpu-enabled-workload -------------------------------------------------------------------
def run_a_gpu_enabled_workload(flow: ArticleFlow, case: WorkloadCase) -> StepOutcome:
    return flow._once(f"{RUN}[{case.id}]", lambda: _run(flow, case))


def _run(flow: ArticleFlow, case: WorkloadCase) -> StepOutcome:
    flow.require("confirm-that-gpus-are-schedulable")
    # The suite orders each case's steps as one block; with only some steps selected (-k), a case
    # still must not wait for a GPU an earlier case holds: clean those up first.
    workloads_cleaned_up(flow)
    obj = workload_object(flow, case)
    kind, name, namespace = obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"]
    flow.kube.create(obj)
    flow.created.append((kind, name, namespace))
    # Created: from now on its clean-up step has something to delete, whatever this step's verdict.
    created = flow.facts.setdefault(CASES_RUN, {})[case.id] = {
        "case": case,
        "kind": kind,
        "name": name,
        "namespace": namespace,
    }
    cordoned = failfast.every_gpu_node_cordoned_for(
        flow.gpu_nodes, min(flow.timeouts.pod_scheduled / 4, 60.0)
    )
    result = flow._wait(
        flow.kube.core.list_namespaced_pod,
        namespace=namespace,
        **_selectors(kind, name),
        until=lambda pods: [p for p in pods if p["spec"].get("nodeName")],
        timeout=flow.timeouts.pod_scheduled,
        timeout_name="pod_scheduled",
        describe=f"the pod of job {name} to be scheduled" if kind == "Job" else f"pod {name} to be scheduled",
        summarize=states.summarize_pod,
        fail_fast=lambda pod: states.pod_failure(pod) or cordoned(pod),
        recheck_every_s=failfast.RECHECK_EVERY_S,
    )
    pod = result.value[0]
    node = created["node"] = pod["spec"]["nodeName"]
    gpu_nodes = {node_name(n): n for n in flow.gpu_nodes()}
    assert node in gpu_nodes, (
        f"pod {pod['metadata']['name']} was scheduled on {node}, which is not a GPU node"
    )
    size = node_vm_size(gpu_nodes[node])
    if case.vm_size:
        assert size == case.vm_size, (
            f"pod {pod['metadata']['name']} was scheduled on {node} ({size}), not on a {case.vm_size} node"
        )
    reference = "job.batch" if kind == "Job" else "pod"
    return StepOutcome(
        evidence=[
            f"{reference}/{name} created ({case.workload.description})",
            f"pod {pod['metadata']['name']} scheduled on GPU node {node} ({size})",
        ],
        timeline=result.timeline,
        properties={"workload": case.workload.name, "gpu_node": node},
        data={"kind": kind, "name": name, "namespace": namespace, "node": node, "gpus": _requested_gpus(obj)},
    )


# view-the-status-and-output-of-the-gpu-enabled-workload ---------------------------------------
def view_the_status_and_output(flow: ArticleFlow, case: WorkloadCase) -> StepOutcome:
    return flow._once(f"{VIEW}[{case.id}]", lambda: _view(flow, case))


def _view(flow: ArticleFlow, case: WorkloadCase) -> StepOutcome:
    run = flow.require(RUN, lambda: run_a_gpu_enabled_workload(flow, case))
    kind, name, namespace = run.data["kind"], run.data["name"], run.data["namespace"]
    if kind == "Job":
        evidence, timeline = _wait_job_complete(flow, name, namespace)
        pods = [
            p
            for p in flow.kube.pods(namespace, f"job-name={name}")
            if p["status"].get("phase") == "Succeeded"
        ]
        assert pods, f"job {name} is Complete but none of its pods shows Completed"
    else:
        result = _wait_pod_succeeded(flow, name, namespace)
        evidence, timeline, pods = [], result.timeline, result.objects
    pod = pods[0]
    pod_name, node_name_ = pod["metadata"]["name"], pod["spec"]["nodeName"]
    status_text = states.pod_status_text(pod)
    assert status_text == "Completed", f"pod {pod_name} shows {status_text}, expected Completed"
    node = flow.read_node(node_name_)
    expected_model = flow.expected_model(node)
    assessment = assess_workload_log(
        case.workload.parser,
        flow.kube.pod_log(pod_name, namespace),
        expected_gpu_model=expected_model,
        gpus=run.data["gpus"],
        max_steps=flow.settings.max_steps,
    )
    _record_gpu_facts(flow, assessment, expected_model)
    evidence += [f"pod {pod_name} Completed on {node_name_}", *assessment.evidence]
    plot = _plot_in_background(flow, assessment, pod_name)
    if plot:
        evidence.append(f"accuracy curve: {plot}")
    proof = "GPU training" if case.workload.trains else "that the GPU worked"
    assert assessment.passed, f"the logs of pod {pod_name} on {node_name_} do not prove {proof}: " + " ".join(
        assessment.problems
    )
    return StepOutcome(
        evidence=evidence,
        timeline=timeline,
        properties={"workload": case.workload.name, "gpu_node": node_name_},
        data={"pod": pod_name},
    )


def _wait_job_complete(flow: ArticleFlow, name: str, namespace: str) -> tuple[list[str], list[Any]]:
    def job_or_pod_failure(job: dict[str, Any]) -> str | None:
        reason = states.job_failure(job)
        if reason:
            return reason
        for pod in flow.kube.pods(namespace, f"job-name={name}"):
            reason = states.pod_failure(pod)
            if reason:
                return f"workload {reason}"
        return None

    result = flow._wait(
        flow.kube.batch.list_namespaced_job,
        namespace=namespace,
        field_selector=f"metadata.name={name}",
        until=lambda jobs: jobs and states.job_complete(jobs[0]),
        timeout=flow.timeouts.job_complete,
        timeout_name="job_complete",
        describe=f"job {name} to reach 1/1 completions",
        summarize=states.summarize_job,
        fail_fast=job_or_pod_failure,
    )
    job = result.object
    assert job is not None
    succeeded = job.get("status", {}).get("succeeded", 0)
    assert succeeded == 1, f"job {name} is Complete but status.succeeded is {succeeded}, expected 1"
    return [states.summarize_job(job)], result.timeline


def _wait_pod_succeeded(flow: ArticleFlow, name: str, namespace: str) -> Any:
    return flow._wait(
        flow.kube.core.list_namespaced_pod,
        namespace=namespace,
        field_selector=f"metadata.name={name}",
        until=lambda pods: pods and pods[0]["status"].get("phase") == "Succeeded",
        timeout=flow.timeouts.job_complete,
        timeout_name="job_complete",
        describe=f"pod {name} to complete",
        summarize=states.summarize_pod,
        fail_fast=lambda pod: states.pod_failure(pod) or states.pod_failed(pod),
    )


def _record_gpu_facts(flow: ArticleFlow, assessment: LogAssessment, expected_model: str | None) -> None:
    """Run-level facts for the reports (GPU model, compute capability for the CUDA-era drift rule)."""
    flow.facts.setdefault("gpu_model", expected_model)
    discoveries = assessment.log.discoveries
    if discoveries and discoveries[0].compute_capability:
        flow.facts.setdefault("gpu_compute_capability", discoveries[0].compute_capability)


def _plot_in_background(flow: ArticleFlow, assessment: LogAssessment, pod: str) -> Path | None:
    """Start drawing the accuracy curve in a child process; returns the PNG's path.

    The picture decides no verdict, and matplotlib takes ~0.4 s to import: a child process draws it on
    the other core while the suite goes on (a thread would share this process's import lock and
    sys.modules with the tests). finish_plots() waits for it before the run ends."""
    if not flow.reports_dir or not assessment.accuracy_points:
        return None
    path = flow.reports_dir / f"accuracy-{pod}.png"
    points = flow.reports_dir / f".accuracy-{pod}.json"
    points.write_text(
        json.dumps(
            {
                "points": assessment.accuracy_points,
                "title": f"{pod}: accuracy by step ({flow.handle.backend})",
            }
        )
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "gpuconf.reports.plots", str(points), str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    flow.facts.setdefault(PLOTS, []).append((path, points, child))
    return path


def finish_plots(flow: ArticleFlow, timeout_s: float = PLOT_TIMEOUT_S) -> list[str]:
    """Wait for the accuracy pictures still being drawn; one line per picture that is missing."""
    problems = []
    for path, points, child in flow.facts.pop(PLOTS, []):
        try:
            _, errors = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            problems.append(f"accuracy curve {path} not written within {timeout_s:.0f}s")
        else:
            if child.returncode != 0:
                last = (errors.strip().splitlines() or ["no message"])[-1]
                problems.append(f"accuracy curve {path} not written (exit {child.returncode}): {last}")
        points.unlink(missing_ok=True)
    return problems


# clean-up-resources ---------------------------------------------------------------------------
def clean_up_resources(flow: ArticleFlow, case: WorkloadCase) -> StepOutcome:
    return flow._once(f"{CLEAN_UP}[{case.id}]", lambda: _clean_up(flow, case))


def _clean_up(flow: ArticleFlow, case: WorkloadCase) -> StepOutcome:
    created = flow.facts.get(CASES_RUN, {}).get(case.id)
    if created is None:  # never created: its run step failed before (or was not selected)
        flow.require(RUN, lambda: run_a_gpu_enabled_workload(flow, case))
        created = flow.facts[CASES_RUN][case.id]
    # A workload whose later steps failed (a pod that never got a GPU, a Job that failed) is deleted
    # all the same: clean-up is checked on every workload the suite created.
    kind, name, namespace = created["kind"], created["name"], created["namespace"]
    # `kubectl delete jobs samples-tf-mnist-demo`: kubectl deletes with background propagation.
    flow.kube.delete(kind, name, namespace)
    timeline = flow.wait_gone(
        kind, name, namespace, label_selector=f"job-name={name}" if kind == "Job" else None
    )
    flow.created = [c for c in flow.created if c != (kind, name, namespace)]
    gone = "the job and its pods are gone" if kind == "Job" else "the pod is gone"
    reference = "job.batch" if kind == "Job" else "pod"
    return StepOutcome(
        evidence=[f"{reference}/{name} deleted; {gone}"],
        timeline=timeline,
        properties={
            "workload": case.workload.name,
            **({"gpu_node": created["node"]} if "node" in created else {}),
        },
    )


def workloads_cleaned_up(flow: ArticleFlow) -> None:
    """Every workload case this session created is cleaned up (a later check needs its GPUs free)."""
    cases: list[WorkloadCase] = [created["case"] for created in flow.facts.get(CASES_RUN, {}).values()]
    for case in cases:
        flow.require(CLEAN_UP, functools.partial(clean_up_resources, flow, case))
