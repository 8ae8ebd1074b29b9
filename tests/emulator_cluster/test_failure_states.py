"""Each failure state shows the fields and events Kubernetes shows, read back with real kubectl."""

from __future__ import annotations

from gpuconf.emulator.cluster import ClusterThread
from tests.emulator_cluster.clusterkit import STATE_TIMEOUT_S, gpu_pod_manifest, install_device_plugin
from tests.emulator_cluster.kubectl import Kubectl

WORKLOAD_IMAGE = "mcr.microsoft.com/azuredocs/samples-tf-mnist-demo:gpu"
NODE = "aks-nodepool1-28993262-0"
NO_GPU_MESSAGE = (
    "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod.."
)


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in obj["status"].get("conditions") or [] if c["type"] == kind), {})


def test_gpu_pod_is_unschedulable_until_the_device_plugin_runs(kubectl: Kubectl) -> None:
    kubectl.apply(gpu_pod_manifest("early", image=WORKLOAD_IMAGE, args=["--max_steps", "20"]))
    kubectl.wait(
        "pod/early",
        'jsonpath={.status.conditions[?(@.type=="PodScheduled")].reason}=Unschedulable',
        timeout_s=STATE_TIMEOUT_S,
    )
    pod = kubectl.json("get", "pod", "early")
    assert pod["status"]["phase"] == "Pending"
    scheduled = condition(pod, "PodScheduled")
    assert (scheduled["status"], scheduled["reason"], scheduled["message"]) == (
        "False",
        "Unschedulable",
        NO_GPU_MESSAGE,
    )
    assert scheduled["lastTransitionTime"]
    assert ("Warning", "FailedScheduling", NO_GPU_MESSAGE, "default-scheduler") in kubectl.events("early")

    install_device_plugin(kubectl)
    kubectl.wait("pod/early", "jsonpath={.status.phase}=Succeeded", timeout_s=STATE_TIMEOUT_S * 2)
    reasons = [e[1] for e in kubectl.events("early")]
    assert reasons.index("FailedScheduling") < reasons.index("Scheduled") < reasons.index("Started")


def test_unknown_image_shows_errimagepull_then_imagepullbackoff(kubectl: Kubectl) -> None:
    kubectl.apply(gpu_pod_manifest("pull", image="example.invalid/nothing:1", args=[], gpus=0))
    kubectl.wait(
        "pod/pull",
        "jsonpath={.status.containerStatuses[0].state.waiting.reason}=ImagePullBackOff",
        timeout_s=STATE_TIMEOUT_S,
    )
    pod = kubectl.json("get", "pod", "pull")
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["message"] == 'Back-off pulling image "example.invalid/nothing:1"'
    assert pod["status"]["phase"] == "Pending"
    events = [(t, r, m) for t, r, m, _ in kubectl.events("pull")]
    assert ("Normal", "Pulling", 'Pulling image "example.invalid/nothing:1"') in events
    assert ("Warning", "Failed", "Error: ErrImagePull") in events
    assert ("Normal", "BackOff", 'Back-off pulling image "example.invalid/nothing:1"') in events
    assert ("Warning", "Failed", "Error: ImagePullBackOff") in events
    assert any(
        r == "Failed" and m.startswith('Failed to pull image "example.invalid/nothing:1"')
        for _, r, m in events
    )
    table = kubectl.out("get", "pod", "pull")
    assert "ImagePullBackOff" in table or "ErrImagePull" in table


