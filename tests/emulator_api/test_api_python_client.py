"""The official Python client (typed APIs and the dynamic client) drives the embedded API server."""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from tests.emulator_api.conftest import DAEMONSET_MANIFEST, JOB_MANIFEST, WATCH_TIMEOUT_S

DS_NAME = "nvidia-device-plugin-daemonset"


def status_of(error: ApiException) -> dict:
    """The Status object the server sent with an error."""
    return json.loads(error.body)


def _create_article_objects(core: client.CoreV1Api, dyn: dynamic.DynamicClient) -> None:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="gpu-resources")))
    daemonset = yaml.safe_load(DAEMONSET_MANIFEST.read_text())
    dyn.resources.get(api_version="apps/v1", kind="DaemonSet").create(
        body=daemonset, namespace="gpu-resources"
    )
    job = yaml.safe_load(JOB_MANIFEST.read_text())
    dyn.resources.get(api_version="batch/v1", kind="Job").create(body=job, namespace="default")


def test_article_manifests_round_trip_through_typed_clients(core, apps, batch, dyn):
    _create_article_objects(core, dyn)
    ds = apps.read_namespaced_daemon_set(DS_NAME, "gpu-resources")
    assert ds.metadata.generation == 1 and ds.metadata.uid and ds.metadata.creation_timestamp
    assert [t.key for t in ds.spec.template.spec.tolerations] == ["CriticalAddonsOnly", "nvidia.com/gpu"]
    assert ds.spec.update_strategy.rolling_update.max_unavailable == 1  # defaulted
    assert ds.status.desired_number_scheduled == 0  # counters defaulted: the typed model requires them
    job = batch.read_namespaced_job("samples-tf-mnist-demo", "default")
    container = job.spec.template.spec.containers[0]
    # The article writes `nvidia.com/gpu: 1` (a YAML int); the server stores the quantity as "1".
    assert container.resources.limits == {"nvidia.com/gpu": "1"}
    assert container.resources.requests == {"nvidia.com/gpu": "1"}
    assert job.spec.template.spec.restart_policy == "OnFailure"
    assert container.termination_message_path == "/dev/termination-log"
    uid = job.metadata.uid
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert job.spec.template.metadata.labels["job-name"] == "samples-tf-mnist-demo"


def test_generation_moves_with_spec_changes_only(core, apps, dyn):
    _create_article_objects(core, dyn)
    labelled = apps.patch_namespaced_daemon_set(
        DS_NAME, "gpu-resources", {"metadata": {"labels": {"a": "b"}}}
    )
    assert labelled.metadata.generation == 1
    changed = apps.patch_namespaced_daemon_set(DS_NAME, "gpu-resources", {"spec": {"minReadySeconds": 5}})
    assert changed.metadata.generation == 2
    assert int(changed.metadata.resource_version) > int(labelled.metadata.resource_version)


def test_stale_resource_version_is_a_conflict(core, apps, dyn):
    _create_article_objects(core, dyn)
    first = apps.read_namespaced_daemon_set(DS_NAME, "gpu-resources")
    apps.patch_namespaced_daemon_set(DS_NAME, "gpu-resources", {"metadata": {"labels": {"x": "1"}}})
    first.metadata.labels = {"x": "2"}
    with pytest.raises(ApiException) as raised:
        apps.replace_namespaced_daemon_set(DS_NAME, "gpu-resources", first)
    assert raised.value.status == 409
    assert "the object has been modified" in status_of(raised.value)["message"]


def test_not_found_already_exists_and_invalid_name_their_resource(core):
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("nope", "default")
    assert status_of(missing.value)["message"] == 'pods "nope" not found'
    assert status_of(missing.value)["reason"] == "NotFound"
    with pytest.raises(ApiException) as exists:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="default")))
    assert status_of(exists.value)["reason"] == "AlreadyExists" and exists.value.status == 409
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="gpu"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="c",
                    image="busybox",
                    resources=client.V1ResourceRequirements(
                        limits={"nvidia.com/gpu": "1"}, requests={"nvidia.com/gpu": "2"}
                    ),
                )
            ]
        ),
    )
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_pod("default", pod)
    status = status_of(invalid.value)
    assert invalid.value.status == 422 and status["reason"] == "Invalid"
    causes = {c["field"]: c["message"] for c in status["details"]["causes"]}
    assert (
        "must be equal to nvidia.com/gpu limit"
        in causes["spec.containers[0].resources.requests[nvidia.com/gpu]"]
    )


