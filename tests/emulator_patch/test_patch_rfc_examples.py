"""RFC 7386 (merge patch) and RFC 6902 (JSON patch) appendix examples, plus kube-apiserver's status codes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.patch import apply_patch, merge_patch
from gpuconf.emulator.patch_json import apply_json_patch

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

# RFC 7386 appendix A, verbatim: (original, patch, result).
RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), RFC7386_EXAMPLES)
def test_merge_patch_reproduces_rfc7386_appendix_a(original: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(original, patch) == expected


def test_merge_patch_request_leaves_the_stored_object_untouched() -> None:
    stored = {"kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"a": "1"}}, "data": {"k": "v"}}
    snapshot = json.loads(json.dumps(stored))
    result = apply_patch(stored, b'{"data": {"k": null, "n": "2"}}', MERGE, field_manager=None, force=False)
    assert result["data"] == {"n": "2"}
    result["metadata"]["labels"]["a"] = "mutated by the caller"
    assert stored == snapshot


@pytest.mark.parametrize("body", [b"[1]", b'"text"', b"null", b"{not json", b"\xff\xfe", b'{"a": NaN}'])
def test_merge_patch_bodies_that_are_not_objects_are_bad_requests(body: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        apply_patch({"kind": "ConfigMap"}, body, MERGE, field_manager=None, force=False)
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")


# RFC 6902 appendix A: (section, document, patch, result or None when it must fail).
RFC6902_EXAMPLES = [
    ("A.1", {"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    (
        "A.2",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    ("A.3", {"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ("A.4", {"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    (
        "A.5",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.7",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "A.8",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    ("A.9", {"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], None),
    (
        "A.10",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        "A.11",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    ("A.12", {"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], None),
    ("A.14", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ("A.15", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}], None),
    (
        "A.16",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
]


@pytest.mark.parametrize(
    ("document", "patch", "expected"),
    [pytest.param(doc, patch, expected, id=section) for section, doc, patch, expected in RFC6902_EXAMPLES],
)
def test_json_patch_reproduces_rfc6902_appendix_a(document: Any, patch: list, expected: Any) -> None:
    if expected is None:
        with pytest.raises(ApiError) as caught:
            apply_json_patch(document, patch)
        assert caught.value.code == 422
    else:
        assert apply_json_patch(document, patch) == expected


def test_failed_json_patch_is_invalid_with_kubernetes_message_and_the_detail() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "gpu-pod", "labels": {"a": "true"}}}
    body = json.dumps(
        [
            {"op": "test", "path": "/metadata/labels/a", "value": "false"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "x"},
        ]
    ).encode()
    with pytest.raises(ApiError) as caught:
        apply_patch(pod, body, JSON_PATCH, field_manager=None, force=False)
    error = caught.value
    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message == (
        "the server rejected our request due to an error in our request: "
        "jsonpatch test operation does not apply: testing value /metadata/labels/a failed"
    )
    assert pod["metadata"]["labels"]["a"] == "true"  # atomic: nothing applied


def test_json_patch_is_atomic_when_a_later_operation_fails() -> None:
    document = {"a": 1}
    with pytest.raises(ApiError):
        apply_json_patch(document, [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zz"}])
    assert document == {"a": 1}


def test_json_patch_edits_container_args_the_way_kubectl_users_do() -> None:
    job = {
        "kind": "Job",
        "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["--epochs=1"]}]}}},
    }
    patch = [
        {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--batch=64"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/args/0", "value": "--epochs=5"},
        {"op": "copy", "from": "/spec/template/spec/containers/0/name", "path": "/metadata"},
    ]
    result = apply_json_patch(job, patch)
    assert result["spec"]["template"]["spec"]["containers"][0]["args"] == ["--epochs=5", "--batch=64"]
    assert result["metadata"] == "c"


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        ([{"op": "add", "path": "/foo/5", "value": 1}], 422),  # index beyond the end
        ([{"op": "add", "path": "/foo/01", "value": 1}], 422),  # leading zero
        ([{"op": "remove", "path": "/foo/-"}], 422),  # '-' only appends
        ([{"op": "move", "from": "/obj", "path": "/obj/inner"}], 422),  # into its own child
        ([{"op": "replace", "path": "/missing", "value": 1}], 422),
        ([{"op": "remove", "path": ""}], 422),
        ({"op": "add", "path": "/a", "value": 1}, 400),  # an object, not a list of operations
        ([{"op": "frobnicate", "path": "/a"}], 400),
        ([{"op": "add", "value": 1}], 400),
        ([{"op": "add", "path": "/a"}], 400),
        ([{"op": "move", "path": "/a"}], 400),
        ([{"op": "add", "path": "no-slash", "value": 1}], 400),
        ([{"op": "add", "path": "/a~2", "value": 1}], 400),
        (["add"], 400),
    ],
)
def test_bad_json_patches_get_the_status_kubernetes_gives(patch: Any, code: int) -> None:
    with pytest.raises(ApiError) as caught:
        apply_patch(
            {"foo": [0], "obj": {"inner": 1}},
            json.dumps(patch).encode(),
            JSON_PATCH,
            field_manager=None,
            force=False,
        )
    assert caught.value.code == code


def test_json_patch_with_too_many_operations_is_rejected() -> None:
    patch = [{"op": "test", "path": "/a", "value": 1}] * 10001
    with pytest.raises(ApiError) as caught:
        apply_json_patch({"a": 1}, patch)
    assert (caught.value.code, caught.value.reason) == (413, "RequestEntityTooLarge")


def test_json_patch_may_not_turn_the_object_into_a_non_object() -> None:
    body = json.dumps([{"op": "replace", "path": "", "value": [1]}]).encode()
    with pytest.raises(ApiError) as caught:
        apply_patch({"a": 1}, body, JSON_PATCH, field_manager=None, force=False)
    assert caught.value.code == 400


def test_unknown_patch_content_type_is_unsupported_media_type() -> None:
    with pytest.raises(ApiError) as caught:
        apply_patch({}, b"{}", "application/xml", field_manager=None, force=False)
    assert (caught.value.code, caught.value.reason) == (415, "UnsupportedMediaType")


def test_content_type_parameters_are_ignored() -> None:
    result = apply_patch(
        {"a": 1}, b'{"b": 2}', "Application/Merge-Patch+JSON; charset=utf-8", field_manager=None, force=False
    )
    assert result == {"a": 1, "b": 2}
