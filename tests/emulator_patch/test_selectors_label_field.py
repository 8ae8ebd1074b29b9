"""Label and field selectors parse and match as kube-apiserver does, and fail with its 400s."""

from __future__ import annotations

import pytest

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.selectors import (
    MATCH_EVERYTHING,
    label_selector_from_spec,
    parse_field_selector,
    parse_label_selector,
)

GPU_POD_LABELS = {"app": "samples-tf-mnist-demo", "tier": "gpu", "example.com/pool": "nc6s"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=samples-tf-mnist-demo", True),
        ("app==samples-tf-mnist-demo", True),
        ("app=other", False),
        ("app!=other", True),
        ("missing!=x", True),  # a missing label satisfies != in Kubernetes
        ("tier in (gpu, cpu)", True),
        ("tier in (cpu)", False),
        ("tier notin (cpu)", True),
        ("missing notin (cpu)", True),
        ("tier notin (gpu)", False),
        ("app", True),
        ("!app", False),
        ("!missing", True),
        ("app, tier=gpu, !missing", True),
        ("  app = samples-tf-mnist-demo ,tier in(gpu)  ", True),
        ("example.com/pool=nc6s", True),
        ("missing=", False),
        ("in in (in)", False),  # `in` is a valid key outside operator position
    ],
)
def test_label_selector_matches_like_kubernetes(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(GPU_POD_LABELS) is expected


def test_empty_value_selects_labels_set_to_empty_string() -> None:
    selector = parse_label_selector("role=")
    assert selector.matches({"role": ""})
    assert not selector.matches({})


def test_numeric_comparisons_need_integer_labels() -> None:
    selector = parse_label_selector("gpus>1,gpus<8")
    assert selector.matches({"gpus": "4"})
    assert not selector.matches({"gpus": "8"})
    assert not selector.matches({"gpus": "many"})
    assert not selector.matches({})


def test_none_labels_behave_like_no_labels() -> None:
    assert parse_label_selector("!app").matches(None)
    assert not parse_label_selector("app").matches(None)
    assert parse_label_selector("").empty


def test_selector_round_trips_through_its_string_form() -> None:
    text = "app=a,tier in (cpu,gpu),!legacy,zone"
    selector = parse_label_selector(text)
    assert str(selector) == text
    assert parse_label_selector(str(selector)) == selector


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("app=a b", "found 'b', expected: ',' or 'end of string'"),
        ("app in a", "unable to parse requirement: found 'a' expected: '('"),
        ("app in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("app a", "unable to parse requirement: found 'a', expected: !=, ==, =, in, notin, >, <"),
        ("a,", "found '', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        ("app=x@y", 'values[0][app]: Invalid value: "x@y": a valid label must be an empty string'),
        ("-app=x", 'key: Invalid value: "-app": name part must consist of alphanumeric characters'),
        ("Example.COM/app=x", "prefix part a lowercase RFC 1123 subdomain"),
        ("a/b/c=x", "a qualified name must consist of alphanumeric characters"),
        ("k=" + "v" * 64, "must be no more than 63 characters"),
        ("gpus>many", "for 'Gt', 'Lt' operators, the value must be an integer"),
    ],
)
def test_bad_label_selectors_are_bad_requests_with_kubernetes_wording(selector: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_label_selector(selector)
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    assert message in caught.value.message


def test_label_selector_spec_empty_matches_everything_but_nil_matches_nothing() -> None:
    assert label_selector_from_spec({}).matches({"any": "thing"})
    assert label_selector_from_spec({}).empty
    assert not label_selector_from_spec(None).matches({"any": "thing"})
    assert not label_selector_from_spec(None).empty
    assert label_selector_from_spec(None, none_matches_everything=True) == MATCH_EVERYTHING


def test_label_selector_spec_combines_match_labels_and_expressions() -> None:
    selector = label_selector_from_spec(
        {
            "matchLabels": {"app": "samples-tf-mnist-demo"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["gpu", "cpu"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "example.com/pool", "operator": "Exists"},
                {"key": "zone", "operator": "NotIn", "values": ["eu"]},
            ],
        }
    )
    assert selector.matches(GPU_POD_LABELS)
    assert not selector.matches({**GPU_POD_LABELS, "legacy": "yes"})
    assert not selector.matches({**GPU_POD_LABELS, "tier": "tpu"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Like", "values": ["x"]}]}, '"Like" is not a valid'),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "values set can't be empty"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "values set must be empty",
        ),
        ({"matchLabels": {"bad key": "x"}}, 'Invalid value: "bad key"'),
        ({"matchLabels": ["app"]}, "matchLabels must be an object"),
    ],
)
def test_invalid_label_selector_specs_are_rejected(spec: dict, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        label_selector_from_spec(spec)
    assert caught.value.code == 400
    assert message in caught.value.message


POD = {
    "metadata": {"name": "gpu-pod", "namespace": "default"},
    "spec": {"nodeName": "aks-gpunp-1", "restartPolicy": "OnFailure", "schedulerName": "default-scheduler"},
    "status": {"phase": "Running", "podIP": "10.244.1.5"},
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("metadata.name=gpu-pod", True),
        ("metadata.name==gpu-pod,metadata.namespace=default", True),
        ("spec.nodeName=aks-gpunp-1", True),
        ("spec.nodeName=", False),
        ("status.phase!=Succeeded,status.phase!=Failed", True),
        ("status.phase=Pending", False),
        ("spec.restartPolicy=OnFailure", True),
        ("status.nominatedNodeName=", True),  # unset fields compare as the empty string
        ("spec.hostNetwork=false", True),
    ],
)
def test_pod_field_selectors_match(selector: str, expected: bool) -> None:
    assert parse_field_selector(selector, "pods").matches(POD) is expected


def test_unscheduled_pods_are_selected_by_empty_node_name() -> None:
    selector = parse_field_selector("spec.nodeName=", "pods")
    assert selector.matches({"metadata": {"name": "p"}, "spec": {}})
    assert selector.required_value("spec.nodeName") == ""


def test_field_selector_values_unescape_commas_equals_and_backslashes() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d", "configmaps")
    assert [(r.field, r.operator, r.value) for r in selector.requirements] == [
        ("metadata.name", "=", "a,b=c\\d")
    ]
    assert selector.matches({"metadata": {"name": "a,b=c\\d"}})
    assert not selector.matches({"metadata": {"name": "a"}})
    assert parse_field_selector(str(selector), "configmaps") == selector


def test_trailing_comma_in_field_selector_is_ignored() -> None:
    assert len(parse_field_selector("metadata.name=a,", "pods").requirements) == 1


def test_event_field_selectors_cover_what_kubectl_describe_sends() -> None:
    event = {
        "metadata": {"name": "gpu-pod.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "gpu-pod", "namespace": "default", "uid": "u-1"},
        "reason": "FailedScheduling",
        "source": {"component": "default-scheduler"},
        "type": "Warning",
    }
    selector = parse_field_selector(
        "involvedObject.name=gpu-pod,involvedObject.namespace=default,involvedObject.kind=Pod,"
        "involvedObject.uid=u-1,source=default-scheduler,type=Warning,reason=FailedScheduling",
        "events",
    )
    assert selector.matches(event)
    assert not parse_field_selector("type=Normal", "events").matches(event)


def test_node_job_and_namespace_fields_format_like_kubernetes() -> None:
    assert parse_field_selector("spec.unschedulable=false", "nodes").matches({"spec": {}})
    assert parse_field_selector("spec.unschedulable=true", "nodes").matches({"spec": {"unschedulable": True}})
    assert parse_field_selector("status.successful=1", "jobs").matches(
        {"status": {"succeeded": 0, "successful": 1}}
    )
    assert parse_field_selector("status.phase=Active", "namespaces").matches({"status": {"phase": "Active"}})


@pytest.mark.parametrize(
    ("selector", "resource", "message"),
    [
        ("spec.nodeName=x", "nodes", "field label not supported: spec.nodeName"),
        ("status.phase=Running", "configmaps", "field label not supported: status.phase"),
        ("spec.unschedulable=true", "pods", "field label not supported: spec.unschedulable"),
        ("metadata.name", "pods", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        (r"metadata.name=a\x", "pods", "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a=b", "pods", "invalid field selector: unescaped character in value: ="),
    ],
)
def test_bad_field_selectors_are_bad_requests(selector: str, resource: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_field_selector(selector, resource)
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    assert caught.value.message == message
