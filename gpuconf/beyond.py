"""Checks beyond the article's own steps, which users of GPU clusters get bitten by.

- GPU exclusivity: a GPU held by one pod is not handed to a second; the second pod waits Pending
  with `Insufficient nvidia.com/gpu` and runs once the first finishes.
- Capacity survives a device-plugin restart: delete the plugin pod, the DaemonSet replaces it, the
  plugin re-registers, and capacity and allocatable come back to the VM size's count.
Both run after the article's clean-up step, so the article's Job no longer holds a GPU.
"""

from __future__ import annotations

from typing import Any

from gpuconf import states
from gpuconf.flow import (
    GPU,
    JOB_NAMESPACE,
    PLUGIN_LABEL,
    PLUGIN_NAMESPACE,
    ArticleFlow,
    StepOutcome,
    node_name,
)
from gpuconf.kube import condition, gpu_quantity

HOLDER_STEPS = 20000  # long enough to still hold the GPU while the second pod is scheduled
WAITER_STEPS = 50


def _gpu_pod(flow: ArticleFlow, name: str, node: str, gpus: int, steps: int) -> dict[str, Any]:
    image = flow.workload_job()["spec"]["template"]["spec"]["containers"][0]["image"]
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
                    "args": ["--max_steps", str(steps)],
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
    flow.require("clean-up-resources")
    node = flow.gpu_nodes()[0]
    name, count = node_name(node), flow.expected_gpus(node)
    holder, waiter = "gpuconf-gpu-holder", "gpuconf-gpu-waiter"
    outcome = StepOutcome()
    flow.kube.create(_gpu_pod(flow, holder, name, count, HOLDER_STEPS))
    flow.created.append(("Pod", holder, JOB_NAMESPACE))
    running = _pod_wait(
        flow,
        holder,
        lambda pods: pods and pods[0]["status"].get("phase") in ("Running", "Succeeded"),
        f"pod {holder} (all {count} GPU(s) of {name}) to run",
        "pod_scheduled",
        states.pod_failure,
    )
    outcome.timeline += running.timeline
    flow.kube.create(_gpu_pod(flow, waiter, name, 1, WAITER_STEPS))
    flow.created.append(("Pod", waiter, JOB_NAMESPACE))
    pending = _pod_wait(
        flow,
        waiter,
        _insufficient,
        f"pod {waiter} to stay Pending with Insufficient {GPU} while {holder} holds the GPU(s)",
        "pod_scheduled",
        lambda pod: (
            f"it was scheduled onto {pod['spec']['nodeName']} while {holder} held every GPU there"
            if pod["spec"].get("nodeName") and _holder_running(flow, holder)
            else None
        ),
    )
    outcome.timeline += pending.timeline
    outcome.evidence.append(
        f"{waiter} Pending while {holder} holds {count} GPU(s) on {name}: {pending.value}"
    )
    for pod in (holder, waiter):
        done = _pod_wait(
            flow,
            pod,
            lambda pods: pods and pods[0]["status"].get("phase") == "Succeeded",
            f"pod {pod} to complete",
            "job_complete",
            lambda p: states.pod_failure(p) if p["metadata"]["name"] == holder else None,
        )
        outcome.timeline += done.timeline
    outcome.evidence.append(f"{waiter} ran once {holder} finished")
    for pod in (holder, waiter):
        flow.kube.delete("Pod", pod, JOB_NAMESPACE)
        outcome.timeline += flow.wait_gone("Pod", pod, JOB_NAMESPACE)
        flow.created.remove(("Pod", pod, JOB_NAMESPACE))
    return outcome


def _holder_running(flow: ArticleFlow, holder: str) -> bool:
    pods = [p for p in flow.kube.pods(JOB_NAMESPACE) if p["metadata"]["name"] == holder]
    return bool(pods) and pods[0]["status"].get("phase") == "Running"


def capacity_survives_plugin_restart(flow: ArticleFlow) -> StepOutcome:
    expected = flow.confirm_that_gpus_are_schedulable().data["expected"]
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
