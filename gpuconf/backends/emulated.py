"""Backend `emulated`: the embedded GPU cluster, run as its own process.

It runs `python -m gpuconf.emulator serve` in a new process session rather than in the test process:
the cluster then outlives the pytest-xdist worker that started it (the last worker tears it down),
its device-plugin and workload processes are one killable process group, and the suite talks to it
exactly as to a remote cluster: HTTP and a kubeconfig.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpuconf.backends.base import (
    EMULATED,
    FAULT_INJECTION,
    PLUGIN_RESTART,
    PROVISIONS_NODES,
    REAL_GPU,
    RUNS_CONTAINERS,
    Backend,
    BackendUnavailable,
    ClusterHandle,
)
from gpuconf.settings import ARTICLE_VM_SIZE, SuiteSettings

START_TIMEOUT_S = 60.0  # serve prints "ready" within ~2 s here; 60 s covers a loaded CI machine
STOP_TIMEOUT_S = 20.0


def serve_command(settings: SuiteSettings, kubeconfig: Path) -> list[str]:
    """The `serve` command line for these settings (one pool per --vm-size)."""
    command = [sys.executable, "-m", "gpuconf.emulator", "serve", "--kubeconfig", str(kubeconfig)]
    sizes = settings.vm_sizes or (ARTICLE_VM_SIZE,)
    if len(sizes) == 1:
        command += ["--nodes", str(settings.nodes), "--vm-size", sizes[0]]
    else:
        for index, size in enumerate(sizes):
            command += ["--pool", f"gpupool{index}:{size}:{settings.nodes}"]
    if settings.install_path == "node-image":
        command += ["--node-image", "gpu-vhd"]
    if settings.gpu == "real":
        command += ["--gpu", "real"]
    for fault in settings.emulator_faults:
        command += ["--fault", fault]
    return command


class EmulatedBackend(Backend):
    name = "emulated"

    def __init__(self, options: SuiteSettings) -> None:
        super().__init__(options)
        self.settings = options
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def provision(self) -> ClusterHandle:
        self.workdir = Path(tempfile.mkdtemp(prefix="gpuconf-emulated-"))
        kubeconfig = self.workdir / "kubeconfig"
        log_path = self.workdir / "emulator.log"
        command = serve_command(self.settings, kubeconfig)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: one killpg ends every container
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._wait_ready(log_path)
        capabilities = {EMULATED, RUNS_CONTAINERS, PROVISIONS_NODES, FAULT_INJECTION, PLUGIN_RESTART}
        if self.settings.gpu == "real":
            capabilities.add(REAL_GPU)
        return ClusterHandle(
            backend=self.name,
            kubeconfig=kubeconfig,
            capabilities=frozenset(capabilities),
            properties={
                "emulator_pid": str(self.process.pid),
                "emulator_log": str(log_path),
                "gpu": "real" if self.settings.gpu == "real" else "emulated",
            },
        )

    def _wait_ready(self, log_path: Path) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace")
            if "ready" in text:
                return
            if self.process.poll() is not None:
                last = (text.strip().splitlines() or ["(no output)"])[-1]
                self.teardown()
                raise BackendUnavailable(f"the embedded cluster did not start: {last}")
            time.sleep(0.05)  # a file has no change notification we can use portably; 50 ms is cheap
        self.teardown()
        raise BackendUnavailable(f"the embedded cluster printed no 'ready' within {START_TIMEOUT_S:g}s")

    def teardown(self) -> None:
        stop_process_group(self.process.pid if self.process else None)
        if self.process:
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.process = None

    def teardown_spec(self) -> dict[str, str]:
        """What another process needs to tear this cluster down (pytest-xdist's last worker)."""
        return {"pid": str(self.process.pid if self.process else ""), "workdir": str(self.workdir or "")}


def stop_process_group(pid: int | None) -> None:
    """SIGTERM the emulator's process group (it stops its containers cleanly), SIGKILL what stays."""
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        try:  # reap it if it is our child, so it does not linger as a zombie
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def teardown_from_spec(spec: dict[str, str]) -> None:
    stop_process_group(int(spec["pid"]) if spec.get("pid") else None)
    if spec.get("workdir"):
        shutil.rmtree(spec["workdir"], ignore_errors=True)
