"""Strategic merge patch as kube-apiserver applies it to the kinds the emulator serves."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.patch import apply_patch, merge_patch

STRATEGIC = "application/strategic-merge-patch+json"
CONTAINER = "nvidia-device-plugin-ctr"


def live_device_plugin_daemonset() -> dict[str, Any]:
    """The article's DaemonSet as the API server stores it: the manifest plus server defaults."""
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "nvidia-device-plugin-daemonset", "namespace": "gpu-resources", "generation": 1},
        "spec": {
            "selector": {"matchLabels": {"name": "nvidia-device-plugin-ds"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {
                    "annotations": {"scheduler.alpha.kubernetes.io/critical-pod": ""},
                    "labels": {"name": "nvidia-device-plugin-ds"},
                },
                "spec": {
                    "tolerations": [
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                    ],
                    "containers": [
                        {
                            "image": "mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11",
                            "name": CONTAINER,
                            "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePath": "/dev/termination-log",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"}
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}
                    ],
                    "restartPolicy": "Always",
                },
            },
        },
        "status": {"desiredNumberScheduled": 2},
    }


def patched(original: dict[str, Any], patch: Any) -> dict[str, Any]:
    return apply_patch(original, json.dumps(patch).encode(), STRATEGIC, field_manager=None, force=False)


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


# What `kubectl apply` (client side) sends when the manifest's image tag changes to 1.12.
KUBECTL_APPLY_IMAGE_BUMP = {
    "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
    "spec": {
        "template": {
            "spec": {
                "$setElementOrder/containers": [{"name": CONTAINER}],
                "containers": [
                    {"image": "mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.12", "name": CONTAINER}
                ],
            }
        }
    },
}


def test_kubectl_apply_image_bump_keeps_every_other_container_field() -> None:
    live = live_device_plugin_daemonset()
    result = patched(live, KUBECTL_APPLY_IMAGE_BUMP)
    container = pod_spec(result)["containers"][0]
    assert container["image"].endswith(":1.12")
    expected = {**pod_spec(live)["containers"][0], "image": container["image"]}
    assert container == expected
    assert pod_spec(result)["volumes"] == pod_spec(live)["volumes"]
    assert result["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == "{}"
    assert result["status"] == live["status"]


def test_a_plain_merge_patch_of_the_same_body_would_drop_container_fields() -> None:
    """The reason strategic merge exists: RFC 7386 replaces the containers list whole."""
    body = copy.deepcopy(KUBECTL_APPLY_IMAGE_BUMP)
    del body["spec"]["template"]["spec"]["$setElementOrder/containers"]
    container = pod_spec(merge_patch(live_device_plugin_daemonset(), body))["containers"][0]
    assert "volumeMounts" not in container
    assert "volumeMounts" in pod_spec(patched(live_device_plugin_daemonset(), body))["containers"][0]


def test_original_object_is_never_modified() -> None:
    live = live_device_plugin_daemonset()
    snapshot = copy.deepcopy(live)
    result = patched(live, KUBECTL_APPLY_IMAGE_BUMP)
    pod_spec(result)["containers"][0]["volumeMounts"].append({"name": "x", "mountPath": "/x"})
    assert live == snapshot


def test_new_container_is_appended_and_existing_ones_merge_by_name() -> None:
    live = live_device_plugin_daemonset()
    result = patched(
        live,
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}},
    )
    assert [c["name"] for c in pod_spec(result)["containers"]] == [CONTAINER, "sidecar"]
    assert pod_spec(result)["containers"][0] == pod_spec(live)["containers"][0]


def test_set_element_order_reorders_containers_and_env() -> None:
    live = live_device_plugin_daemonset()
    pod_spec(live)["containers"].append(
        {
            "name": "exporter",
            "image": "dcgm",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        }
    )
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "exporter"}, {"name": CONTAINER}],
                    "containers": [
                        {
                            "name": "exporter",
                            "$setElementOrder/env": [{"name": "B"}, {"name": "A"}],
                            "env": [{"name": "B", "value": "22"}],
                        }
                    ],
                }
            }
        }
    }
    result = patched(live, patch)
    assert [c["name"] for c in pod_spec(result)["containers"]] == ["exporter", CONTAINER]
    assert pod_spec(result)["containers"][0]["env"] == [
        {"name": "B", "value": "22"},
        {"name": "A", "value": "1"},
    ]
    assert pod_spec(result)["containers"][1] == pod_spec(live)["containers"][0]


def test_set_element_order_keeps_unlisted_server_elements_where_they_were() -> None:
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "injected"}, {"name": "a"}, {"name": "b"}]}}
    patch = {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}
    assert [c["name"] for c in patched(pod, patch)["spec"]["containers"]] == ["injected", "b", "a"]


