"""Backend `emulated`: the embedded GPU cluster, run as its own process.

It runs `python -m gpuconf.emulator serve` in a new process session rather than in the test process:
the cluster then outlives the pytest-xdist worker that started it (the last worker tears it down),
its device-plugin and workload processes are one killable process group, and the suite talks to it
exactly as to a remote cluster: HTTP and a kubeconfig. It also ends itself (`--exit-with-parent`,
see `registry.run_owner_pid`) when the test run's top process ends, so a SIGKILLed run leaves nothing running.
"""

from __future__ import annotations

import os
import shutil
import signal
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
from gpuconf.backends.registry import EMULATED_WORKDIR_PREFIX, run_owner_pid
from gpuconf.settings import ARTICLE_VM_SIZE, SuiteSettings

START_TIMEOUT_S = 60.0  # serve prints "ready" within ~2 s here; 60 s covers a loaded CI machine
STOP_TIMEOUT_S = 20.0
STOP_POLL_S = 0.01  # a process group has no exit notification; the emulator stops in ~30 ms
INPROCESS_PLUGINS_ABOVE = 20  # nodes


def serve_command(settings: SuiteSettings, kubeconfig: Path) -> list[str]:
    """The `serve` command line for these settings (one pool per --vm-size)."""
    command = [sys.executable, "-m", "gpuconf.emulator", "serve", "--kubeconfig", str(kubeconfig)]
    sizes = settings.vm_sizes or (ARTICLE_VM_SIZE,)
    if len(sizes) == 1:
        command += ["--nodes", str(settings.nodes), "--vm-size", sizes[0]]
    else:
        for index, size in enumerate(sizes):
            command += ["--pool", f"gpupool{index}:{size}:{settings.nodes}"]
    if settings.nodes * len(sizes) > INPROCESS_PLUGINS_ABOVE:
        # One plugin process per node does not fit 2 cores at scale: run the plugins as asyncio tasks
        # (same gRPC protocol, same sockets) inside the emulator.
        command += ["--plugin-runtime", "inprocess"]
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
        self.pid: int | None = None

    def provision(self) -> ClusterHandle:
        self.workdir = Path(tempfile.mkdtemp(prefix=EMULATED_WORKDIR_PREFIX))
        kubeconfig = self.workdir / "kubeconfig"
        log_path = self.workdir / "emulator.log"
        command = serve_command(self.settings, kubeconfig) + lifeline_args(self.settings)
        # posix_spawn, not Popen: the pid is handed to whichever xdist worker leaves last, and a Popen
        # object dropped by the provisioning worker would warn that its child still runs.
        self.pid = os.posix_spawn(
            command[0],
            command,
            {**os.environ, "PYTHONUNBUFFERED": "1"},
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,  # its own process group: one killpg ends every container
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
                "emulator_pid": str(self.pid),
                "emulator_log": str(log_path),
                "gpu": "real" if self.settings.gpu == "real" else "emulated",
            },
        )

    def _wait_ready(self, log_path: Path) -> None:
        assert self.pid is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace")
            if "ready at" in text:  # serve's line; "ready" alone is in error messages (node-not-ready)
                return
            if _exited(self.pid):
                last = (text.strip().splitlines() or ["(no output)"])[-1]
                self.teardown()
                raise BackendUnavailable(f"the embedded cluster did not start: {last}")
            time.sleep(0.05)  # a file has no change notification we can use portably; 50 ms is cheap
        self.teardown()
        raise BackendUnavailable(f"the embedded cluster printed no 'ready' within {START_TIMEOUT_S:g}s")

    def teardown(self) -> None:
        stop_process_group(self.pid)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.pid = None

    def teardown_spec(self) -> dict[str, str]:
        """What another process needs to tear this cluster down (pytest-xdist's last worker)."""
        return {"pid": str(self.pid or ""), "workdir": str(self.workdir or "")}


def lifeline_args(settings: SuiteSettings) -> list[str]:
    """`--exit-with-parent PID`: a SIGKILLed test run cannot tear the cluster down, so the cluster
    ends itself with the run. Not with --keep-cluster, whose point is to outlive the run."""
    if settings.keep_cluster:
        return []
    return ["--exit-with-parent", str(run_owner_pid())]


def _exited(pid: int) -> bool:
    """True once our spawned child has ended (and reap it)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


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
        try:  # reap it first if it is our child: a zombie still counts as a member of its group
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(STOP_POLL_S)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def teardown_from_spec(spec: dict[str, str]) -> None:
    stop_process_group(int(spec["pid"]) if spec.get("pid") else None)
    if spec.get("workdir"):
        shutil.rmtree(spec["workdir"], ignore_errors=True)
