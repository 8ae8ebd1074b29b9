"""Reading the health control file: {"unhealthy": ["GPU-...", 1]} marks devices Unhealthy.

Entries are device IDs or device indexes. A missing file means every device is healthy; a file
that cannot be parsed is reported and ignored (the previous state stays).
"""

from __future__ import annotations

import json
from pathlib import Path

from gpuconf.deviceplugin.devices import GpuDevice


class HealthFileError(ValueError):
    pass


def read_unhealthy(path: Path, devices: list[GpuDevice]) -> set[str]:
    """The IDs the file marks unhealthy; HealthFileError (one line) for a malformed file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return set()
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as err:
        raise HealthFileError(f"{path} is not JSON: {err}") from None
    entries = data.get("unhealthy", []) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise HealthFileError(f'{path} must be an object like {{"unhealthy": ["GPU-...", 0]}}')
    by_index = {d.index: d.id for d in devices}
    ids = {d.id for d in devices}
    unhealthy = set()
    for entry in entries:
        if isinstance(entry, int) and not isinstance(entry, bool) and entry in by_index:
            unhealthy.add(by_index[entry])
        elif isinstance(entry, str) and entry in ids:
            unhealthy.add(entry)
        else:
            raise HealthFileError(f"{path} names an unknown device {entry!r}")
    return unhealthy
