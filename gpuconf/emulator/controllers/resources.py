"""Resource quantities and what a pod asks of a node, as the scheduler and kubelet count them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

Obj = dict[str, Any]

_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse_quantity(value: Any) -> Decimal:
    """A Kubernetes quantity ("5916m", "1", "16Gi", 1) as a Decimal in base units."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"invalid quantity {value!r}")
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation:
        raise ValueError(f"invalid quantity {value!r}") from None


def container_requests(container: Obj) -> dict[str, Decimal]:
    """Requests of one container; a limit without a request implies an equal request (API defaulting)."""
    resources = container.get("resources") or {}
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: parse_quantity(q) for name, q in merged.items()}


def pod_requests(pod: Obj) -> dict[str, Decimal]:
    """Effective requests: sum over containers, at least the largest init container, plus one pod slot."""
    spec = pod.get("spec") or {}
    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        for name, q in container_requests(container).items():
            total[name] = total.get(name, Decimal(0)) + q
    for container in spec.get("initContainers") or []:
        for name, q in container_requests(container).items():
            total[name] = max(total.get(name, Decimal(0)), q)
    total["pods"] = total.get("pods", Decimal(0)) + 1
    return total


def extended_requests(container: Obj, resource: str) -> int:
    """How many devices of `resource` (e.g. nvidia.com/gpu) one container asks for."""
    return int(container_requests(container).get(resource, Decimal(0)))
