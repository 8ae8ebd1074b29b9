"""Container logs on disk, served to `kubectl logs` through the PodLogProvider protocol.

Each container attempt writes its own file, like the kubelet's /var/log/pods/<ns>_<pod>_<uid>/<c>/<n>.log,
so `--previous` shows the attempt before a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class _ContainerLogs:
    attempts: list[Path] = field(default_factory=list)
    running: bool = False


class LogStore:
    """Implements gpuconf.emulator.interface.PodLogProvider for every node of one cluster."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._logs: dict[tuple[str, str, str], _ContainerLogs] = {}

    def new_attempt(self, namespace: str, pod: str, uid: str, container: str) -> Path:
        """The file the next run of this container writes (and which becomes `current`)."""
        entry = self._logs.setdefault((namespace, pod, container), _ContainerLogs())
        path = self.root / f"{namespace}_{pod}_{uid[:8]}" / container / f"{len(entry.attempts)}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        entry.attempts.append(path)
        entry.running = True
        return path

    def mark_exited(self, namespace: str, pod: str, container: str) -> None:
        entry = self._logs.get((namespace, pod, container))
        if entry is not None:
            entry.running = False

    def forget_pod(self, namespace: str, pod: str) -> None:
        for key in [k for k in self._logs if k[0] == namespace and k[1] == pod]:
            del self._logs[key]

    # PodLogProvider
    def log_path(self, namespace: str, pod: str, container: str, *, previous: bool = False) -> Path | None:
        entry = self._logs.get((namespace, pod, container))
        if entry is None or not entry.attempts:
            return None
        if previous:
            return entry.attempts[-2] if len(entry.attempts) > 1 else None
        return entry.attempts[-1]

    def is_running(self, namespace: str, pod: str, container: str) -> bool:
        entry = self._logs.get((namespace, pod, container))
        return bool(entry and entry.running)
