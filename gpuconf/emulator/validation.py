"""Validation with kube-apiserver's wording: 422 Invalid whose message and causes name the field."""

from __future__ import annotations

import json
import re
from typing import Any

from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.resources import ResourceType
from gpuconf.emulator.selectors import label_selector_from_spec, label_value_errors, qualified_name_errors

Obj = dict[str, Any]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUBDOMAIN_HELP = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_HELP = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage", "pods", "storage"}


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


class FieldErrors:
    """Collects field errors, then raises one 422 naming every field, like kube-apiserver."""

    def __init__(self) -> None:
        self.causes: list[dict[str, str]] = []

    def _add(self, reason: str, field: str, message: str) -> None:
        self.causes.append({"reason": reason, "message": message, "field": field})

    def required(self, field: str, detail: str = "") -> None:
        self._add("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))

    def invalid(self, field: str, value: Any, detail: str) -> None:
        self._add("FieldValueInvalid", field, f"Invalid value: {_show(value)}: {detail}")

    def not_supported(self, field: str, value: Any, allowed: list[str]) -> None:
        choices = ", ".join(f'"{a}"' for a in allowed)
        self._add(
            "FieldValueNotSupported", field, f"Unsupported value: {_show(value)}: supported values: {choices}"
        )

    def forbidden(self, field: str, detail: str) -> None:
        self._add("FieldValueForbidden", field, f"Forbidden: {detail}")

    def duplicate(self, field: str, value: Any) -> None:
        self._add("FieldValueDuplicate", field, f"Duplicate value: {_show(value)}")

    def raise_if_any(self, kind: str, name: str, group: str = "") -> None:
        if not self.causes:
            return
        parts = [f"{c['field']}: {c['message']}" for c in self.causes]
        joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        raise ApiError(
            422,
            "Invalid",
            f'{kind} "{name}" is invalid: {joined}',
            kind=kind,
            name=name,
            group=group,
            causes=self.causes,
        )


def _validate_label_map(errors: FieldErrors, labels: Obj, field: str, *, check_values: bool) -> None:
    for key, value in labels.items():
        for problem in qualified_name_errors(key):
            errors.invalid(field, key, problem)
        if check_values:
            for problem in label_value_errors(value):
                errors.invalid(f"{field}", value, problem)


def validate_metadata(errors: FieldErrors, rt: ResourceType, meta: Obj) -> None:
    name = meta.get("name", "")
    if not name:
        errors.required("metadata.name", "name or generateName is required")
    elif rt.plural == "namespaces":
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            errors.invalid("metadata.name", name, _LABEL_HELP)
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        errors.invalid("metadata.name", name, _SUBDOMAIN_HELP)
    _validate_label_map(errors, meta.get("labels") or {}, "metadata.labels", check_values=True)
    _validate_label_map(errors, meta.get("annotations") or {}, "metadata.annotations", check_values=False)
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        for required in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(required):
                errors.required(f"metadata.ownerReferences[{i}].{required}")


def _validate_resources(errors: FieldErrors, resources: Obj, field: str) -> None:
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    for kind, values in (("limits", limits), ("requests", requests)):
        for name, quantity in values.items():
            if name not in _STANDARD_RESOURCES and "/" in name and not re.fullmatch(r"\d+", quantity):
                errors.invalid(f"{field}.{kind}[{name}]", quantity, "must be an integer")
    for name, request in requests.items():
        if name in _STANDARD_RESOURCES or "/" not in name:
            continue
        # Extended resources (nvidia.com/gpu) cannot be overcommitted: request must equal limit.
        if name not in limits:
            errors.forbidden(f"{field}.limits", "Limit must be set for non overcommitable resources")
        elif limits[name] != request:
            errors.invalid(
                f"{field}.requests[{name}]", request, f"must be equal to {name} limit of {limits[name]}"
            )


def validate_pod_spec(errors: FieldErrors, spec: Obj, field: str, *, allowed_restart: list[str]) -> None:
    containers = spec.get("containers") or []
    if not containers:
        errors.required(f"{field}.containers")
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(key) or []):
            path = f"{field}.{key}[{i}]"
            name = container.get("name", "")
            if not name:
                errors.required(f"{path}.name")
            elif len(name) > 63 or not _DNS1123_LABEL.match(name):
                errors.invalid(f"{path}.name", name, _LABEL_HELP)
            elif name in seen:
                errors.duplicate(f"{path}.name", name)
            seen.add(name)
            if not container.get("image"):
                errors.required(f"{path}.image")
            _validate_resources(errors, container.get("resources") or {}, f"{path}.resources")
    restart = spec.get("restartPolicy")
    if restart not in allowed_restart:
        errors.not_supported(f"{field}.restartPolicy", restart, allowed_restart)


