"""Server-side apply: merge by schema, managedFields bookkeeping, conflicts and force."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.patch import apply_patch
from gpuconf.emulator.patch_apply import (
    describe_path,
    fields_v1,
    paths_from_fields_v1,
    record_update,
    server_side_apply,
)

APPLY = "application/apply-patch+yaml"
NOW = "2026-11-28T14:00:00Z"


def config_map(data: dict[str, str], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "gpu-settings", **metadata},
        "data": data,
    }


def ssa(
    live: dict[str, Any], applied: dict[str, Any], manager: str, *, force: bool = False
) -> dict[str, Any]:
    return server_side_apply(live, applied, field_manager=manager, force=force, now=NOW)


def managers(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def test_first_apply_records_a_kubernetes_shaped_managed_fields_entry() -> None:
    body = yaml.safe_dump(config_map({"mode": "mig"}, labels={"app": "gpu"})).encode()
    result = apply_patch({}, body, APPLY, field_manager="kubectl", force=False)
    assert result["data"] == {"mode": "mig"}
    assert result["metadata"]["name"] == "gpu-settings"
    (entry,) = result["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl"
    assert entry["operation"] == "Apply"
    assert entry["apiVersion"] == "v1"
    assert entry["fieldsType"] == "FieldsV1"
    # The shape of the example in the Kubernetes server-side apply documentation: leaves only.
    assert entry["fieldsV1"] == {"f:data": {"f:mode": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}


def test_reapplying_without_a_field_removes_it_but_keeps_fields_others_own() -> None:
    live = ssa({}, config_map({"a": "1", "b": "2"}), "kubectl")
    live = ssa(live, config_map({"c": "3"}), "operator")
    live = ssa(live, config_map({"a": "1"}), "kubectl")
    assert live["data"] == {"a": "1", "c": "3"}
    assert paths_from_fields_v1(managers(live)[("kubectl", "Apply")]["fieldsV1"]) >= {("f:data", "f:a")}


def test_another_manager_changing_an_owned_field_conflicts_with_kubernetes_wording() -> None:
    live = ssa({}, config_map({"mode": "mig", "slices": "7"}), "kubectl")
    with pytest.raises(ApiError) as caught:
        ssa(live, config_map({"mode": "time-slicing"}), "gpu-operator")
    error = caught.value
    assert (error.code, error.reason) == (409, "Conflict")
    assert error.message == 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.mode'
    assert error.causes == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl" using v1',
            "field": ".data.mode",
        }
    ]


def test_several_conflicts_are_listed_per_manager() -> None:
    live = ssa({}, config_map({"a": "1", "b": "2"}), "kubectl")
    with pytest.raises(ApiError) as caught:
        ssa(live, config_map({"a": "x", "b": "y"}), "other")
    assert caught.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl" using v1:\n- .data.a\n- .data.b'
    )


def test_force_takes_ownership_from_the_previous_manager() -> None:
    live = ssa({}, config_map({"mode": "mig", "slices": "7"}), "kubectl")
    live = ssa(live, config_map({"mode": "time-slicing"}), "gpu-operator", force=True)
    assert live["data"] == {"mode": "time-slicing", "slices": "7"}
    owned = {key: paths_from_fields_v1(entry["fieldsV1"]) for key, entry in managers(live).items()}
    assert ("f:data", "f:mode") not in owned[("kubectl", "Apply")]
    assert ("f:data", "f:mode") in owned[("gpu-operator", "Apply")]
    # kubectl no longer owns mode, so re-applying its old value now conflicts the other way round.
    with pytest.raises(ApiError) as caught:
        ssa(live, config_map({"mode": "mig", "slices": "7"}), "kubectl")
    assert 'conflict with "gpu-operator"' in caught.value.message


def test_applying_the_same_value_shares_ownership_without_conflict() -> None:
    live = ssa({}, config_map({"mode": "mig"}), "kubectl")
    live = ssa(live, config_map({"mode": "mig"}), "helm")
    assert {m for m, _ in managers(live)} == {"kubectl", "helm"}
    # kubectl dropping the field leaves it in place: helm still owns it.
    live = ssa(live, config_map({}), "kubectl")
    assert live["data"] == {"mode": "mig"}


def test_update_by_another_manager_makes_a_later_apply_conflict() -> None:
    live = ssa({}, config_map({"mode": "mig"}), "kubectl")
    edited = {**live, "data": {"mode": "none"}}
    live = record_update(live, edited, "kubectl-edit", now=NOW)
    assert ("kubectl-edit", "Update") in managers(live)
    assert ("kubectl", "Apply") not in managers(live)  # it owned nothing else, so its entry goes
    with pytest.raises(ApiError) as caught:
        ssa(live, config_map({"mode": "mig"}), "kubectl")
    assert 'conflict with "kubectl-edit" using v1: .data.mode' in caught.value.message


def daemonset(image: str, *, extra_container: bool = False) -> dict[str, Any]:
    containers = [{"name": "nvidia-device-plugin-ctr", "image": image}]
    if extra_container:
        containers.append({"name": "exporter", "image": "dcgm-exporter"})
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "nvidia-device-plugin-daemonset", "namespace": "gpu-resources"},
        "spec": {
            "selector": {"matchLabels": {"name": "nvidia-device-plugin-ds"}},
            "template": {
                "metadata": {"labels": {"name": "nvidia-device-plugin-ds"}},
                "spec": {"containers": containers},
            },
        },
    }


def test_apply_on_a_daemonset_merges_containers_by_name_and_keeps_server_fields() -> None:
    live = ssa({}, daemonset("plugin:1.11", extra_container=True), "kubectl")
    # The server defaulted fields nobody applied.
    live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"
    live = ssa(live, daemonset("plugin:1.12", extra_container=True), "kubectl")
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container == {
        "name": "nvidia-device-plugin-ctr",
        "image": "plugin:1.12",
        "terminationMessagePath": "/dev/termination-log",
    }
    fields = managers(live)[("kubectl", "Apply")]["fieldsV1"]
    containers = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert 'k:{"name":"nvidia-device-plugin-ctr"}' in containers
    assert containers['k:{"name":"nvidia-device-plugin-ctr"}'] == {".": {}, "f:image": {}, "f:name": {}}
    # Dropping the exporter from the configuration removes that container, as kubectl users expect.
    live = ssa(live, daemonset("plugin:1.12"), "kubectl")
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["nvidia-device-plugin-ctr"]


def test_container_field_conflict_names_the_list_item_like_kubernetes() -> None:
    live = ssa({}, daemonset("plugin:1.11"), "kubectl")
    with pytest.raises(ApiError) as caught:
        ssa(live, daemonset("plugin:2.0"), "flux")
    assert caught.value.message.endswith(
        'conflict with "kubectl" using apps/v1: '
        '.spec.template.spec.containers[name="nvidia-device-plugin-ctr"].image'
    )


def test_fields_v1_encoding_round_trips() -> None:
    paths = {("f:data",), ("f:data", "f:a"), ("f:spec", "f:containers", 'k:{"name":"c"}', "f:image")}
    assert paths_from_fields_v1(fields_v1(paths)) == paths
    assert describe_path(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'


@pytest.mark.parametrize(
    ("body", "manager", "code", "message"),
    [
        (b"kind: ConfigMap\napiVersion: v1\n", None, 400, "fieldManager: Required value"),
        (b"apiVersion: v1\nmetadata: {name: x}\n", "m", 400, "Object 'Kind' is missing"),
        (b"kind: ConfigMap\nmetadata: {name: x}\n", "m", 400, "Object 'ApiVersion' is missing"),
        (b"- a\n- b\n", "m", 400, "must be a JSON object"),
        (b"key: [unclosed\n", "m", 400, "error decoding YAML"),
        (b"kind: Secret\napiVersion: v1\n", "m", 400, "does not match the object (ConfigMap)"),
        (b"kind: ConfigMap\napiVersion: v1\nmetadata: {name: other}\n", "m", 400, "does not match the name"),
        (
            b"kind: ConfigMap\napiVersion: v1\ndata: {$patch: delete}\n",
            "m",
            400,
            "may not contain directives",
        ),
        (
            b"kind: Pod\napiVersion: v1\nspec: {containers: [{image: x}]}\n",
            "m",
            422,
            'omits key field "name"',
        ),
    ],
)
def test_bad_apply_requests_are_rejected(body: bytes, manager: str | None, code: int, message: str) -> None:
    live = config_map({"a": "1"}) if b"Pod" not in body else {}
    with pytest.raises(ApiError) as caught:
        apply_patch(live, body, APPLY, field_manager=manager, force=False)
    assert caught.value.code == code
    assert message in caught.value.message


def test_dropping_the_last_label_drops_the_emptied_map_but_never_metadata() -> None:
    live = ssa({}, config_map({"a": "1"}, labels={"app": "gpu"}), "kubectl")
    live = ssa(live, config_map({"a": "1"}), "kubectl")
    assert live["metadata"] == {"name": "gpu-settings", "managedFields": live["metadata"]["managedFields"]}
    live = ssa(
        live, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gpu-settings"}}, "kubectl"
    )
    assert "data" not in live
    assert live["metadata"]["name"] == "gpu-settings"


def test_reapplying_an_unchanged_configuration_changes_nothing_but_the_time() -> None:
    first = ssa({}, daemonset("plugin:1.11", extra_container=True), "kubectl")
    second = server_side_apply(
        first,
        daemonset("plugin:1.11", extra_container=True),
        field_manager="kubectl",
        force=False,
        now="later",
    )
    assert second["metadata"]["managedFields"][0].pop("time") == "later"
    first["metadata"]["managedFields"][0].pop("time")
    assert second == first


def test_record_update_on_create_gives_the_creator_every_field() -> None:
    created = record_update(None, config_map({"a": "1"}, labels={"x": "y"}), "kubectl-create", now=NOW)
    (entry,) = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["time"]) == ("kubectl-create", "Update", NOW)
    assert paths_from_fields_v1(entry["fieldsV1"]) == {("f:data", "f:a"), ("f:metadata", "f:labels", "f:x")}
    unchanged = record_update(created, created, "someone-else", now=NOW)
    assert unchanged["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def test_yaml_bodies_decode_to_json_values_as_kubernetes_does() -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  day: 2026-11-28\n  1: one\n"
    result = apply_patch({}, body, APPLY, field_manager="m", force=False)
    assert result["data"] == {"day": "2026-11-28", "1": "one"}


def test_yaml_values_without_a_json_form_are_bad_requests() -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nbinaryData: {b: !!binary aGk=}\n"
    with pytest.raises(ApiError) as caught:
        apply_patch({}, body, APPLY, field_manager="m", force=False)
    assert caught.value.code == 400


def test_record_update_drops_ownership_of_fields_the_update_removed() -> None:
    live = ssa({}, config_map({"a": "1", "b": "2"}), "kubectl")
    edited = {**live, "data": {"a": "1"}}
    live = record_update(live, edited, "kubectl-edit", now=NOW)
    assert paths_from_fields_v1(managers(live)[("kubectl", "Apply")]["fieldsV1"]) == {("f:data", "f:a")}
    assert ("kubectl-edit", "Update") not in managers(live)  # it changed no value that still exists


def test_apply_accepts_json_bodies_too() -> None:
    body = json.dumps(config_map({"k": "v"})).encode()
    assert apply_patch({}, body, APPLY, field_manager="client", force=False)["data"] == {"k": "v"}
