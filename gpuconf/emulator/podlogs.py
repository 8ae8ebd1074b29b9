"""`GET pods/{name}/log`: resolve the container, then read or follow its output file.

The container runtime registers a `PodLogProvider`; this module only knows files. Files are plain
container output (no per-line timestamps), so `timestamps=true` prefixes lines with the file's
modification time: honest about what the emulator knows, and kubectl's format is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpuconf.emulator.interface import ApiError, PodLogProvider

Obj = dict[str, Any]

# Files grow without a notification we could wait on portably, so `follow` re-reads at this pace
# (bounded: the stream ends when the container stops, the client leaves or the server stops).
FOLLOW_POLL_SECONDS = 0.05
READ_CHUNK = 64 * 1024


def choose_container(pod: Obj, container: str | None) -> str:
    name = pod["metadata"]["name"]
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    init = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
    if not container:
        if len(containers) == 1:
            return containers[0]
        choices = " ".join(containers)
        raise ApiError(
            400,
            "BadRequest",
            f"a container name must be specified for pod {name}, choose one of: [{choices}]",
        )
    if container not in containers + init:
        raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
    return container


def _waiting_reason(pod: Obj, container: str) -> str:
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            return waiting.get("reason") or "ContainerCreating"
    return "ContainerCreating"


def resolve_log_file(provider: PodLogProvider | None, pod: Obj, container: str, *, previous: bool) -> Path:
    """The file to serve, or the 400 a real kubelet gives for a container that has not started."""
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    path = provider.log_path(namespace, name, container, previous=previous) if provider else None
    if path is None or not path.exists():
        if previous:
            raise ApiError(
                400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found'
            )
        reason = _waiting_reason(pod, container)
        raise ApiError(
            400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {reason}'
        )
    return path


def _stamp(path: Path) -> bytes:
    moment = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f000Z ").encode()


def read_snapshot(path: Path, *, tail_lines: int | None, timestamps: bool, limit_bytes: int | None) -> bytes:
    data = path.read_bytes()
    if tail_lines is not None:
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[-tail_lines:]) if tail_lines > 0 else b""
    if timestamps and data:
        stamp = _stamp(path)
        data = b"".join(stamp + line for line in data.splitlines(keepends=True))
    if limit_bytes is not None:
        data = data[:limit_bytes]
    return data


async def follow(
    provider: PodLogProvider,
    path: Path,
    pod: Obj,
    container: str,
    *,
    start: int,
    timestamps: bool,
    stop: asyncio.Event,
) -> AsyncIterator[bytes]:
    """Bytes appended to `path` after offset `start`, until the container stops writing or `stop` is set."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    offset = start
    while not stop.is_set():
        running = provider.is_running(namespace, name, container)
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read(READ_CHUNK)
        if chunk:
            offset += len(chunk)
            if timestamps:
                stamp = _stamp(path)
                chunk = b"".join(stamp + line for line in chunk.splitlines(keepends=True))
            yield chunk
            continue
        if not running:
            return  # read everything the stopped container wrote: the stream is complete
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
