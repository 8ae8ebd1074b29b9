"""Label and field selectors, parsed and matched the way the Kubernetes API server does.

Label selectors follow k8s.io/apimachinery/pkg/labels: equality (`a=b`, `a==b`, `a!=b`), set-based
(`a in (x,y)`, `a notin (x)`), existence (`a`, `!a`) and the numeric `a>1` / `a<1`, joined by
commas. Keys are qualified names with an optional DNS-subdomain prefix, values are label values;
both are validated because kubectl relies on the server rejecting `-l 'app=a b'` with 400.

Field selectors follow k8s.io/apimachinery/pkg/fields: `field=value`, `field==value`,
`field!=value`, joined by commas, with `\\,` `\\=` `\\\\` escapes in values. Each resource
supports only the field labels its Kubernetes registry converts; anything else is the server's
`field label not supported` 400.

Every parse failure raises ApiError 400 BadRequest with Kubernetes' wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gpuconf.emulator.interface import ApiError

# --- validation of keys and values (k8s.io/apimachinery/pkg/util/validation) -------------------

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_RE = re.compile(f"^{_QUALIFIED_NAME_FMT}$")
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = f"{_DNS1123_LABEL_FMT}(\\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_NAME_PART_MAX = 63
_PREFIX_MAX = 253


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def qualified_name_errors(key: str) -> list[str]:
    """Why `key` is not a valid label key (empty list when it is), as IsQualifiedName words it."""
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
        errors: list[str] = []
    elif len(parts) == 2:
        prefix, name = parts
        errors = []
        if not prefix:
            errors.append("prefix part must be non-empty")
        elif len(prefix) > _PREFIX_MAX:
            errors.append(f"prefix part must be no more than {_PREFIX_MAX} characters")
        elif not _DNS1123_SUBDOMAIN_RE.match(prefix):
            errors.append(
                "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character "
                f"(e.g. 'example.com', regex used for validation is '{_DNS1123_SUBDOMAIN_FMT}')"
            )
    else:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            f"'123-abc', regex used for validation is '{_QUALIFIED_NAME_FMT}') with an optional "
            "DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > _NAME_PART_MAX:
        errors.append(f"name part must be no more than {_NAME_PART_MAX} characters")
    elif not _QUALIFIED_NAME_RE.match(name):
        errors.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
            "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
            f"used for validation is '{_QUALIFIED_NAME_FMT}')"
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value (empty list when it is), as IsValidLabelValue words it."""
    errors = []
    if len(value) > _NAME_PART_MAX:
        errors.append(f"must be no more than {_NAME_PART_MAX} characters")
    if not _LABEL_VALUE_RE.match(value):
        errors.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
            "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
            f"'my_value',  or '12345', regex used for validation is '{_LABEL_VALUE_FMT}')"
        )
    return errors


# --- label selectors ----------------------------------------------------------------------------

