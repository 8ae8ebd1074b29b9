"""Choose a backend by name, and share one cluster among pytest-xdist workers.

pytest-kind has no lock, so xdist workers race to create and delete the same cluster (REFERENCE §8).
Here a file lock guards a small state file: the first worker to arrive provisions and records the
cluster (kubeconfig, capabilities, how to tear it down); later workers reuse it and count themselves
in; the last to leave tears it down (with --keep-cluster: only releases what its process holds) and
removes the run directory. Without xdist the same code runs with one participant.

Removing the directory is safe for a worker that is still waiting on the lock: the lock is a flock()
on `cluster.lock`, and whoever gets it checks that the path still names the very file it locked; if
the last user removed it meanwhile, the waiter starts over with a fresh directory (and finds no
cluster, so it provisions one, as any newcomer after the end of a run would).

A run that was killed (SIGKILL, a CI job cancelled) cannot remove its directory. The state names the
process that outlives every participant (`run_owner_pid`, with the boot and pid namespace that give
the pid its meaning); a later run that finds that process gone removes the directory and the
emulated cluster's files (`sweep_stale_runs`). It never signals a pid
read from a file: the emulator of a killed run has stopped itself already (its --exit-with-parent).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconf.backends.base import Backend, ClusterHandle
from gpuconf.pids import alive
from gpuconf.settings import SuiteSettings

LOCK_TIMEOUT_S = 900.0  # provisioning AKS can take this long while other workers wait
LOCK_RETRY_INTERVAL_S = 0.05  # flock() has no timeout of its own: try again this often until LOCK_TIMEOUT_S
RUN_DIR_PREFIX = "gpuconf-run-"
EMULATED_WORKDIR_PREFIX = "gpuconf-emulated-"  # gpuconf.backends.emulated's tempfile.mkdtemp prefix


def make_backend(settings: SuiteSettings, config: Any = None) -> Backend:
    if settings.cluster == "emulated":
        from gpuconf.backends.emulated import EmulatedBackend

        return EmulatedBackend(settings)
    if settings.cluster == "kubeconfig":
        from gpuconf.backends.kubeconfig import KubeconfigBackend

        return KubeconfigBackend(settings)
    if settings.cluster == "kind":
        from gpuconf.backends.kind import KindBackend

        return KindBackend(settings)
    from gpuconf.backends.aks import AksBackend  # imports the Azure SDK: only when asked for

    return AksBackend(config if config is not None else settings)


@contextlib.contextmanager
def run_lock(path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive flock() on `path` (creating it and its directory), bounded by `timeout_s`.

    While we waited, the holder may have removed the file and its directory (the last user of a
    run): our lock is then on a file nobody else will open, so start over on a fresh one.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        fd = _open_lock_file(path)
        try:
            if fd is not None and _flock_before(fd, deadline) and _same_file(fd, path):
                yield
                return
        finally:
            if fd is not None:
                os.close(fd)  # closing releases the flock
        if time.monotonic() > deadline:
            raise TimeoutError(f"could not lock {path} within {timeout_s:g}s (another test process holds it)")


def _open_lock_file(path: Path) -> int | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:  # the last user removed the directory between mkdir and open
        return None


def _flock_before(fd: int, deadline: float) -> bool:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(LOCK_RETRY_INTERVAL_S)


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def run_owner_pid() -> int:
    """The process whose end ends the whole run: the one that outlives every user of its cluster.

    Without pytest-xdist that is this process. Under xdist this is a worker, and the cluster is not
    its alone: SharedCluster hands it to whichever worker leaves last, and the worker that provisioned
    it may finish (and exit) while others still run tests on it. Every worker is a child of the xdist
    controller (execnet's popen gateway starts each one with subprocess.Popen; xdist's remote.py sets
    PYTEST_XDIST_WORKER in the worker alone), and the controller exits only after every worker has:
    the parent of a worker is the pid to watch. (PYTEST_XDIST_TESTRUNUID names the run, not a
    process, so it cannot serve.)"""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return os.getppid()
    return os.getpid()


def sweep_stale_runs(parent: Path, keep: Path) -> list[Path]:
    """Remove the run directories (and emulated-cluster files) of runs whose owner process is gone.

    A directory is left alone when its state names no owner (written by an older gpuconf, or a run
    killed while provisioning), when the owner is alive, when the owner's pid means nothing here (a
    run in another pid namespace sharing this temp directory, or before a reboot), or when its lock
    is held right now."""
    removed = []
    here = process_namespace()
    for run_dir in sorted(parent.glob(RUN_DIR_PREFIX + "*")):
        state_path = run_dir / "cluster.json"
        if run_dir == keep or not state_path.is_file() or here is None:
            continue
        try:
            with _existing_lock(run_dir / "cluster.lock"):
                state = json.loads(state_path.read_text())
                owner = state.get("run_pid")
                if not isinstance(owner, int) or state.get("run_namespace") != here or alive(owner):
                    continue
                if not state.get("keep_cluster"):  # a kept cluster outlives its run: its files stay
                    _remove_emulated_workdir(parent, state.get("spec", {}).get("workdir", ""))
                remove_run_dir(run_dir)
                removed.append(run_dir)
        except (BlockingIOError, OSError, ValueError, AttributeError):
            continue  # in use, gone meanwhile, half written, or not ours to judge: leave it
    return removed


@contextlib.contextmanager
def _existing_lock(path: Path) -> Iterator[None]:
    """Lock a run's lock file without waiting and without creating it (or its directory) again:
    a run that removed itself since the glob must stay removed. Raises OSError if it cannot."""
    fd = os.open(path, os.O_RDWR)  # FileNotFoundError: that run has just ended
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: in use right now
        if not _same_file(fd, path):
            raise FileNotFoundError(path)
        yield
    finally:
        os.close(fd)


def process_namespace() -> str | None:
    """Where a pid means this process's pid: the boot and the pid namespace (Linux), else None."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return None