def test_crashing_container_enters_crashloopbackoff_with_restart_count(kubectl: Kubectl) -> None:
    # An argument the workload rejects makes it exit 2 at once, like a misconfigured container.
    manifest = gpu_pod_manifest("crash", image=WORKLOAD_IMAGE, args=["--max_steps", "not-a-number"], gpus=0)
    kubectl.apply(manifest.replace("restartPolicy: Never", "restartPolicy: Always"))
    kubectl.wait(
        "pod/crash", "jsonpath={.status.containerStatuses[0].restartCount}=2", timeout_s=STATE_TIMEOUT_S
    )
    kubectl.wait(
        "pod/crash",
        "jsonpath={.status.containerStatuses[0].state.waiting.reason}=CrashLoopBackOff",
        timeout_s=STATE_TIMEOUT_S,
    )
    status = kubectl.json("get", "pod", "crash")["status"]["containerStatuses"][0]
    last = status["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (2, "Error")
    assert last["startedAt"] <= last["finishedAt"]
    assert status["state"]["waiting"]["message"].startswith("back-off ")
    assert "restarting failed container=crash pod=crash_default(" in status["state"]["waiting"]["message"]
    events = kubectl.events("crash")
    assert any(
        r == "BackOff" and m.startswith("Back-off restarting failed container crash in pod crash_default(")
        for _, r, m, _ in events
    )
    started = kubectl.json("get", "events", "--field-selector", "involvedObject.name=crash,reason=Started")
    assert sum(e["count"] for e in started["items"]) >= 2, "repeated starts aggregate into one Event's count"
    logs = kubectl.out("logs", "crash", "--previous")
    assert "not-a-number" in logs, "the previous attempt's output explains the crash"


def test_job_fails_with_backofflimitexceeded_after_backofflimit_pod_failures(kubectl: Kubectl) -> None:
    job = f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: doomed}}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: doomed
        image: {WORKLOAD_IMAGE}
        args: ["--max_steps", "bad"]
"""
    kubectl.apply(job)
    kubectl.wait("job/doomed", "condition=Failed", timeout_s=STATE_TIMEOUT_S)
    status = kubectl.json("get", "job", "doomed")["status"]
    assert status["failed"] == 2 and "succeeded" not in status and "active" not in status
    for kind in ("FailureTarget", "Failed"):
        cond = condition({"status": status}, kind)
        assert (cond["status"], cond["reason"], cond["message"]) == (
            "True",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ), kind
    assert "completionTime" not in status
    events = [(t, r, m) for t, r, m, _ in kubectl.events("doomed")]
    assert ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit") in events
    assert sum(1 for _, r, _ in events if r == "SuccessfulCreate") == 2


def test_unhealthy_device_leaves_capacity_but_not_allocatable(
    cluster: ClusterThread, kubectl: Kubectl
) -> None:
    install_device_plugin(kubectl)
    kubectl.wait(
        f"node/{NODE}",
        "jsonpath={.status.allocatable.nvidia\\.com/gpu}=1",
        timeout_s=STATE_TIMEOUT_S,
        namespace="default",
    )
    cluster.call(cluster.cluster.set_device_health, NODE, 0, False)
    kubectl.wait(
        f"node/{NODE}", "jsonpath={.status.allocatable.nvidia\\.com/gpu}=0", timeout_s=STATE_TIMEOUT_S
    )
    node = kubectl.json("get", "node", NODE)
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "1"
    kubectl.apply(gpu_pod_manifest("needs-gpu", image=WORKLOAD_IMAGE, args=["--max_steps", "20"]))
    kubectl.wait(
        "pod/needs-gpu",
        'jsonpath={.status.conditions[?(@.type=="PodScheduled")].reason}=Unschedulable',
        timeout_s=STATE_TIMEOUT_S,
    )
    assert condition(kubectl.json("get", "pod", "needs-gpu"), "PodScheduled")["message"] == NO_GPU_MESSAGE


def test_taint_not_tolerated_keeps_gpu_pod_pending(kubectl: Kubectl) -> None:
    install_device_plugin(kubectl)
    kubectl.run("taint", "node", NODE, "sku=gpu:NoSchedule")
    kubectl.apply(gpu_pod_manifest("intolerant", image=WORKLOAD_IMAGE, args=["--max_steps", "20"]))
    kubectl.wait(
        "pod/intolerant",
        'jsonpath={.status.conditions[?(@.type=="PodScheduled")].reason}=Unschedulable',
        timeout_s=STATE_TIMEOUT_S,
    )
    message = condition(kubectl.json("get", "pod", "intolerant"), "PodScheduled")["message"]
    assert message == (
        "0/1 nodes are available: 1 node(s) had untolerated taint {sku: gpu}. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling.."
    )
    # The article's DaemonSet doesn't tolerate sku=gpu either: the node leaves its desired set, but a
    # NoSchedule taint evicts nothing, so its running plugin pod now counts as misscheduled.
    kubectl.wait(
        "daemonset/nvidia-device-plugin-daemonset",
        "jsonpath={.status.numberMisscheduled}=1",
        timeout_s=STATE_TIMEOUT_S,
        namespace="gpu-resources",
    )
    ds = kubectl.json("get", "daemonset", "-n", "gpu-resources", "nvidia-device-plugin-daemonset")
    status = ds["status"]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"]) == (0, 0)
    phases = [p["status"]["phase"] for p in kubectl.json("get", "pods", "-n", "gpu-resources")["items"]]
    assert phases == ["Running"]


def test_not_ready_node_is_tainted_and_reports_kubeletnotready(
    cluster: ClusterThread, kubectl: Kubectl
) -> None:
    cluster.call(cluster.cluster.set_node_ready, NODE, False, "container runtime is down")
    kubectl.wait(f"node/{NODE}", "condition=Ready=False", timeout_s=STATE_TIMEOUT_S)
    node = kubectl.json("get", "node", NODE)
    ready = condition(node, "Ready")
    assert (ready["reason"], ready["message"]) == ("KubeletNotReady", "container runtime is down")
    assert {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"} in [
        {k: t[k] for k in ("key", "effect")} for t in node["spec"]["taints"]
    ]
    assert "NotReady" in kubectl.out("get", "nodes")


def job_manifest(name: str, *, restart: str, args: list[str], extra_spec: str = "") -> str:
    return f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
{extra_spec}
  template:
    spec:
      restartPolicy: {restart}
      containers:
      - name: {name}
        image: {WORKLOAD_IMAGE}
        args: {args!r}
"""


