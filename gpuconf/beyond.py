"""Checks beyond the article's own steps, which users of GPU clusters get bitten by.

- GPU exclusivity: a GPU held by one pod is not handed to a second; the second pod waits Pending
  with `Insufficient nvidia.com/gpu` and runs once the first finishes.
- Capacity survives a device-plugin restart: delete the plugin pod, the DaemonSet replaces it, the
  plugin re-registers, and capacity and allocatable come back to the VM size's count.
Both run after the article's clean-up steps, so no workload of the suite still holds a GPU.
"""

from __future__ import annotations

from typing import Any

from gpuconf import failfast, states
from gpuconf.checks.article import GPU, JOB_NAMESPACE, PLUGIN_LABEL, PLUGIN_NAMESPACE
from gpuconf.flow import ArticleFlow
from gpuconf.kube import condition, gpu_quantity
from gpuconf.nodes import node_name
from gpuconf.step_outcome import StepOutcome
from gpuconf.workload_steps import workloads_cleaned_up

# The holder only has to hold the GPU(s) until the waiter is seen Pending, then it is deleted; the
# waiter only has to get a GPU and start. The pause image does exactly that (no work to wait for),
# and every Kubernetes node has it.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def _gpu_pod(name: str, node: str, gpus: int, image: str, args: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": JOB_NAMESPACE, "labels": {"app": "gpuconf-exclusivity"}},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"kubernetes.io/hostname": node},
            "containers": [
                {
                    "name": "workload",
                    "image": image,
                    "args": args,
                    "resources": {"limits": {GPU: str(gpus)}},
                }
            ],
        },
    }


def _pod_wait(
    flow: ArticleFlow, name: str, until: Any, describe: str, timeout_name: str, fail_fast: Any = None
):
    return flow._wait(
        flow.kube.core.list_namespaced_pod,
        namespace=JOB_NAMESPACE,
        field_selector=f"metadata.name={name}",
        until=until,
        timeout=getattr(flow.timeouts, timeout_name),
        timeout_name=timeout_name,
        describe=describe,
        summarize=states.summarize_pod,
        fail_fast=fail_fast,
        recheck_every_s=failfast.RECHECK_EVERY_S,
    )


def _insufficient(pods: list[dict[str, Any]]) -> str | None:
    if not pods:
        return None
    scheduled = condition(pods[0], "PodScheduled") or {}
    message = scheduled.get("message") or ""
    if scheduled.get("status") == "False" and f"Insufficient {GPU}" in message:
        return message
    return None


def gpu_exclusivity(flow: ArticleFlow) -> StepOutcome:
    flow.require("confirm-that-gpus-are-schedulable")
    workloads_cleaned_up(flow)  # the article's workloads must not hold a GPU any more
    node = flow.gpu_nodes()[0]
    name, count = node_name(node), flow.expected_gpus(node)
    holder, waiter = "gpuconf-gpu-holder", "gpuconf-gpu-waiter"
    outcome = StepOutcome()
    flow.kube.create(_gpu_pod(holder, name, count, PAUSE_IMAGE, []))
    flow.created.append(("Pod", holder, JOB_NAMESPACE))
    cordoned = failfast.every_gpu_node_cordoned_for(
        flow.gpu_nodes, min(flow.timeouts.pod_scheduled / 4, 60.0)
    )
    running = _pod_wait(
        flow,
        holder,
        lambda pods: pods and pods[0]["status"].get("phase") == "Running",
        f"pod {holder} (all {count} GPU(s) of {name}) to run",
        "pod_scheduled",
        lambda pod: states.pod_failure(pod) or states.pod_failed(pod) or cordoned(pod),
    )
    outcome.timeline += running.timeline
    flow.kube.create(_gpu_pod(waiter, name, 1, PAUSE_IMAGE, []))
    flow.created.append(("Pod", waiter, JOB_NAMESPACE))
    pending = _pod_wait(
        flow,
        waiter,
        _insufficient,
        f"pod {waiter} to stay Pending with Insufficient {GPU} while {holder} holds the GPU(s)",
        "pod_scheduled",
        lambda pod: _waiter_scheduled(flow, pod, holder),
    )
    outcome.timeline += pending.timeline
    outcome.evidence.append(
        f"{waiter} Pending while {holder} holds {count} GPU(s) on {name}: {pending.value}"
    )
    flow.kube.delete("Pod", holder, JOB_NAMESPACE)
    outcome.timeline += flow.wait_gone("Pod", holder, JOB_NAMESPACE)
    flow.created.remove(("Pod", holder, JOB_NAMESPACE))
    done = _pod_wait(
        flow,
        waiter,
        lambda pods: pods and pods[0]["status"].get("phase") == "Running",
        f"pod {waiter} to get the GPU and run once {holder} released it",
        "pod_scheduled",
        # The waiter may still show Insufficient nvidia.com/gpu until the scheduler sees the holder gone:
        # only its containers and its end state count.
        lambda p: states.container_failure(p) or states.pod_failed(p),
    )
    outcome.timeline += done.timeline
    outcome.evidence.append(
        f"{waiter} ran on {done.objects[0]['spec'].get('nodeName')} once {holder} was gone"
    )
    flow.kube.delete("Pod", waiter, JOB_NAMESPACE)
    outcome.timeline += flow.wait_gone("Pod", waiter, JOB_NAMESPACE)
    flow.created.remove(("Pod", waiter, JOB_NAMESPACE))
    return outcome


