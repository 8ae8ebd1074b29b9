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


def _first_sentence(message: str) -> str:
    """The scheduler's verdict without its preemption postscript ("... preemption: 0/1 nodes ...")."""
    return message.split(" preemption:")[0].strip()


def summarize_pod(pod: Obj) -> str:
    """`pod NAME STATUS on NODE, restarts N`, with why it is Pending or what keeps it Terminating."""
    meta = pod.get("metadata", {})
    node = pod.get("spec", {}).get("nodeName") or "no node"
    restarts = sum(cs.get("restartCount", 0) for cs in pod.get("status", {}).get("containerStatuses") or [])
    status = pod_status_text(pod)
    scheduled = condition(pod, "PodScheduled") or {}
    if status.startswith("Pending (") and scheduled.get("message"):
        status = (
            f"Pending ({scheduled.get('reason') or 'unscheduled'}: {_first_sentence(scheduled['message'])})"
        )
    elif status == "Terminating" and meta.get("finalizers"):
        status = f"Terminating (finalizers: {', '.join(meta['finalizers'])})"
    return f"pod {meta['name']} {status} on {node}, restarts {restarts}"


def pod_running_and_ready(pod: Obj) -> bool:
    """Running with every container ready (kubectl's READY n/n), not merely started."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return (
        pod.get("status", {}).get("phase") == "Running"
        and not pod.get("metadata", {}).get("deletionTimestamp")
        and bool(statuses)
        and all(cs.get("ready") for cs in statuses)
    )


def container_failure(pod: Obj) -> str | None:
    """A container stuck in a waiting state that does not heal by itself (ImagePullBackOff, ...)."""
    name = pod["metadata"]["name"]
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        waiting = cs.get("state", {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in PERMANENT_WAITING:
            message = waiting.get("message") or ""
            last = (cs.get("lastState") or {}).get("terminated") or {}
            exited = (
                f", last exit code {last['exitCode']} ({last.get('reason') or 'Error'})"
                if last.get("exitCode") is not None
                else ""
            )
            return f"pod {name} is {reason}: {PERMANENT_WAITING[reason]}{exited}" + (
                f" ({message})" if message else ""
            )
    return None


def pod_failed(pod: Obj) -> str | None:
    """A pod in phase Failed: terminal for a bare pod (restartPolicy Never, no controller to retry it).

    Not for a Job's pods: the Job controller replaces a failed pod until its backoffLimit (job_failure)."""
    status = pod.get("status", {})
    if status.get("phase") != "Failed":
        return None
    name = pod["metadata"]["name"]
    for cs in status.get("containerStatuses") or []:
        terminated = cs.get("state", {}).get("terminated") or {}
        if terminated.get("exitCode"):
            return (
                f"pod {name} Failed: container {cs.get('name')} exited with code {terminated['exitCode']}"
                f" ({terminated.get('reason') or 'Error'})"
            )
    reason, message = status.get("reason"), status.get("message")
    return f"pod {name} Failed" + (f" ({reason}: {message})" if reason else "")


def pod_failure(pod: Obj) -> str | None:
    waiting = container_failure(pod)
    if waiting:
        return waiting
    name = pod["metadata"]["name"]
    scheduled = condition(pod, "PodScheduled")
    if (
        scheduled
        and scheduled.get("status") == "False"
        and "Insufficient" in (scheduled.get("message") or "")
    ):
        return f"pod {name} cannot be scheduled: {scheduled.get('message')}"
    return None


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


def taint_text(taint: Obj) -> str:
    """`key=value:Effect` (or `key:Effect`), as kubectl taint writes it."""
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key', '')}{value}:{taint.get('effect', '')}"


def node_ready_text(node: Obj) -> str:
    """`Ready=True`, or `Ready=False (KubeletNotReady: container runtime network not ready: ...)`."""
    ready = condition(node, "Ready") or {}
    status = ready.get("status", "Unknown")
    if status == "True":
        return "Ready=True"
    why = ": ".join(str(part) for part in (ready.get("reason"), ready.get("message")) if part)
    return f"Ready={status}" + (f" ({why})" if why else "")


def advertises(node: Obj, count: int, resource: str = "nvidia.com/gpu") -> bool:
    """Capacity and allocatable both show exactly `count` of the resource."""
    return gpu_quantity(node, "capacity", resource) == count == gpu_quantity(node, "allocatable", resource)


def summarize_node(node: Obj, resource: str = "nvidia.com/gpu") -> str:
    spec = node.get("spec", {})
    extra = " cordoned" if spec.get("unschedulable") else ""
    taints = [taint_text(t) for t in spec.get("taints") or []]
    if taints:
        extra += f" taints {','.join(taints)}"
    return (
        f"node {node['metadata']['name']} {node_ready_text(node)}{extra} "
        f"{resource} capacity {gpu_quantity(node, 'capacity', resource)} "
        f"allocatable {gpu_quantity(node, 'allocatable', resource)}"
    )
