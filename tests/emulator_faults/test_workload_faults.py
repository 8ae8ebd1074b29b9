"""Workload and scheduling faults: the article's Job runs (or not) and shows the failure."""

from __future__ import annotations

import re

from gpuconf.emulator.faults.nodes import OTHER_TENANT_NAMESPACE
from gpuconf.workload.mnist import CUDA_CRASH
from tests.emulator_faults.article import (
    MAX_STEPS,
    Article,
    condition,
    faulty_cluster,
    gpu_count,
    job_done,
    running,
    waiting_reason,
)

ACCURACY = re.compile(r"Accuracy at step (\d+): ([\d.]+)")
INSUFFICIENT = "Insufficient nvidia.com/gpu"


def prepare(article: Article) -> None:
    """The article's install and confirm steps, which these faults leave working."""
    article.install_plugin()
    article.wait_node(lambda n: gpu_count(n, "allocatable") == "1", "one allocatable GPU")


def finished_log(*faults: str) -> str:
    with faulty_cluster(*faults) as article:
        prepare(article)
        article.run_job()
        assert article.wait_job(job_done, "the Job to finish") == "Complete"
        return article.log(article.job_pods()[0]["metadata"]["name"])


def accuracies(log: str) -> dict[int, float]:
    return {int(step): float(value) for step, value in ACCURACY.findall(log)}


def test_without_faults_the_log_has_discovery_and_learning() -> None:
    """The baseline the fault tests below differ from (so each of them can fail)."""
    log = finished_log()
    assert "Found device 0 with properties" in log and "Tesla K80" in log
    steps = accuracies(log)
    assert max(steps) == MAX_STEPS - 10 and steps[max(steps)] > steps[0]


def test_workload_cpu_fallback_has_no_discovery_line() -> None:
    log = finished_log("workload-cpu-fallback")
    assert "Found device" not in log and accuracies(log)


def test_workload_wrong_gpu_names_another_gpu() -> None:
    log = finished_log("workload-wrong-gpu")
    assert "Found device 0 with properties" in log and "Tesla K80" not in log


def test_accuracy_flat_never_moves() -> None:
    values = set(accuracies(finished_log("accuracy-flat")).values())
    assert len(values) == 1


def test_training_stops_early_at_half_the_steps() -> None:
    steps = accuracies(finished_log("training-stops-early"))
    assert max(steps) < MAX_STEPS // 2


def test_workload_exits_nonzero_crash_loops_with_the_cuda_error() -> None:
    with faulty_cluster("workload-exits-nonzero") as article:
        prepare(article)
        article.run_job()
        pods = article.wait_job_pods(
            lambda ps: waiting_reason(ps) == "CrashLoopBackOff" and ps, "the Job's pod to crash-loop"
        )
        status = pods[0]["status"]["containerStatuses"][0]
        assert status["lastState"]["terminated"]["exitCode"] == 1
        assert CUDA_CRASH in article.log(pods[0]["metadata"]["name"])


def test_workload_image_pull_leaves_the_scheduled_pod_in_imagepullbackoff() -> None:
    with faulty_cluster("workload-image-pull") as article:
        prepare(article)
        article.run_job()
        pods = article.wait_job_pods(
            lambda ps: waiting_reason(ps) == "ImagePullBackOff" and ps,
            "the Job's pod to be in ImagePullBackOff",
        )
        assert pods[0]["spec"]["nodeName"] == article.handle.node_names[0]
        assert ("Warning", "Failed", "Error: ErrImagePull") in article.events(pods[0]["metadata"]["name"])


def test_gpu_held_by_other_pod_leaves_the_job_pending_on_insufficient_gpu() -> None:
    with faulty_cluster("gpu-held-by-other-pod") as article:
        prepare(article)
        holders = article.wait(
            article.core.list_namespaced_pod,
            running,
            timeout_s=30,
            describe="the other tenant's pod to run",
            namespace=OTHER_TENANT_NAMESPACE,
        )
        assert holders[0]["spec"]["nodeName"] == article.handle.node_names[0]
        article.run_job()
        pods = article.wait_job_pods(
            lambda ps: ps and INSUFFICIENT in condition(ps[0], "PodScheduled").get("message", "") and ps,
            "the Job's pod to be unschedulable",
        )
        assert pods[0]["status"]["phase"] == "Pending" and not pods[0]["spec"].get("nodeName")


def test_job_never_scheduled_on_cordoned_gpu_nodes() -> None:
    with faulty_cluster("job-never-scheduled") as article:
        assert article.node()["spec"]["unschedulable"] is True
        prepare(article)  # the plugin tolerates the cordon, as DaemonSet pods do
        assert running(article.plugin_pods())
        article.run_job()
        pods = article.wait_job_pods(
            lambda ps: ps and condition(ps[0], "PodScheduled").get("reason") == "Unschedulable" and ps,
            "the Job's pod to be unschedulable",
        )
        message = condition(pods[0], "PodScheduled")["message"]
        assert "node(s) were unschedulable" in message and INSUFFICIENT not in message