def test_onfailure_job_counts_container_restarts_against_backofflimit(kubectl: Kubectl) -> None:
    kubectl.apply(
        job_manifest(
            "restarts", restart="OnFailure", args=["--max_steps", "bad"], extra_spec="  backoffLimit: 1"
        )
    )
    kubectl.wait("job/restarts", "condition=Failed", timeout_s=STATE_TIMEOUT_S)
    status = kubectl.json("get", "job", "restarts")["status"]
    assert condition({"status": status}, "Failed")["reason"] == "BackoffLimitExceeded"
    kubectl.run(
        "wait",
        "--for=delete",
        "pod",
        "--selector",
        "job-name=restarts",
        f"--timeout={STATE_TIMEOUT_S:g}s",
        timeout=STATE_TIMEOUT_S + 30,
    )
    events = [(r, m) for _, r, m, _ in kubectl.events("restarts")]
    assert sum(1 for r, _ in events if r == "SuccessfulCreate") == 1, "OnFailure restarts in place, one pod"
    assert any(r == "SuccessfulDelete" for r, _ in events), "the failed Job's active pod is deleted"


def test_active_deadline_fails_a_running_job_and_deletes_its_pod(kubectl: Kubectl) -> None:
    kubectl.apply(
        job_manifest(
            "slow",
            restart="Never",
            args=["--max_steps", "100000000"],
            extra_spec="  activeDeadlineSeconds: 2",
        )
    )
    kubectl.wait("job/slow", "condition=Failed", timeout_s=STATE_TIMEOUT_S)
    failed = condition(kubectl.json("get", "job", "slow"), "Failed")
    assert (failed["reason"], failed["message"]) == (
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    )
    kubectl.run(
        "wait",
        "--for=delete",
        "pod",
        "--selector",
        "job-name=slow",
        f"--timeout={STATE_TIMEOUT_S:g}s",
        timeout=STATE_TIMEOUT_S + 30,
    )
    assert ("Warning", "DeadlineExceeded", "Job was active longer than specified deadline") in [
        (t, r, m) for t, r, m, _ in kubectl.events("slow")
    ]


