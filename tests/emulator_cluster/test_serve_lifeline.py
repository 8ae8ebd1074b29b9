"""`serve --exit-with-parent PID`: the cluster ends itself, cleanly, when its caller is SIGKILLed.

The caller here is a sleeping child process standing in for the test run; serve runs in its own
session as gpuconf/backends/emulated.py starts it, with a container (a pause pod) running.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuconf.backends.emulated import lifeline_args
from gpuconf.settings import SuiteSettings
from tests.emulator_cluster.clusterkit import gpu_pod_manifest
from tests.emulator_cluster.kubectl import Kubectl
from tests.emulator_cluster.storewait import POD_START_S

READY_TIMEOUT_S = 60.0  # serve prints "ready" in ~2 s here
# From the caller's death to serve's exit: stop the containers (0.5 s grace), the kubelets and the
# server, remove the root. Well under this.
LIFELINE_EXIT_TIMEOUT_S = 30.0
CONTAINER_GONE_TIMEOUT_S = 5.0  # after serve exited, its containers are already gone
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def caller() -> Iterator[subprocess.Popen[bytes]]:
    """A process that would sleep for ten minutes: serve's lifeline."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def test_serve_stops_every_container_and_removes_its_root_when_the_caller_is_killed(
    caller: subprocess.Popen[bytes],
) -> None:
    with tempfile.TemporaryDirectory(prefix="gpuconf-lifeline-") as scratch:
        kubeconfig = Path(scratch) / "kubeconfig"
        command = [sys.executable, "-m", "gpuconf.emulator", "serve", "--kubeconfig", str(kubeconfig)]
        command += ["--exit-with-parent", str(caller.pid)]
        serve = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            assert serve.stdout is not None
            readable, _, _ = select.select([serve.stdout], [], [], READY_TIMEOUT_S)
            assert readable, f"serve printed nothing within {READY_TIMEOUT_S:g}s"
            assert "ready" in serve.stdout.readline()
            kubectl = Kubectl(kubeconfig)
            kubectl.apply(gpu_pod_manifest("holder", image=PAUSE_IMAGE, args=[], restart="Always", gpus=0))
            kubectl.wait("pod/holder", "jsonpath={.status.phase}=Running", timeout_s=POD_START_S)
            (container,) = children(serve.pid)
            cwd = Path(os.readlink(f"/proc/{container}/cwd"))
            root = next(p for p in cwd.parents if p.parent == Path("/tmp"))  # the cluster's /tmp/gcXXXX
            assert root.name.startswith("gc") and list(root.rglob("kubelet.sock"))
            container_fd = os.pidfd_open(container)  # readable once that process has ended
            try:
                caller.send_signal(signal.SIGKILL)
                caller.wait()
                output, _ = serve.communicate(timeout=LIFELINE_EXIT_TIMEOUT_S)
                gone, _, _ = select.select([container_fd], [], [], CONTAINER_GONE_TIMEOUT_S)
            finally:
                os.close(container_fd)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.communicate()
        assert serve.returncode == 0, output
        assert f"process {caller.pid} ended, stopping" in output
        assert output.rstrip().endswith("gpuconf emulated API server stopped")
        assert gone, f"container process {container} outlived serve"
        assert not root.exists(), f"{root} left behind"
        assert not kubeconfig.exists(), "the kubeconfig names a server that is gone"


def test_serve_refuses_a_lifeline_that_is_already_dead() -> None:
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    with tempfile.TemporaryDirectory(prefix="gpuconf-lifeline-") as scratch:
        command = [sys.executable, "-m", "gpuconf.emulator", "serve", "--kubeconfig", f"{scratch}/kc"]
        done = subprocess.run(
            [*command, "--nodes", "0", "--exit-with-parent", str(dead.pid)],
            capture_output=True,
            text=True,
            timeout=READY_TIMEOUT_S,
        )
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: --exit-with-parent {dead.pid}: no such process"


def test_the_emulated_backend_ties_serve_to_the_test_run_unless_the_cluster_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert lifeline_args(SuiteSettings()) == ["--exit-with-parent", str(os.getpid())]
    # An xdist worker watches the controller, its parent, which outlives every worker.
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert lifeline_args(SuiteSettings()) == ["--exit-with-parent", str(os.getppid())]
    assert lifeline_args(SuiteSettings(keep_cluster=True)) == []
