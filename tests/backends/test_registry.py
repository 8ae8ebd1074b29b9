"""SharedCluster: one cluster for every participant of a run (xdist workers), the last one tears it
down, and nothing of the run is left in the temp directory afterwards.

Participants are simulated in one process: each is its own SharedCluster with the run's id, as each
xdist worker builds its own. The backend is a recording fake with the emulated backend's hand-over
(a teardown spec the last participant uses when it did not provision the cluster itself).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from gpuconf.backends import registry
from gpuconf.backends.base import Backend, BackendUnavailable, ClusterHandle
from gpuconf.backends.registry import SharedCluster
from gpuconf.settings import SuiteSettings

THREAD_TIMEOUT_S = 30.0  # each simulated participant's step; they take milliseconds


class RecordingBackend(Backend):
    name = "recording"
    made: list[RecordingBackend] = []

    def __init__(self, workdir: Path, unavailable: bool = False) -> None:
        super().__init__(None)
        self.workdir = workdir  # stands for the cluster: the hand-over's teardown removes it
        self.unavailable = unavailable
        self.calls: list[str] = []
        RecordingBackend.made.append(self)

    def provision(self) -> ClusterHandle:
        self.calls.append("provision")
        if self.unavailable:
            raise BackendUnavailable("no such infrastructure here")
        self.workdir.mkdir(exist_ok=True)
        return ClusterHandle("emulated", self.workdir / "kubeconfig", frozenset({"emulated"}))

    def teardown(self) -> None:
        self.calls.append("teardown")

    def close(self) -> None:
        self.calls.append("close")

    def teardown_spec(self) -> dict[str, str]:
        return {"pid": "", "workdir": str(self.workdir)}


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(make a participant, the run directory, the cluster's stand-in directory)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the run directory's parent
    (tmp_path / "tmp").mkdir()
    RecordingBackend.made = []
    cluster_dir = tmp_path / "cluster"
    options = {"unavailable": False}
    monkeypatch.setattr(
        registry, "make_backend", lambda settings, config=None: RecordingBackend(cluster_dir, **options)
    )
    run_id = uuid.uuid4().hex

    def participant(keep_cluster: bool = False) -> SharedCluster:
        return SharedCluster(run_id, SuiteSettings(cluster="emulated", keep_cluster=keep_cluster))

    participant.options = options  # type: ignore[attr-defined]
    return participant, tmp_path / "tmp" / f"gpuconf-run-{run_id}", cluster_dir


def test_the_owner_leaving_first_hands_the_teardown_to_the_last_and_the_run_dir_goes(run) -> None:
    participant, run_dir, cluster_dir = run
    owner, other = participant(), participant()
    assert not run_dir.exists()  # nothing on disk until someone takes the lock
    first, second = owner.acquire(), other.acquire()
    assert first == second and [b.calls for b in RecordingBackend.made] == [["provision"]]
    assert sorted(p.name for p in run_dir.iterdir()) == ["cluster.json", "cluster.lock"]

    owner.release()  # another participant still uses the cluster: it stays, and so does the state
    assert cluster_dir.exists() and owner.backend is not None and owner.backend.calls == ["provision"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["cluster.json", "cluster.lock"]

    other.release()  # the last one tears down through the owner's spec, then removes the run dir
    assert not cluster_dir.exists()
    assert owner.backend.calls == ["provision"]
    assert not run_dir.exists()


def test_the_owner_leaving_last_tears_down_itself_and_the_run_dir_goes(run) -> None:
    participant, run_dir, cluster_dir = run
    owner, other = participant(), participant()
    owner.acquire()
    other.acquire()
    other.release()
    assert run_dir.exists() and owner.backend is not None and owner.backend.calls == ["provision"]
    owner.release()
    assert owner.backend.calls == ["provision", "teardown"]
    assert not run_dir.exists()


def test_keep_cluster_only_closes_and_still_removes_the_run_dir(run) -> None:
    participant, run_dir, cluster_dir = run
    owner = participant(keep_cluster=True)
    owner.acquire()
    owner.release()
    assert owner.backend is not None and owner.backend.calls == ["provision", "close"]
    assert cluster_dir.exists()  # kept: nothing was torn down
    assert not run_dir.exists()


def test_an_unavailable_backend_leaves_no_run_dir_and_a_later_participant_starts_afresh(run) -> None:
    participant, run_dir, cluster_dir = run
    participant.options["unavailable"] = True
    with pytest.raises(BackendUnavailable, match="no such infrastructure"):
        participant().acquire()
    assert not run_dir.exists()
    participant.options["unavailable"] = False
    late = participant()
    late.acquire()
    assert [b.calls for b in RecordingBackend.made] == [["provision"], ["provision"]]
    late.release()
    assert not run_dir.exists()


def test_a_participant_waiting_on_the_lock_while_the_last_one_removes_the_run_dir_starts_afresh(
    run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The waiter already holds the old lock file open when it is unlinked: it must notice that it
    locked a file nobody else will ever open, and lock a fresh one instead of racing a newcomer."""
    participant, run_dir, cluster_dir = run
    leaving, waiter = participant(), participant()
    leaving.acquire()
    waiting = threading.Event()
    waiter_locks: list[int] = []  # the inode of each lock file the waiter tried to lock
    real_flock = registry._flock_before

    def flock_noting_the_wait(fd: int, deadline: float) -> bool:
        if threading.current_thread().name == "waiter":
            waiter_locks.append(os.fstat(fd).st_ino)
            waiting.set()
        return real_flock(fd, deadline)

    monkeypatch.setattr(registry, "_flock_before", flock_noting_the_wait)
    handles: list[ClusterHandle] = []
    with registry.run_lock(leaving.lock_path):
        old_lock = leaving.lock_path.stat().st_ino
        thread = threading.Thread(target=lambda: handles.append(waiter.acquire()), name="waiter")
        thread.start()
        assert waiting.wait(THREAD_TIMEOUT_S), "the waiter never reached the lock"
        # Still under the lock, the last participant finishes the run, as release() does.
        leaving._finish(leaving._read() or {})
        leaving._remove_run_dir()
        assert not run_dir.exists()
    thread.join(THREAD_TIMEOUT_S)
    assert not thread.is_alive() and len(handles) == 1
    # The waiter got the old file's lock, saw it had been removed, and locked a fresh one (the
    # kernel may give it the old inode number back, so count, not compare) ...
    assert len(waiter_locks) == 2 and waiter_locks[0] == old_lock
    # ... where it found no cluster (the run had ended) and provisioned a new one.
    assert [b.calls for b in RecordingBackend.made] == [["provision", "teardown"], ["provision"]]
    waiter.release()
    assert not run_dir.exists()