def test_job_spec_template_is_immutable(core, batch, dyn):
    _create_article_objects(core, dyn)
    with pytest.raises(ApiException) as raised:
        batch.patch_namespaced_job(
            "samples-tf-mnist-demo",
            "default",
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "samples-tf-mnist-demo", "image": "x"}]}}
                }
            },
        )
    assert raised.value.status == 422 and "spec.template: Invalid value" in status_of(raised.value)["message"]


def test_all_four_patch_types_through_the_dynamic_client(core, dyn):
    _create_article_objects(core, dyn)
    resource = dyn.resources.get(api_version="apps/v1", kind="DaemonSet")
    merged = resource.patch(
        name=DS_NAME,
        namespace="gpu-resources",
        body={"metadata": {"labels": {"merge": "yes"}}},
        content_type="application/merge-patch+json",
    )
    assert merged.metadata.labels["merge"] == "yes"
    jsonpatched = resource.patch(
        name=DS_NAME,
        namespace="gpu-resources",
        body=[{"op": "add", "path": "/metadata/labels/json", "value": "yes"}],
        content_type="application/json-patch+json",
    )
    assert jsonpatched.metadata.labels["json"] == "yes"
    # Strategic merge keeps the other container fields (containers merge by name).
    strategic = resource.patch(
        name=DS_NAME,
        namespace="gpu-resources",
        body={
            "spec": {
                "template": {"spec": {"containers": [{"name": "nvidia-device-plugin-ctr", "args": ["-v"]}]}}
            }
        },
        content_type="application/strategic-merge-patch+json",
    )
    container = strategic.spec.template.spec.containers[0]
    assert (
        container.args == ["-v"] and container.image == "mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11"
    )
    applied = resource.server_side_apply(
        body={
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": DS_NAME, "labels": {"ssa": "1"}},
        },
        name=DS_NAME,
        namespace="gpu-resources",
        field_manager="test",
    )
    assert applied.metadata.labels["ssa"] == "1"


def test_label_and_field_selectors_filter_lists(core):
    for name, labels in (("a", {"app": "x"}), ("b", {"app": "y"}), ("c", {})):
        core.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels))
        )
    assert [
        c.metadata.name for c in core.list_namespaced_config_map("default", label_selector="app=x").items
    ] == ["a"]
    names = [
        c.metadata.name
        for c in core.list_namespaced_config_map("default", label_selector="app in (x,y)").items
    ]
    assert names == ["a", "b"]
    assert [
        c.metadata.name for c in core.list_namespaced_config_map("default", label_selector="!app").items
    ] == ["c"]
    by_name = core.list_namespaced_config_map("default", field_selector="metadata.name=b").items
    assert [c.metadata.name for c in by_name] == ["b"]
    with pytest.raises(ApiException) as raised:
        core.list_namespaced_config_map("default", field_selector="spec.bogus=1")
    assert raised.value.status == 400


def test_paging_with_limit_and_continue(core):
    for i in range(7):
        core.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"cm{i}"))
        )
    seen, token = [], None
    for _ in range(10):  # bounded: 7 items in pages of 3 need exactly 3 requests
        page = core.list_namespaced_config_map("default", limit=3, _continue=token)
        seen += [c.metadata.name for c in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"cm{i}" for i in range(7)]


def test_python_watch_streams_changes_from_a_resource_version(core):
    initial = core.list_namespaced_config_map("default")
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w1")))
    core.patch_namespaced_config_map("w1", "default", {"data": {"a": "b"}})
    core.delete_namespaced_config_map("w1", "default")
    events = []
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=initial.metadata.resource_version,
        timeout_seconds=int(WATCH_TIMEOUT_S),
    ):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 3:
            stream.stop()
    assert events == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_pod_status_subresource_and_binding(core, api_server):
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    created = core.create_namespaced_pod("default", pod)
    assert created.status.phase == "Pending" and created.spec.restart_policy == "Always"
    # A main-resource update cannot change status; the status subresource can.
    core.patch_namespaced_pod("p", "default", {"status": {"phase": "Running"}})
    assert core.read_namespaced_pod("p", "default").status.phase == "Pending"
    core.patch_namespaced_pod_status("p", "default", {"status": {"phase": "Running"}})
    assert core.read_namespaced_pod_status("p", "default").status.phase == "Running"
    target = client.V1ObjectReference(kind="Node", name="node-1")
    core.create_namespaced_pod_binding(
        "p",
        "default",
        client.V1Binding(metadata=client.V1ObjectMeta(name="p"), target=target),
        _preload_content=False,
    )
    assert core.read_namespaced_pod("p", "default").spec.node_name == "node-1"
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_pod_binding(
            "p",
            "default",
            client.V1Binding(metadata=client.V1ObjectMeta(name="p"), target=target),
            _preload_content=False,
        )
    assert raised.value.status == 409 and "already assigned" in status_of(raised.value)["message"]
