"""The GPU-specific failure bundle: what a person needs to see why a GPU step failed.

`write_failure_bundle(directory, events=..., pods_describe=..., pod_logs=..., node_capacity=...,
plugin_logs=...)` writes readable, redacted files, one per item:
  README.md                  what is where
  events.txt                 Kubernetes events sorted by time (oldest first)
  nodes.txt                  capacity vs allocatable per node, nvidia.com/gpu first, mismatches flagged;
                             then the node's VM size, conditions that are not healthy, cordon, taints
  pods/<pod>.describe.txt    `kubectl describe pod` text
  logs/<pod>.log             pod (container) logs
  device-plugin/<pod>.log    device-plugin pod logs
`redact` is re-exported here: everything written goes through it (gpuconf.reports.files).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from gpuconf.reports.files import ensure_dir, write_text_atomic
from gpuconf.reports.redact import redact

__all__ = ["write_failure_bundle", "redact", "format_events", "format_node_capacity"]

GPU_RESOURCE = "nvidia.com/gpu"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_name(name: str) -> str:
    cleaned = _UNSAFE_NAME.sub("_", name).strip("._") or "unnamed"
    return cleaned[:120]


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    meta = event.get("metadata") or {}
    for raw in (event.get("eventTime"), event.get("lastTimestamp"), event.get("firstTimestamp"),
                meta.get("creationTimestamp")):  # fmt: skip
        if isinstance(raw, datetime):
            return raw
        if isinstance(raw, str) and raw:
            try:
                return datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                continue
    return None


def _resource_version(event: Mapping[str, Any]) -> int:
    """The event's resourceVersion when it is a number (etcd's revision): orders events of one second."""
    raw = str((event.get("metadata") or {}).get("resourceVersion") or "")
    return int(raw) if raw.isdigit() else 0


def format_events(events: Sequence[Mapping[str, Any]]) -> str:
    """One line per event, oldest first: TIME TYPE REASON KIND/NAME: MESSAGE (xCOUNT). Events with
    no timestamp come first, in the order given (stable sort). Timestamps have one-second resolution,
    so events of one second are ordered by resourceVersion (the order the API server wrote them)."""
    timed = sorted(
        enumerate(events),
        key=lambda pair: (
            _event_time(pair[1]) is not None,
            _event_time(pair[1]) or 0,
            _resource_version(pair[1]),
            pair[0],
        ),
    )
    lines = []
    for _, event in timed:
        when = _event_time(event)
        obj = event.get("involvedObject") or event.get("regarding") or {}
        count = event.get("count") or (event.get("series") or {}).get("count")
        lines.append(
            f"{when.isoformat() if when else '(no time)':<25} {event.get('type', ''):<8} "
            f"{event.get('reason', ''):<24} {obj.get('kind', '?')}/{obj.get('name', '?')}: "
            f"{str(event.get('message') or event.get('note') or '').strip()}"
            + (f" (x{count})" if count else "")
        )
    return "\n".join(lines) + "\n" if lines else "(no events)\n"


def _resources(node: Mapping[str, Any], key: str) -> Mapping[str, str]:
    # Accept either {"capacity": {...}, "allocatable": {...}} or a whole Node object.
    if key in node:
        return node[key] or {}
    return (node.get("status") or {}).get(key) or {}


_INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
# Conditions whose healthy status is "False" (a True one is worth a line); Ready is healthy when True.
_PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


def _node_state(node: Mapping[str, Any]) -> list[str]:
    """What else keeps GPUs from being used on a node (for a whole Node object; nothing otherwise)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    spec, status = node.get("spec") or {}, node.get("status") or {}
    lines = []
    size = next((labels[k] for k in _INSTANCE_TYPE_LABELS if labels.get(k)), None)
    if size:
        lines.append(f"  vm size: {size}")
    for cond in status.get("conditions") or []:
        kind, value = cond.get("type"), cond.get("status")
        if kind == "Ready" or (kind in _PRESSURE_CONDITIONS and value == "True"):
            why = ": ".join(str(p) for p in (cond.get("reason"), cond.get("message")) if p)
            flag = "" if (kind == "Ready" and value == "True") else "  <-- not healthy"
            lines.append(f"  condition {kind}={value}" + (f" ({why})" if why and flag else "") + flag)
    if spec.get("unschedulable"):
        lines.append("  unschedulable: true  <-- cordoned: no new pod is scheduled here")
    for taint in spec.get("taints") or []:
        value = f"={taint['value']}" if taint.get("value") else ""
        lines.append(f"  taint {taint.get('key', '')}{value}:{taint.get('effect', '')}")
    return lines


def format_node_capacity(node_capacity: Mapping[str, Mapping[str, Any]]) -> str:
    """A capacity-vs-allocatable table per node; nvidia.com/gpu first and flagged when they differ
    (allocatable < capacity means unhealthy GPUs) or when it is missing (no device plugin)."""
    blocks = []
    for node_name in sorted(node_capacity):
        capacity = _resources(node_capacity[node_name], "capacity")
        allocatable = _resources(node_capacity[node_name], "allocatable")
        names = sorted(set(capacity) | set(allocatable), key=lambda n: (n != GPU_RESOURCE, n))
        rows = [f"node {node_name}", f"  {'resource':<32} {'capacity':>16} {'allocatable':>16}"]
        for name in names:
            cap, alloc = str(capacity.get(name, "-")), str(allocatable.get(name, "-"))
            flag = "  <-- differs" if name == GPU_RESOURCE and cap != alloc else ""
            rows.append(f"  {name:<32} {cap:>16} {alloc:>16}{flag}")
        if GPU_RESOURCE not in names:
            rows.append(
                f"  {GPU_RESOURCE:<32} {'-':>16} {'-':>16}  <-- not advertised (device plugin missing?)"
            )
        rows += _node_state(node_capacity[node_name])
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks) + "\n" if blocks else "(no nodes)\n"


def _write_items(directory: Path, folder: str, items: Mapping[str, str], suffix: str) -> list[Path]:
    written = []
    for name in sorted(items):
        written.append(write_text_atomic(directory / folder / f"{_safe_name(name)}{suffix}", items[name]))
    return written


def write_failure_bundle(
    directory: Path | str,
    *,
    events: Sequence[Mapping[str, Any]] = (),
    pods_describe: Mapping[str, str] | None = None,
    pod_logs: Mapping[str, str] | None = None,
    node_capacity: Mapping[str, Mapping[str, Any]] | None = None,
    plugin_logs: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write the bundle into `directory` (created); returns the files written, README first.
    Events are Event objects as dicts (core/v1 or events.k8s.io/v1); for typed client objects pass
    `ApiClient().sanitize_for_serialization(obj)`. Raises ReportDirError if it cannot write."""
    root = ensure_dir(directory)
    files = [
        write_text_atomic(root / "events.txt", format_events(events)),
        write_text_atomic(root / "nodes.txt", format_node_capacity(node_capacity or {})),
        *_write_items(root, "pods", pods_describe or {}, ".describe.txt"),
        *_write_items(root, "logs", pod_logs or {}, ".log"),
        *_write_items(root, "device-plugin", plugin_logs or {}, ".log"),
    ]
    index = ["# Failure bundle", "", "Secrets are redacted in every file.", ""]
    index += [f"- `{path.relative_to(root)}`" for path in files]
    return [write_text_atomic(root / "README.md", "\n".join(index) + "\n"), *files]