def test_the_lock_wait_is_bounded_and_names_the_lock(run) -> None:
    participant, run_dir, cluster_dir = run
    holder = participant()
    errors: list[BaseException] = []
    with registry.run_lock(holder.lock_path):

        def try_lock() -> None:
            try:
                with registry.run_lock(holder.lock_path, timeout_s=0.2):
                    pass
            except TimeoutError as error:
                errors.append(error)

        thread = threading.Thread(target=try_lock)
        thread.start()
        thread.join(THREAD_TIMEOUT_S)
    assert [str(e) for e in errors] == [
        f"could not lock {holder.lock_path} within 0.2s (another test process holds it)"
    ]


def _stale_run(parent: Path, name: str, state: dict) -> Path:
    run_dir = parent / f"gpuconf-run-{name}"
    run_dir.mkdir()
    (run_dir / "cluster.json").write_text(json.dumps(state))
    (run_dir / "cluster.lock").write_text("")
    return run_dir


def _dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait(timeout=THREAD_TIMEOUT_S)
    return finished.pid


def test_the_next_run_sweeps_what_a_killed_run_left_and_nothing_else(run, tmp_path: Path) -> None:
    """A SIGKILLed run cannot remove its run directory or the emulated cluster's files; the next
    run that provisions removes them once the killed run's owner process is gone."""
    participant, run_dir, cluster_dir = run
    parent, dead = run_dir.parent, _dead_pid()
    workdir = parent / "gpuconf-emulated-killed"
    workdir.mkdir()
    (workdir / "emulator.log").write_text("gpuconf emulated API server: process 1 ended, stopping\n")
    outside = tmp_path / "elsewhere" / "gpuconf-emulated-x"  # named by a file: never trusted
    outside.mkdir(parents=True)
    here = registry.process_namespace()
    assert here is not None  # Linux: /proc gives the boot id and the pid namespace
    ended = {"users": 1, "run_pid": dead, "run_namespace": here}
    killed = _stale_run(parent, "killed", {**ended, "spec": {"workdir": str(workdir)}})
    forged = _stale_run(parent, "forged", {**ended, "spec": {"workdir": str(outside)}})
    running = _stale_run(parent, "running", {**ended, "run_pid": os.getpid(), "spec": {}})
    older = _stale_run(parent, "older", {"users": 1, "owner_pid": dead})  # no run_pid: not judged
    in_use = _stale_run(parent, "in-use", {**ended, "spec": {}})
    # The same pid in another container sharing this /tmp (or before a reboot) says nothing here.
    elsewhere = _stale_run(parent, "elsewhere", {**ended, "run_namespace": "other-boot/4026531836"})
    kept_workdir = parent / "gpuconf-emulated-kept"  # --keep-cluster: its emulator still serves
    kept_workdir.mkdir()
    kept = _stale_run(parent, "kept", {**ended, "keep_cluster": True, "spec": {"workdir": str(kept_workdir)}})
    held = os.open(in_use / "cluster.lock", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # a process is inside that run's lock right now
    try:
        participant().acquire()
    finally:
        os.close(held)
    assert not killed.exists() and not workdir.exists() and not forged.exists()
    assert outside.exists()
    assert running.exists() and older.exists() and in_use.exists() and elsewhere.exists()
    assert not kept.exists() and kept_workdir.exists()
    state = json.loads((run_dir / "cluster.json").read_text())
    assert (state["run_pid"], state["run_namespace"]) == (os.getpid(), here)  # what the next run judges


def test_the_run_owner_under_xdist_is_the_controller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert registry.run_owner_pid() == os.getpid()
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert registry.run_owner_pid() == os.getppid()


def test_the_sweep_does_not_bring_back_a_run_directory_that_went_meanwhile(tmp_path: Path) -> None:
    """Between the sweep's listing and its lock, the run may end and remove its directory."""
    gone = tmp_path / "gpuconf-run-gone"
    with pytest.raises(FileNotFoundError):
        with registry._existing_lock(gone / "cluster.lock"):
            pass
    assert not gone.exists()