def test_patch_delete_directive_removes_a_container_by_name() -> None:
    live = live_device_plugin_daemonset()
    pod_spec(live)["containers"].append({"name": "sidecar", "image": "busybox"})
    result = patched(
        live, {"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "sidecar"}]}}}}
    )
    assert [c["name"] for c in pod_spec(result)["containers"]] == [CONTAINER]


def test_patch_replace_directive_in_a_list_replaces_the_whole_list() -> None:
    live = live_device_plugin_daemonset()
    result = patched(
        live,
        {
            "spec": {
                "template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}
            }
        },
    )
    assert pod_spec(result)["containers"] == [{"name": "only", "image": "x"}]


def test_patch_replace_and_delete_directives_on_maps() -> None:
    live = live_device_plugin_daemonset()
    result = patched(
        live,
        {
            "spec": {
                "updateStrategy": {"$patch": "replace", "type": "OnDelete"},
                "template": {"metadata": {"annotations": {"$patch": "delete"}}},
            }
        },
    )
    assert result["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert result["spec"]["template"]["metadata"]["annotations"] == {}
    assert result["spec"]["template"]["metadata"]["labels"] == {"name": "nvidia-device-plugin-ds"}


def test_retain_keys_switches_a_volume_source_from_host_path_to_empty_dir() -> None:
    live = live_device_plugin_daemonset()
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [
                        {"name": "device-plugin", "$retainKeys": ["emptyDir", "name"], "emptyDir": {}}
                    ]
                }
            }
        }
    }
    assert pod_spec(patched(live, patch))["volumes"] == [{"name": "device-plugin", "emptyDir": {}}]
    without_directive = copy.deepcopy(patch)
    del without_directive["spec"]["template"]["spec"]["volumes"][0]["$retainKeys"]
    merged_volume = pod_spec(patched(live, without_directive))["volumes"][0]
    assert set(merged_volume) == {"name", "hostPath", "emptyDir"}  # what $retainKeys prevents


def test_retain_keys_must_list_every_key_the_patch_sets() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {"volumes": [{"name": "device-plugin", "$retainKeys": ["name"], "emptyDir": {}}]}
            }
        }
    }
    with pytest.raises(ApiError) as caught:
        patched(live_device_plugin_daemonset(), patch)
    assert caught.value.code == 400
    assert "retainKeys" in caught.value.message


def test_tolerations_are_atomic_and_replaced_whole() -> None:
    live = live_device_plugin_daemonset()
    result = patched(
        live, {"spec": {"template": {"spec": {"tolerations": [{"key": "sku", "operator": "Exists"}]}}}}
    )
    assert pod_spec(result)["tolerations"] == [{"key": "sku", "operator": "Exists"}]


def test_args_are_atomic_but_env_and_ports_merge_by_key() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "samples-tf-mnist-demo",
                            "args": ["--max_steps", "500"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "name": "http"}],
                            "resources": {"limits": {"nvidia.com/gpu": "1"}},
                        }
                    ]
                }
            }
        },
    }
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "samples-tf-mnist-demo",
                            "args": ["--max_steps", "10"],
                            "env": [
                                {"name": "A", "value": None, "valueFrom": {"fieldRef": {"fieldPath": "x"}}}
                            ],
                            "ports": [{"containerPort": 9400, "name": "metrics"}],
                            "resources": {"limits": {"cpu": "1"}},
                        }
                    ]
                }
            }
        }
    }
    container = patched(job, patch)["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--max_steps", "10"]
    assert container["env"] == [
        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "x"}}},
        {"name": "B", "value": "2"},
    ]
    assert [p["containerPort"] for p in container["ports"]] == [80, 9400]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": "1", "cpu": "1"}}


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list_removes() -> None:
    namespace = {"kind": "Namespace", "metadata": {"name": "gpu-resources", "finalizers": ["a", "b"]}}
    result = patched(namespace, {"metadata": {"finalizers": ["b", "c"]}})
    assert result["metadata"]["finalizers"] == ["a", "b", "c"]
    result = patched(result, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "c"]}})
    assert result["metadata"]["finalizers"] == ["b"]


def test_kubectl_apply_removing_a_finalizer_deletes_it_and_keeps_the_order() -> None:
    namespace = {"kind": "Namespace", "metadata": {"name": "n", "finalizers": ["a", "b", "c"]}}
    patch = {
        "metadata": {"$setElementOrder/finalizers": ["c", "a"], "$deleteFromPrimitiveList/finalizers": ["b"]}
    }
    assert patched(namespace, patch)["metadata"]["finalizers"] == ["c", "a"]