def _validate_selector_matches_template(errors: FieldErrors, spec: Obj) -> None:
    selector = spec.get("selector")
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errors.required("spec.selector")
        return
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not label_selector_from_spec(selector).matches(labels):
        errors.invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")


def _validate_daemonset(errors: FieldErrors, obj: Obj, old: Obj | None) -> None:
    spec = obj.get("spec") or {}
    _validate_selector_matches_template(errors, spec)
    validate_pod_spec(
        errors,
        (spec.get("template") or {}).get("spec") or {},
        "spec.template.spec",
        allowed_restart=["Always"],
    )
    if old is not None and spec.get("selector") != old["spec"].get("selector"):
        errors.invalid("spec.selector", spec.get("selector"), "field is immutable")


def _validate_job(errors: FieldErrors, obj: Obj, old: Obj | None) -> None:
    spec = obj.get("spec") or {}
    _validate_selector_matches_template(errors, spec)
    template_spec = (spec.get("template") or {}).get("spec") or {}
    validate_pod_spec(errors, template_spec, "spec.template.spec", allowed_restart=["OnFailure", "Never"])
    for counter in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"):
        value = spec.get(counter)
        if isinstance(value, int) and value < 0:
            errors.invalid(f"spec.{counter}", value, "must be greater than or equal to 0")
    if old is not None:
        for immutable in ("selector", "template", "completions", "completionMode"):
            if spec.get(immutable) != old["spec"].get(immutable):
                errors.invalid(f"spec.{immutable}", spec.get(immutable), "field is immutable")


_POD_MUTABLE_SPEC = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def _pod_spec_without_mutables(spec: Obj) -> Obj:
    stripped = {k: v for k, v in spec.items() if k not in _POD_MUTABLE_SPEC and k != "nodeName"}
    for key in ("containers", "initContainers"):
        if key in stripped:
            stripped[key] = [{k: v for k, v in c.items() if k != "image"} for c in stripped[key]]
    return stripped


def _validate_pod(errors: FieldErrors, obj: Obj, old: Obj | None) -> None:
    spec = obj.get("spec") or {}
    validate_pod_spec(errors, spec, "spec", allowed_restart=["Always", "OnFailure", "Never"])
    if old is None:
        return
    if _pod_spec_without_mutables(spec) != _pod_spec_without_mutables(old.get("spec") or {}):
        errors.forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`, "
            "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` "
            "(only additions to existing tolerations) or `spec.terminationGracePeriodSeconds`",
        )
    if old["spec"].get("nodeName") and spec.get("nodeName") != old["spec"].get("nodeName"):
        errors.invalid("spec.nodeName", spec.get("nodeName"), "field is immutable")


_VALIDATORS = {"daemonsets": _validate_daemonset, "jobs": _validate_job, "pods": _validate_pod}


def validate(rt: ResourceType, obj: Obj, old: Obj | None = None) -> None:
    """Raise 422 Invalid naming every bad field of `obj` (an update when `old` is given)."""
    errors = FieldErrors()
    validate_metadata(errors, rt, obj.get("metadata") or {})
    validator = _VALIDATORS.get(rt.plural)
    if validator is not None:
        validator(errors, obj, old)
    if old is not None and (obj.get("metadata") or {}).get("deletionTimestamp"):
        added = set(obj["metadata"].get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
        if added:
            errors.forbidden(
                "metadata.finalizers", "no new finalizers can be added if the object is being deleted"
            )
    errors.raise_if_any(rt.kind, (obj.get("metadata") or {}).get("name", ""), rt.group)