def _remove_emulated_workdir(parent: Path, workdir: str) -> None:
    """Only a directory the emulated backend made in `parent`: a path read from a file is not trusted."""
    path = Path(workdir)
    if workdir and path.parent == parent and path.name.startswith(EMULATED_WORKDIR_PREFIX):
        shutil.rmtree(path, ignore_errors=True)


def remove_run_dir(run_dir: Path) -> None:
    """With its lock held: remove the state, the lock file and the directory. A newcomer that
    already created its own lock file there keeps the directory (and removes it when it leaves)."""
    state_path = run_dir / "cluster.json"
    for path in (state_path, state_path.with_suffix(".tmp"), run_dir / "cluster.lock"):
        path.unlink(missing_ok=True)
    try:
        run_dir.rmdir()
    except OSError as err:
        if err.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
            raise


@dataclass
class SharedCluster:
    """One cluster per test run, however many xdist workers take part."""

    run_id: str  # the same in every worker of one run (PYTEST_XDIST_TESTRUNUID), unique per run
    settings: SuiteSettings
    config: Any = None

    def __post_init__(self) -> None:
        # Created when the lock is first taken, removed by the last user: nothing is left in /tmp.
        self.run_dir = Path(tempfile.gettempdir()) / f"{RUN_DIR_PREFIX}{self.run_id}"
        self.state_path = self.run_dir / "cluster.json"
        self.lock_path = self.run_dir / "cluster.lock"
        self.backend: Backend | None = None

    def acquire(self) -> ClusterHandle:
        with run_lock(self.lock_path):
            state = self._read()
            if state and state.get("handle"):
                state["users"] += 1
                self._write(state)
                return _handle_from_dict(state["handle"])
            sweep_stale_runs(self.run_dir.parent, keep=self.run_dir)  # the first participant only
            try:
                self.backend = make_backend(self.settings, self.config)
                handle = self.backend.provision()
            except BaseException:
                # Unavailable, doc drift, Ctrl-C: there is no cluster and no user (the backend
                # cleaned up its own part); a later participant starts afresh.
                self._remove_run_dir()
                raise
            spec = self.backend.teardown_spec() if hasattr(self.backend, "teardown_spec") else {}
            self._write(
                {
                    "users": 1,
                    "handle": _handle_to_dict(handle),
                    "owner_pid": os.getpid(),
                    "run_pid": run_owner_pid(),
                    "run_namespace": process_namespace(),
                    "keep_cluster": self.settings.keep_cluster,
                    "spec": spec,
                }
            )
            return handle

    def release(self) -> None:
        """Leave; the last participant tears the cluster down (with --keep-cluster it only releases
        what its own process holds: files, clients) and removes the run directory."""
        with run_lock(self.lock_path):
            state = self._read()
            if state:
                state["users"] -= 1
                if state["users"] > 0:
                    self._write(state)
                    return
            try:
                if state:
                    self._finish(state)
            finally:
                self._remove_run_dir()

    def _finish(self, state: dict[str, Any]) -> None:
        if self.settings.keep_cluster:
            if self.backend is not None:
                self.backend.close()
            return
        if self.backend is not None:
            self.backend.teardown()
        elif self.settings.cluster == "emulated":
            from gpuconf.backends.emulated import teardown_from_spec

            teardown_from_spec(state.get("spec", {}))

    def _remove_run_dir(self) -> None:
        remove_run_dir(self.run_dir)

    def _read(self) -> dict[str, Any] | None:
        if not self.state_path.exists():
            return None
        return json.loads(self.state_path.read_text())

    def _write(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_path)


def _handle_to_dict(handle: ClusterHandle) -> dict[str, Any]:
    return {
        "backend": handle.backend,
        "kubeconfig": str(handle.kubeconfig),
        "capabilities": sorted(handle.capabilities),
        "properties": handle.properties,
        "vm_sizes": handle.vm_sizes,
    }


def _handle_from_dict(data: dict[str, Any]) -> ClusterHandle:
    return ClusterHandle(
        backend=data["backend"],
        kubeconfig=Path(data["kubeconfig"]),
        capabilities=frozenset(data["capabilities"]),
        properties=data["properties"],
        vm_sizes=data["vm_sizes"],
    )
