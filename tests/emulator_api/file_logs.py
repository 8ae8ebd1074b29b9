"""A PodLogProvider over temp files, standing in for the container runtime in API-server tests."""

from __future__ import annotations

from pathlib import Path


class FileLogProvider:
    """Container output in `root/{namespace}/{pod}/{container}[.previous].log`; tests write the files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: set[tuple[str, str, str]] = set()

    def path(self, namespace: str, pod: str, container: str, *, previous: bool = False) -> Path:
        return self.root / namespace / pod / (container + (".previous" if previous else "") + ".log")

    def write(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False) -> None:
        target = self.path(namespace, pod, container, previous=previous)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a") as handle:
            handle.write(text)

    # PodLogProvider
    def log_path(self, namespace: str, pod: str, container: str, *, previous: bool = False) -> Path | None:
        target = self.path(namespace, pod, container, previous=previous)
        return target if target.exists() else None

    def is_running(self, namespace: str, pod: str, container: str) -> bool:
        return (namespace, pod, container) in self.running
