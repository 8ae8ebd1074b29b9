"""Property tests: merge patches reproduce their targets, and no input escapes as anything but ApiError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.patch import PATCH_CONTENT_TYPES, apply_patch, merge_patch
from gpuconf.emulator.patch_json import apply_json_patch
from gpuconf.emulator.selectors import parse_field_selector, parse_label_selector

# database=None: no .hypothesis/ folder in the checkout; the examples are cheap to regenerate.
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=4))
keys = st.sampled_from(["a", "b", "c", "name", "spec", "containers", "metadata", "image", "$patch"])


def json_values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
        max_leaves=12,
    )


objects_without_nulls = st.dictionaries(keys, json_values(scalars), max_size=4)


def create_merge_patch(source: Any, target: Any) -> Any:
    """The RFC 7386 patch that turns `source` into `target` (what `kubectl` computes for --type merge)."""
    if not isinstance(source, dict) or not isinstance(target, dict):
        return target
    patch: dict[str, Any] = {key: None for key in source if key not in target}
    for key, value in target.items():
        if key not in source:
            patch[key] = value
        elif source[key] != value:
            patch[key] = create_merge_patch(source[key], value)
    return patch


@PROPERTY_SETTINGS
@given(objects_without_nulls, objects_without_nulls)
def test_merge_patch_of_a_diff_reproduces_the_target(source: dict, target: dict) -> None:
    assert merge_patch(source, create_merge_patch(source, target)) == target


@PROPERTY_SETTINGS
@given(objects_without_nulls, objects_without_nulls)
def test_strategic_merge_of_a_merge_diff_reproduces_the_target_for_schemaless_kinds(
    source: dict, target: dict
) -> None:
    """For kinds without merge keys (ConfigMap), strategic merge agrees with RFC 7386 on `$`-free data."""
    if "$patch" in json.dumps(source) + json.dumps(target):
        return
    source = {**source, "kind": "ConfigMap"}
    target = {**target, "kind": "ConfigMap"}
    body = json.dumps(create_merge_patch(source, target)).encode()
    result = apply_patch(
        source, body, "application/strategic-merge-patch+json", field_manager=None, force=False
    )
    assert result == target


live_objects = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["Pod", "DaemonSet", "Job", "Node", "ConfigMap", "Namespace"]),
        "apiVersion": st.just("v1"),
    },
    optional={"spec": json_values(scalars), "metadata": json_values(scalars), "status": json_values(scalars)},
)
garbage_bodies = st.one_of(
    st.binary(max_size=64),
    json_values(st.one_of(scalars, st.none())).map(lambda value: json.dumps(value).encode()),
)


@PROPERTY_SETTINGS
@given(live_objects, garbage_bodies, st.sampled_from(PATCH_CONTENT_TYPES), st.booleans())
def test_random_patch_bodies_raise_nothing_but_api_errors(
    live: dict, body: bytes, content_type: str, force: bool
) -> None:
    try:
        result = apply_patch(live, body, content_type, field_manager="fuzz", force=force)
    except ApiError as error:
        assert 400 <= error.code < 500
    else:
        assert isinstance(result, dict)


operations = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
        "path": st.sampled_from(["", "/a", "/a/0", "/a/-", "/b/c", "/~1", "/a/01", "x"]),
    },
    optional={"value": json_values(scalars), "from": st.sampled_from(["/a", "/b", "/a/0", ""])},
)


@PROPERTY_SETTINGS
@given(json_values(scalars), st.lists(operations, max_size=4))
def test_random_json_patches_raise_nothing_but_api_errors(document: Any, patch: list) -> None:
    try:
        apply_json_patch(document, patch)
    except ApiError as error:
        assert error.code in (400, 422)


@PROPERTY_SETTINGS
@given(st.text(alphabet="ab=!,() inotx\\.-/", max_size=24))
def test_random_selectors_raise_nothing_but_bad_requests(text: str) -> None:
    for parse in (parse_label_selector, lambda t: parse_field_selector(t, "pods")):
        try:
            parse(text)
        except ApiError as error:
            assert error.code == 400
