"""What a Kubernetes object's state means for the article: one-line summaries and permanent failures.

Summaries feed the wait timeline and live progress; `*_failure` functions tell the wait helper to
stop at once on states that will not heal by themselves (ARCHITECTURE principle 3), with the reason
worded for a user.
"""

from __future__ import annotations

from typing import Any

from gpuconf.kube import condition, gpu_quantity

Obj = dict[str, Any]

# Waiting reasons that do not heal without a change to the cluster or the manifest.
PERMANENT_WAITING = {
    "ImagePullBackOff": "its image cannot be pulled",
    "ErrImagePull": "its image cannot be pulled",
    "InvalidImageName": "its image name is invalid",
    "CrashLoopBackOff": "it keeps crashing",
    "CreateContainerConfigError": "its container configuration is invalid",
}


def pod_status_text(pod: Obj) -> str:
    """Roughly kubectl's STATUS column."""
    meta, status = pod.get("metadata", {}), pod.get("status", {})
    if meta.get("deletionTimestamp"):
        return "Terminating"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state", {})
        if "waiting" in state and state["waiting"].get("reason"):
            return state["waiting"]["reason"]
        if "terminated" in state:
            return state["terminated"].get("reason") or "Terminated"
    scheduled = condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        return "Pending (" + (scheduled.get("reason") or "unscheduled") + ")"
    return status.get("phase", "Unknown")


def summarize_pod(pod: Obj) -> str:
    node = pod.get("spec", {}).get("nodeName") or "no node"
    restarts = sum(cs.get("restartCount", 0) for cs in pod.get("status", {}).get("containerStatuses") or [])
    return f"pod {pod['metadata']['name']} {pod_status_text(pod)} on {node}, restarts {restarts}"


def pod_running_and_ready(pod: Obj) -> bool:
    """Running with every container ready (kubectl's READY n/n), not merely started."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return (
        pod.get("status", {}).get("phase") == "Running"
        and not pod.get("metadata", {}).get("deletionTimestamp")
        and bool(statuses)
        and all(cs.get("ready") for cs in statuses)
    )


def pod_failure(pod: Obj) -> str | None:
    name = pod["metadata"]["name"]
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        waiting = cs.get("state", {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in PERMANENT_WAITING:
            message = waiting.get("message") or ""
            return f"pod {name} is {reason}: {PERMANENT_WAITING[reason]}" + (
                f" ({message})" if message else ""
            )
    scheduled = condition(pod, "PodScheduled")
    if (
        scheduled
        and scheduled.get("status") == "False"
        and "Insufficient" in (scheduled.get("message") or "")
    ):
        return f"pod {name} cannot be scheduled: {scheduled.get('message')}"
    return None


def pod_terminal_failure(pod: Obj) -> str | None:
    """A pod that ended Failed (restartPolicy Never, or deleted by its deadline), with its exit."""
    status = pod.get("status", {})
    if status.get("phase") != "Failed":
        return None
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if terminated:
            detail = f"exit code {terminated.get('exitCode')} ({terminated.get('reason') or 'Error'})"
            message = (terminated.get("message") or "").strip()
            return f"pod {pod['metadata']['name']} Failed: container {cs.get('name')} {detail}" + (
                f": {message.splitlines()[-1]}" if message else ""
            )
    return f"pod {pod['metadata']['name']} Failed: {status.get('reason') or 'no container status'}"


def summarize_job(job: Obj) -> str:
    status = job.get("status", {})
    completions = job.get("spec", {}).get("completions", 1)
    conditions = ",".join(c["type"] for c in status.get("conditions") or [] if c.get("status") == "True")
    return (
        f"job {job['metadata']['name']} {status.get('succeeded', 0)}/{completions} "
        f"active {status.get('active', 0)} failed {status.get('failed', 0)}"
        + (f" [{conditions}]" if conditions else "")
    )


def job_failure(job: Obj) -> str | None:
    failed = condition(job, "Failed")
    if failed and failed.get("status") == "True":
        return f"job {job['metadata']['name']} Failed ({failed.get('reason')}): {failed.get('message')}"
    return None


def job_complete(job: Obj) -> bool:
    done = condition(job, "Complete")
    return bool(done and done.get("status") == "True")


def summarize_daemonset(ds: Obj) -> str:
    s = ds.get("status", {})
    return (
        f"daemonset {ds['metadata']['name']} desired {s.get('desiredNumberScheduled', 0)} "
        f"current {s.get('currentNumberScheduled', 0)} updated {s.get('updatedNumberScheduled', 0)} "
        f"ready {s.get('numberReady', 0)} available {s.get('numberAvailable', 0)} "
        f"misscheduled {s.get('numberMisscheduled', 0)} "
        f"(generation {ds['metadata'].get('generation')}, observed {s.get('observedGeneration')})"
    )


def daemonset_rolled_out(ds: Obj) -> bool:
    """kubectl rollout status's rule, plus at least one pod (a DaemonSet on zero nodes proves nothing)."""
    s = ds.get("status", {})
    desired = s.get("desiredNumberScheduled", 0)
    return (
        s.get("observedGeneration", 0) >= ds["metadata"].get("generation", 1)
        and desired > 0
        and desired
        == s.get("updatedNumberScheduled", 0)
        == s.get("numberReady", 0)
        == s.get("numberAvailable", 0)
    )


def summarize_node(node: Obj, resource: str = "nvidia.com/gpu") -> str:
    ready = condition(node, "Ready") or {}
    return (
        f"node {node['metadata']['name']} Ready={ready.get('status', 'Unknown')} "
        f"{resource} capacity {gpu_quantity(node, 'capacity', resource)} "
        f"allocatable {gpu_quantity(node, 'allocatable', resource)}"
    )