# Operator names as Kubernetes' selection package spells them in String().
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: `key operator values`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator in (EQUALS, DOUBLE_EQUALS, IN):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_EQUALS, NOT_IN):
            # Kubernetes: a missing label satisfies `!=` and `notin`.
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if not present:
            return False
        try:
            actual = int(labels[self.key])
        except ValueError:
            return False  # a non-numeric label never satisfies gt/lt
        bound = int(self.values[0])
        return actual > bound if self.operator == GREATER_THAN else actual < bound

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements. `match_nothing` is Kubernetes' `labels.Nothing()`."""

    requirements: tuple[Requirement, ...] = ()
    match_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector matches every object (no requirements, not `Nothing`)."""
        return not self.requirements and not self.match_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.match_nothing:
            return False
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


MATCH_EVERYTHING = LabelSelector()
MATCH_NOTHING = LabelSelector(match_nothing=True)


def _new_requirement(key: str, operator: str, values: list[str]) -> Requirement:
    """Validate like labels.NewRequirement (key, value count per operator, value syntax)."""
    key_errors = qualified_name_errors(key)
    if key_errors:
        raise ValueError(f'key: Invalid value: "{key}": {"; ".join(key_errors)}')
    if operator in (IN, NOT_IN) and not values:
        raise ValueError("values: Required value: for 'in', 'notin' operators, values set can't be empty")
    if operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        raise ValueError("values: Invalid value: exact-match compatibility requires one single value")
    if operator in (EXISTS, DOES_NOT_EXIST) and values:
        raise ValueError("values: Forbidden: values set must be empty for exists and does not exist")
    if operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            raise ValueError(
                "values: Required value: for 'Gt', 'Lt' operators, exactly one value is required"
            )
        if not re.fullmatch(r"[+-]?\d+", values[0]):
            raise ValueError(
                "values[0]: Invalid value: "
                f"\"{values[0]}\": for 'Gt', 'Lt' operators, the value must be an integer"
            )
    else:
        for index, value in enumerate(values):
            value_errors = label_value_errors(value)
            if value_errors:
                raise ValueError(
                    f'values[{index}][{key}]: Invalid value: "{value}": {"; ".join(value_errors)}'
                )
    # Set-based values are a set in Kubernetes (sorted, deduplicated); keep that canonical form.
    canonical = tuple(sorted(set(values))) if operator in (IN, NOT_IN) else tuple(values)
    return Requirement(key, operator, canonical)


# Token kinds of the label-selector lexer.
_IDENT, _EOS, _COMMA, _OPEN, _CLOSE, _NOT, _EQ, _DEQ, _NEQ, _GT, _LT, _IN, _NOTIN = range(13)
_SYMBOLS = {
    "!=": _NEQ,
    "==": _DEQ,
    "=": _EQ,
    "!": _NOT,
    "(": _OPEN,
    ")": _CLOSE,
    ",": _COMMA,
    ">": _GT,
    "<": _LT,
}
_SPECIAL_CHARS = set("=!(),><")


def _tokenize(text: str) -> list[tuple[int, str]]:
    """Split a selector into (kind, literal) tokens; identifiers are maximal runs of other characters."""
    tokens: list[tuple[int, str]] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
            continue
        if char in _SPECIAL_CHARS:
            two = text[position : position + 2]
            literal = two if two in _SYMBOLS else char
            tokens.append((_SYMBOLS[literal], literal))
            position += len(literal)
            continue
        start = position
        while position < len(text) and not text[position].isspace() and text[position] not in _SPECIAL_CHARS:
            position += 1
        literal = text[start:position]
        kind = {"in": _IN, "notin": _NOTIN}.get(literal, _IDENT)
        tokens.append((kind, literal))
    tokens.append((_EOS, ""))
    return tokens


class _LabelParser:
    """A recursive-descent parser mirroring labels.Parser, including its error texts."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self, *, as_value: bool = True) -> tuple[int, str]:
        kind, literal = self.tokens[self.position]
        # In value context the keywords `in`/`notin` are ordinary identifiers (a key may be "in").
        if as_value and kind in (_IN, _NOTIN):
            kind = _IDENT
        return kind, literal

    def take(self, *, as_value: bool = True) -> tuple[int, str]:
        token = self.peek(as_value=as_value)
        self.position = min(self.position + 1, len(self.tokens) - 1)
        return token

    def parse(self) -> tuple[Requirement, ...]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind == _EOS:
                return tuple(requirements)
            if kind not in (_IDENT, _NOT):
                raise ValueError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except ValueError as error:
                raise ValueError(f"unable to parse requirement: {error}") from None
            kind, literal = self.take()
            if kind == _EOS:
                return tuple(requirements)
            if kind != _COMMA:
                raise ValueError(f"found '{literal}', expected: ',' or 'end of string'")
            next_kind, next_literal = self.peek()
            if next_kind not in (_IDENT, _NOT):
                raise ValueError(f"found '{next_literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = False
        kind, literal = self.take()
        if kind == _NOT:
            negated = True
            kind, literal = self.take()
        if kind != _IDENT:
            raise ValueError(f"found '{literal}', expected: identifier")
        key = literal
        if negated or self.peek()[0] in (_EOS, _COMMA):
            return _new_requirement(key, DOES_NOT_EXIST if negated else EXISTS, [])
        kind, literal = self.take(as_value=False)
        operators = {_IN: IN, _NOTIN: NOT_IN, _EQ: EQUALS, _DEQ: DOUBLE_EQUALS, _NEQ: NOT_EQUALS}
        operators |= {_GT: GREATER_THAN, _LT: LESS_THAN}
        if kind not in operators:
            raise ValueError(f"found '{literal}', expected: !=, ==, =, in, notin, >, <")
        operator = operators[kind]
        values = self.set_values() if operator in (IN, NOT_IN) else [self.exact_value()]
        return _new_requirement(key, operator, values)

    def exact_value(self) -> str:
        kind, _ = self.peek()
        if kind in (_EOS, _COMMA):
            return ""  # `a=` selects the empty value, as in Kubernetes
        kind, literal = self.take()
        if kind != _IDENT:
            raise ValueError(f"found '{literal}', expected: identifier")
        return literal

    def set_values(self) -> list[str]:
        kind, literal = self.take()
        if kind != _OPEN:
            raise ValueError(f"found '{literal}' expected: '('")
        values: list[str] = []
        expect_value = True
        while True:
            kind, literal = self.take()
            if kind == _CLOSE:
                # `()`, `(a,)` and `(,a)` all admit the empty value, exactly like Kubernetes' parser.
                if expect_value:
                    values.append("")
                return values
            if kind == _COMMA:
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if kind == _IDENT and expect_value:
                values.append(literal)
                expect_value = False
                continue
            expected = "',', ')' or identifier" if expect_value else "',' or ')'"
            raise ValueError(f"found '{literal}', expected: {expected}")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the `labelSelector` query parameter; raises ApiError 400 on bad syntax or names."""
    if not isinstance(text, str):
        raise _bad_request(f"label selector must be a string, not {type(text).__name__}")
    try:
        return LabelSelector(_LabelParser(text).parse())
    except ValueError as error:
        raise _bad_request(str(error)) from None


_EXPRESSION_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_spec(
    spec: Mapping[str, Any] | None, *, none_matches_everything: bool = False
) -> LabelSelector:
    """Convert a metav1.LabelSelector (matchLabels + matchExpressions) into a LabelSelector.

    Kubernetes' LabelSelectorAsSelector: `{}` (no requirements) matches EVERYTHING, while a missing
    (nil) selector matches NOTHING. Pass `none_matches_everything=True` where the absent selector
    means "no filter" instead (e.g. an optional selector argument).
    """
    if spec is None:
        return MATCH_EVERYTHING if none_matches_everything else MATCH_NOTHING
    if not isinstance(spec, Mapping):
        raise _bad_request(f"label selector must be an object, not {type(spec).__name__}")
    requirements: list[Requirement] = []
    try:
        match_labels = spec.get("matchLabels") or {}
        if not isinstance(match_labels, Mapping):
            raise ValueError("matchLabels must be an object")
        for key in sorted(match_labels):
            requirements.append(_new_requirement(key, EQUALS, [str(match_labels[key])]))
        expressions = spec.get("matchExpressions") or []
        if not isinstance(expressions, list):
            raise ValueError("matchExpressions must be a list")
        for expression in expressions:
            if not isinstance(expression, Mapping):
                raise ValueError("matchExpressions entries must be objects")
            operator = _EXPRESSION_OPERATORS.get(expression.get("operator", ""))
            if operator is None:
                raise ValueError(f'"{expression.get("operator")}" is not a valid label selector operator')
            values = [str(value) for value in expression.get("values") or []]
            requirements.append(_new_requirement(str(expression.get("key", "")), operator, values))
    except ValueError as error:
        raise _bad_request(f"invalid label selector: {error}") from None
    return LabelSelector(tuple(requirements))


# --- field selectors ----------------------------------------------------------------------------


def _path(*keys: str) -> Callable[[Mapping[str, Any]], Any]:
    def lookup(obj: Mapping[str, Any]) -> Any:
        value: Any = obj
        for key in keys:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value

    return lookup


_COMMON_FIELDS = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}

# The field labels each registry's field-label conversion accepts (pkg/apis/*/v1/conversion.go and
# the registries' GetAttrs), so a selector valid here is valid on a real cluster and vice versa.
_RESOURCE_FIELDS: dict[str, dict[str, Callable[[Mapping[str, Any]], Any]]] = {
    "pods": {
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "spec.hostNetwork": _path("spec", "hostNetwork"),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    "nodes": {"spec.unschedulable": _path("spec", "unschedulable")},
    "events": {
        "involvedObject.kind": _path("involvedObject", "kind"),
        "involvedObject.namespace": _path("involvedObject", "namespace"),
        "involvedObject.name": _path("involvedObject", "name"),
        "involvedObject.uid": _path("involvedObject", "uid"),
        "involvedObject.apiVersion": _path("involvedObject", "apiVersion"),
        "involvedObject.resourceVersion": _path("involvedObject", "resourceVersion"),
        "involvedObject.fieldPath": _path("involvedObject", "fieldPath"),
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _path("source", "component"),
        "type": _path("type"),
    },
    "jobs": {"status.successful": _path("status", "successful")},
    "namespaces": {"status.phase": _path("status", "phase")},
}

# Kubernetes formats every selectable field as a string; these are the defaults a fresh object has.
_DEFAULT_WHEN_MISSING = {"spec.unschedulable": "false", "spec.hostNetwork": "false", "status.successful": "0"}


def _field_text(field: str, value: Any) -> str:
    if value is None:
        return _DEFAULT_WHEN_MISSING.get(field, "")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=" (also for "==") or "!="
    value: str

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{self.operator}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    resource: str
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for requirement in self.requirements:
            getter = (
                _COMMON_FIELDS.get(requirement.field) or _RESOURCE_FIELDS[self.resource][requirement.field]
            )
            actual = _field_text(requirement.field, getter(obj))
            if (actual == requirement.value) != (requirement.operator == "="):
                return False
        return True

    def required_value(self, field: str) -> str | None:
        """The value `field` must equal (from a `field=value` term), for index lookups; else None."""
        for requirement in self.requirements:
            if requirement.field == field and requirement.operator == "=":
                return requirement.value
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    start = 0
    position = 0
    while position < len(text):
        if text[position] == "\\":
            position += 2
            continue
        if text[position] == separator:
            parts.append(text[start:position])
            start = position + 1
        position += 1
    parts.append(text[start:])
    return parts


def _split_term(term: str) -> tuple[str, str, str] | None:
    position = 0
    while position < len(term):
        if term[position] == "\\":
            position += 2
            continue
        for operator in ("!=", "==", "="):
            if term.startswith(operator, position):
                return term[:position], operator, term[position + len(operator) :]
        position += 1
    return None


def _unescape_field_value(value: str) -> str:
    result: list[str] = []
    position = 0
    while position < len(value):
        char = value[position]
        if char == "\\":
            escaped = value[position + 1 : position + 2]
            if escaped not in ("\\", ",", "="):
                raise _bad_request(f"invalid field selector: invalid escape sequence: \\{escaped}")
            result.append(escaped)
            position += 2
            continue
        if char in (",", "="):
            raise _bad_request(f"invalid field selector: unescaped character in value: {char}")
        result.append(char)
        position += 1
    return "".join(result)


def parse_field_selector(text: str, resource: str) -> FieldSelector:
    """Parse the `fieldSelector` query parameter for `resource` (a plural such as "pods").

    Raises ApiError 400 for bad syntax or a field label the resource does not support.
    """
    if not isinstance(text, str):
        raise _bad_request(f"field selector must be a string, not {type(text).__name__}")
    supported = _COMMON_FIELDS.keys() | _RESOURCE_FIELDS.get(resource, {}).keys()
    requirements: list[FieldRequirement] = []
    for term in _split_unescaped(text, ","):
        if not term.strip():
            continue  # Kubernetes skips empty terms (a trailing comma is harmless)
        split = _split_term(term)
        if split is None:
            raise _bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, raw_value = split
        field = field.strip()
        value = _unescape_field_value(raw_value)
        if field not in supported:
            raise _bad_request(f"field label not supported: {field}")
        requirements.append(FieldRequirement(field, "!=" if operator == "!=" else "=", value))
    return FieldSelector(resource, tuple(requirements))