def _waiter_scheduled(flow: ArticleFlow, waiter: dict[str, Any], holder: str) -> str | None:
    """Why the waiter got a node: the GPU was shared (a failure of the cluster), or the holder died."""
    node = waiter["spec"].get("nodeName")
    if not node:
        return None
    pods = [p for p in flow.kube.pods(JOB_NAMESPACE) if p["metadata"]["name"] == holder]
    if pods and pods[0]["status"].get("phase") == "Running":
        return f"it was scheduled onto {node} while {holder} held every GPU there"
    died = pods and (states.pod_failed(pods[0]) or states.container_failure(pods[0]))
    if died:
        return f"{holder} did not hold the GPU(s) until the check was done: {died}"
    return None


def capacity_survives_plugin_restart(flow: ArticleFlow) -> StepOutcome:
    # A prerequisite like any other: its failure is reported as one, not re-raised as this check's own.
    expected = flow.require("confirm-that-gpus-are-schedulable").data["expected"]
    plugin_pods = [
        p for p in flow.kube.pods(PLUGIN_NAMESPACE, PLUGIN_LABEL) if p["status"].get("phase") == "Running"
    ]
    assert plugin_pods, f"no Running device-plugin pod in {PLUGIN_NAMESPACE} to restart"
    old = plugin_pods[0]
    node, old_uid = old["spec"]["nodeName"], old["metadata"]["uid"]
    flow.kube.delete("Pod", old["metadata"]["name"], PLUGIN_NAMESPACE)
    replaced = flow._wait(
        flow.kube.core.list_namespaced_pod,
        namespace=PLUGIN_NAMESPACE,
        label_selector=PLUGIN_LABEL,
        until=lambda pods: [
            p
            for p in pods
            if p["spec"].get("nodeName") == node
            and p["metadata"]["uid"] != old_uid
            and p["status"].get("phase") == "Running"
        ],
        timeout=flow.timeouts.daemonset_rollout,
        timeout_name="daemonset_rollout",
        describe=f"the DaemonSet to replace the deleted device-plugin pod on {node}",
        summarize=states.summarize_pod,
        fail_fast=states.pod_failure,
    )
    advertised = flow._wait(
        flow.kube.core.list_node,
        field_selector=f"metadata.name={node}",
        until=lambda nodes: (
            nodes
            and gpu_quantity(nodes[0], "capacity") == expected[node] == gpu_quantity(nodes[0], "allocatable")
        ),
        timeout=flow.timeouts.gpu_advertised,
        timeout_name="gpu_advertised",
        describe=f"{node} to advertise {expected[node]} {GPU} again after the plugin restart",
        summarize=states.summarize_node,
    )
    return StepOutcome(
        evidence=[
            f"device-plugin pod {old['metadata']['name']} on {node} deleted; "
            f"replacement {replaced.value[0]['metadata']['name']} Running",
            states.summarize_node(advertised.objects[0]),
        ],
        timeline=replaced.timeline + advertised.timeline,
    )
