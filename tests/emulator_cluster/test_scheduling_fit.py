"""kube-scheduler's filter semantics and message wording, as pure functions."""

from __future__ import annotations

import pytest

from gpuconf.emulator import profiles
from gpuconf.emulator.controllers import fit
from gpuconf.emulator.controllers.resources import parse_quantity, pod_requests
from gpuconf.emulator.kubelet.node import build_node


def gpu_node(gpus: int = 1, **spec: object) -> dict:
    node = build_node("aks-nodepool1-28993262-0", "nodepool1", profiles.vm_size("Standard_NC6"), 0)
    node["status"]["allocatable"]["nvidia.com/gpu"] = str(gpus)
    node["spec"].update(spec)
    return node


def pod(limits: dict | None = None, requests: dict | None = None, **spec: object) -> dict:
    resources = {}
    if limits:
        resources["limits"] = limits
    if requests:
        resources["requests"] = requests
    return {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "resources": resources}], **spec},
    }


def test_quantities_parse_like_kubernetes() -> None:
    assert parse_quantity("5916m") == parse_quantity("5.916")
    assert parse_quantity("51702904Ki") == 51702904 * 1024
    assert parse_quantity(1) == 1
    with pytest.raises(ValueError, match="invalid quantity"):
        parse_quantity("12XB")


def test_a_gpu_limit_implies_an_equal_request() -> None:
    assert pod_requests(pod(limits={"nvidia.com/gpu": 1}))["nvidia.com/gpu"] == 1


def test_pod_fits_a_free_gpu_but_not_one_already_bound() -> None:
    node, wants_gpu = gpu_node(1), pod(limits={"nvidia.com/gpu": "1"})
    assert fit.unfit_reasons(wants_gpu, node, []) == []
    assert fit.unfit_reasons(wants_gpu, node, [wants_gpu]) == ["Insufficient nvidia.com/gpu"]


def test_node_without_advertised_gpu_reports_insufficient_gpu_with_preemption_suffix() -> None:
    node = build_node("n0", "nodepool1", profiles.vm_size("Standard_NC6"), 0)
    reasons = fit.unfit_reasons(pod(limits={"nvidia.com/gpu": 1}), node, [])
    message = fit.failed_scheduling_message({"n0": reasons}, 1)
    assert message == (
        "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: "
        "1 No preemption victims found for incoming pod.."
    )


def test_untolerated_taint_is_named_and_preemption_is_not_helpful() -> None:
    node = gpu_node(1, taints=[{"key": "sku", "value": "gpu", "effect": "NoSchedule"}])
    reasons = fit.unfit_reasons(pod(), node, [])
    assert reasons == ["node(s) had untolerated taint {sku: gpu}"]
    assert fit.failed_scheduling_message({"n": reasons}, 1).endswith(
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.."
    )
    tolerant = pod(tolerations=[{"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])
    assert fit.unfit_reasons(tolerant, node, []) == []


def test_exists_toleration_without_key_tolerates_every_taint() -> None:
    node = gpu_node(1, taints=[{"key": "a", "effect": "NoExecute"}])
    assert fit.unfit_reasons(pod(tolerations=[{"operator": "Exists"}]), node, []) == []


def test_cordoned_node_is_unschedulable() -> None:
    assert fit.unfit_reasons(pod(), gpu_node(1, unschedulable=True), []) == [fit.REASON_UNSCHEDULABLE]


def test_node_selector_and_required_affinity_must_both_match() -> None:
    node = gpu_node(1)
    assert fit.unfit_reasons(pod(nodeSelector={"accelerator": "nvidia"}), node, []) == []
    assert fit.unfit_reasons(pod(nodeSelector={"accelerator": "amd"}), node, []) == [fit.REASON_AFFINITY]
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "agentpool", "operator": "In", "values": ["gpupool"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["elsewhere"]}]},
                ]
            }
        }
    }
    assert fit.unfit_reasons(pod(affinity=affinity), node, []) == [fit.REASON_AFFINITY]


def test_counts_are_summed_over_nodes_and_sorted() -> None:
    message = fit.failed_scheduling_message(
        {
            "a": ["Insufficient nvidia.com/gpu"],
            "b": ["Insufficient nvidia.com/gpu"],
            "c": [fit.REASON_AFFINITY],
        },
        3,
    )
    assert message.startswith(
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "2 Insufficient nvidia.com/gpu."
    )
    assert (
        "1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.."
        in message
    )