def test_owner_references_merge_by_uid() -> None:
    pod = {"kind": "Pod", "metadata": {"ownerReferences": [{"uid": "u1", "kind": "Job", "name": "j"}]}}
    result = patched(pod, {"metadata": {"ownerReferences": [{"uid": "u2", "kind": "Job", "name": "k"}]}})
    assert [ref["uid"] for ref in result["metadata"]["ownerReferences"]] == ["u1", "u2"]


def test_pod_status_conditions_merge_by_type() -> None:
    pod = {
        "kind": "Pod",
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "c", "ready": False}],
        },
    }
    patch = {
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "c", "ready": True, "started": True}],
        }
    }
    status = patched(pod, patch)["status"]
    assert status["conditions"] == [
        {"type": "PodScheduled", "status": "True"},
        {"type": "Ready", "status": "True"},
    ]
    assert status["containerStatuses"] == [{"name": "c", "ready": True, "started": True}]  # atomic


def test_node_taints_are_atomic_and_addresses_merge_by_type() -> None:
    node = {
        "kind": "Node",
        "spec": {"taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "10.0.0.4"},
                {"type": "Hostname", "address": "n1"},
            ],
            "capacity": {"nvidia.com/gpu": "1", "cpu": "6"},
        },
    }
    result = patched(
        node,
        {
            "spec": {"taints": [{"key": "other", "effect": "NoExecute"}]},
            "status": {
                "addresses": [{"type": "Hostname", "address": "n2"}],
                "capacity": {"nvidia.com/gpu": "4"},
            },
        },
    )
    assert result["spec"]["taints"] == [{"key": "other", "effect": "NoExecute"}]
    assert result["status"]["addresses"] == [
        {"type": "InternalIP", "address": "10.0.0.4"},
        {"type": "Hostname", "address": "n2"},
    ]
    assert result["status"]["capacity"] == {"nvidia.com/gpu": "4", "cpu": "6"}


def test_kubectl_label_style_patch_on_a_config_map_and_null_deletes() -> None:
    cm = {"kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}}
    result = patched(cm, {"metadata": {"labels": {"a": None, "c": "3"}}, "data": {"k": None}})
    assert result["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert result["data"] == {}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}},
            "does not contain declared merge key: name",
        ),
        (
            {"spec": {"template": {"spec": {"containers": ["just-a-string"]}}}},
            "does not contain declared merge key",
        ),
        ({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}, "merge key"),
        ({"spec": {"template": {"spec": {"containers": [{"$patch": "merge", "name": "x"}]}}}}, "cannot yet"),
        (
            {"spec": {"template": {"spec": {"containers": [{"$patch": "explode", "name": "x"}]}}}},
            "unknown patch type",
        ),
        ({"spec": {"updateStrategy": {"$patch": "explode"}}}, "unknown patch type"),
        ({"spec": {"$retainKeys": "type"}}, "retainKeys"),
        ({"spec": {"template": {"spec": {"$setElementOrder/containers": "x"}}}}, "setElementOrder"),
        (
            {
                "spec": {
                    "template": {
                        "spec": {
                            "$setElementOrder/containers": [{"name": "a"}],
                            "containers": [{"name": "b"}],
                        }
                    }
                }
            },
            "is not in $setElementOrder/containers",
        ),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "must be a list"),
        ({"metadata": {"$madeUp": 1}}, "unknown strategic merge patch directive"),
        ({"metadata": {"finalizers": [{"a": 1}]}}, "cannot merge lists without merge key"),
    ],
)
def test_malformed_strategic_patches_are_bad_requests(patch: dict, message: str) -> None:
    live = live_device_plugin_daemonset()
    live["metadata"]["finalizers"] = ["x"]
    with pytest.raises(ApiError) as caught:
        patched(live, patch)
    assert caught.value.code == 400
    assert message in caught.value.message


@pytest.mark.parametrize("body", [b"[]", b"3", b"{", b'"x"'])
def test_strategic_patch_bodies_must_be_json_objects(body: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        apply_patch(live_device_plugin_daemonset(), body, STRATEGIC, field_manager=None, force=False)
    assert caught.value.code == 400


def test_unknown_kinds_merge_maps_and_replace_lists() -> None:
    lease = {"kind": "Lease", "spec": {"holderIdentity": "a", "leaseDurationSeconds": 40}}
    result = patched(lease, {"spec": {"holderIdentity": "b"}})
    assert result["spec"] == {"holderIdentity": "b", "leaseDurationSeconds": 40}
