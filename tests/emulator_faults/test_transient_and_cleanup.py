"""apiserver-flaky must be ridden out; cleanup-blocked-by-finalizer must leak until released."""

from __future__ import annotations

import json

from gpuconf.emulator.faults import BLOCKING_FINALIZER, FaultTiming, release_blocked_pods
from gpuconf.emulator.faults.apiserver import FlakyApiServer, FlakyTiming
from tests.emulator_cluster.kubectl import Kubectl
from tests.emulator_faults.article import (
    DAEMONSET_MANIFEST,
    JOB_MANIFEST,
    JOB_NAME,
    JOB_TIMEOUT_S,
    PLUGIN_NAMESPACE,
    STATE_TIMEOUT_S,
    faulty_cluster,
    gpu_count,
    job_done,
)

FLAKY = FlakyTiming(window_s=5.0, fail_every=3, retry_after_s=1, drop_watches_every_s=1.0)


def test_apiserver_flaky_is_ridden_out_by_kubectl() -> None:
    """The article's whole flow through kubectl (client-go honours Retry-After) still completes."""
    with faulty_cluster("apiserver-flaky", fault_timing=FaultTiming(flaky=FLAKY)) as article:
        (flaky,) = [f for f in article.handle.cluster.server.request_faults if isinstance(f, FlakyApiServer)]
        kubectl = Kubectl(article.handle.kubeconfig)
        kubectl.run("create", "namespace", PLUGIN_NAMESPACE)
        kubectl.run("apply", "-f", str(DAEMONSET_MANIFEST))
        kubectl.run(
            "rollout",
            "status",
            "-n",
            PLUGIN_NAMESPACE,
            "daemonset/nvidia-device-plugin-daemonset",
            f"--timeout={STATE_TIMEOUT_S:g}s",
            timeout=STATE_TIMEOUT_S + 30,
        )
        node = f"node/{article.handle.node_names[0]}"
        kubectl.wait(node, "jsonpath={.status.allocatable.nvidia\\.com/gpu}=1", timeout_s=STATE_TIMEOUT_S)
        kubectl.run("apply", "-f", str(JOB_MANIFEST))
        kubectl.wait(f"job/{JOB_NAME}", "condition=complete", timeout_s=JOB_TIMEOUT_S)
        assert flaky.failed >= 2, f"only {flaky.requests} requests in the window, {flaky.failed} failed"
        assert flaky.watches_dropped >= 1


def test_flaky_answers_are_429_and_500_with_retry_after() -> None:
    timing = FaultTiming(flaky=FlakyTiming(window_s=30.0, fail_every=1, retry_after_s=2))
    with faulty_cluster("apiserver-flaky", fault_timing=timing) as article:
        # Raw requests without retries: the official client's urllib3 would itself wait out a 429.
        pool = article.api.rest_client.pool_manager
        url = f"{article.api.configuration.host}/api/v1/namespaces"
        answers = []
        for _ in range(2):
            response = pool.request("GET", url, retries=False, timeout=STATE_TIMEOUT_S)
            body = json.loads(response.data)
            answers.append((response.status, response.headers["Retry-After"], body["reason"]))
            assert body["details"]["retryAfterSeconds"] == 2
        assert answers == [(429, "2", "TooManyRequests"), (500, "2", "InternalError")]


def test_cleanup_blocked_by_finalizer_leaks_the_pod_until_released() -> None:
    with faulty_cluster("cleanup-blocked-by-finalizer") as article:
        article.install_plugin()
        article.wait_node(lambda n: gpu_count(n, "allocatable") == "1", "one allocatable GPU")
        article.run_job()
        assert article.wait_job(job_done, "the Job to finish") == "Complete"
        (pod,) = article.job_pods()
        assert BLOCKING_FINALIZER in pod["metadata"]["finalizers"]
        # The article's clean-up: delete the Job (kubectl's default background propagation).
        article.batch.delete_namespaced_job(JOB_NAME, "default", propagation_policy="Background")
        leaked = article.wait_job_pods(
            lambda ps: ps and ps[0]["metadata"].get("deletionTimestamp") and ps,
            "the pod to be marked for deletion",
        )
        assert leaked[0]["metadata"]["name"] == pod["metadata"]["name"]
        # The harness's last resort removes our finalizer; then the pod goes.
        assert release_blocked_pods(article.core) == [f"default/{pod['metadata']['name']}"]
        article.wait_job_pods(lambda ps: ps == [] or None, "the pod to be gone")