def test_completed_job_with_ttl_is_deleted_with_its_pods(kubectl: Kubectl) -> None:
    kubectl.apply(
        job_manifest(
            "brief",
            restart="Never",
            args=["--max_steps", "20"],
            extra_spec="  completions: 2\n  parallelism: 2\n  ttlSecondsAfterFinished: 1",
        )
    )
    kubectl.run(
        "wait", "--for=delete", "job/brief", f"--timeout={STATE_TIMEOUT_S:g}s", timeout=STATE_TIMEOUT_S + 30
    )
    kubectl.run(
        "wait",
        "--for=delete",
        "pod",
        "--selector",
        "job-name=brief",
        f"--timeout={STATE_TIMEOUT_S:g}s",
        timeout=STATE_TIMEOUT_S + 30,
    )
    reasons = [r for _, r, _, _ in kubectl.events("brief")]
    assert reasons.count("SuccessfulCreate") == 2 and "Completed" in reasons


def test_node_advertising_fewer_gpus_than_its_size_shows_in_capacity(
    cluster: ClusterThread, kubectl: Kubectl
) -> None:
    install_device_plugin(kubectl)
    kubectl.wait(f"node/{NODE}", "jsonpath={.status.capacity.nvidia\\.com/gpu}=1", timeout_s=STATE_TIMEOUT_S)
    cluster.call(cluster.cluster.set_advertised_gpus, NODE, 0)
    kubectl.wait(f"node/{NODE}", "jsonpath={.status.capacity.nvidia\\.com/gpu}=0", timeout_s=STATE_TIMEOUT_S)
    assert kubectl.json("get", "node", NODE)["status"]["allocatable"]["nvidia.com/gpu"] == "0"
    cluster.call(cluster.cluster.set_advertised_gpus, NODE, None)
    kubectl.wait(f"node/{NODE}", "jsonpath={.status.capacity.nvidia\\.com/gpu}=1", timeout_s=STATE_TIMEOUT_S)


def test_pod_bound_past_the_scheduler_to_a_node_without_gpus_fails_admission(kubectl: Kubectl) -> None:
    manifest = gpu_pod_manifest("pinned", image=WORKLOAD_IMAGE, args=["--max_steps", "20"])
    kubectl.apply(manifest.replace("spec:\n", f"spec:\n  nodeName: {NODE}\n", 1))
    kubectl.wait("pod/pinned", "jsonpath={.status.phase}=Failed", timeout_s=STATE_TIMEOUT_S)
    status = kubectl.json("get", "pod", "pinned")["status"]
    assert status["reason"] == "UnexpectedAdmissionError"
    # No plugin ever registered nvidia.com/gpu on this node: kubelet's devicesToAllocate refuses an
    # unregistered resource before it counts devices (pkg/kubelet/cm/devicemanager/manager.go).
    assert status["message"] == (
        "Allocate failed due to cannot allocate unregistered device nvidia.com/gpu, which is unexpected"
    )
    assert ("Warning", "UnexpectedAdmissionError") in [(t, r) for t, r, _, _ in kubectl.events("pinned")]


def test_deleting_a_running_pod_kills_its_container_gracefully(kubectl: Kubectl) -> None:
    kubectl.apply(gpu_pod_manifest("long", image=WORKLOAD_IMAGE, args=["--max_steps", "100000000"], gpus=0))
    kubectl.wait("pod/long", "condition=Ready", timeout_s=STATE_TIMEOUT_S)
    kubectl.run("delete", "pod", "long", f"--timeout={STATE_TIMEOUT_S:g}s", timeout=STATE_TIMEOUT_S + 30)
    assert kubectl.run("get", "pod", "long", check=False).returncode != 0, (
        "the pod is gone once kubectl returns"
    )
    events = [(t, r, m) for t, r, m, _ in kubectl.events("long")]
    assert ("Normal", "Killing", "Stopping container long") in events
