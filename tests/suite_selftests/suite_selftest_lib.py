"""Helpers of the suite's self-tests: they run the real `pytest` on suites/ in a child process.

A child run is a plain `.venv/bin/pytest` from the repository root (so the repository's pytest.ini and
conftest.py apply exactly as for a user), with `-p no:cacheprovider` and its own `--reports-dir=` so
concurrent runs never share files. The expensive runs (each starts an emulated cluster, ~5 s) are
started together, in a small thread pool, as soon as the first test needs one, and each test waits
for its own: the folder stays well under a minute on two cores.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.emulator_cluster.kubectl import KUBECTL

REPO = Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest"]
CHILD_TIMEOUT_S = 180  # a full offline run takes ~5 s here; a loaded CI machine gets far more room
SERVER_READY_TIMEOUT_S = 60
POOL_WORKERS = 3  # runs mostly wait on their emulator: 3 at once keeps 2 cores busy without thrashing
# Variables that would leak this run's context into a child run (xdist ids shared between children
# would make them share one SharedCluster state file; GPUCONF_*/KUBECONFIG/Azure would change options).
SCRUBBED_PREFIXES = ("PYTEST_", "GPUCONF_", "AZURE_", "KUBECONFIG")


TAG_VARIABLE = "SELFTEST_PROCESS_TAG"


def child_env(**extra: str) -> dict[str, str]:
    """This environment minus what would leak into a child run, plus a fresh process tag.

    Every process the child starts (emulator, device plugins, workloads) inherits the tag, so the
    test can find whatever survives the run: see tagged_processes().
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    env[TAG_VARIABLE] = uuid.uuid4().hex
    env.update(extra)
    return env


def tagged_processes(tag: str, settle_s: float = 5.0) -> list[str]:
    """Live processes whose environment carries `tag` ("pid cmdline"), after up to settle_s to exit."""
    needle = f"{TAG_VARIABLE}={tag}".encode()
    deadline = time.monotonic() + settle_s
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle not in (entry / "environ").read_bytes().split(b"\0"):
                    continue
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if state != "Z":
                found.append(f"{entry.name} {cmdline.strip()}")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@dataclass
class SuiteRun:
    """One finished child `pytest` run and its reports directory."""

    args: list[str]
    ret: int
    stdout: str
    stderr: str
    reports: Path
    duration_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"pytest {' '.join(self.args)} -> exit {self.ret}\n"
            f"--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )

    def summary(self) -> dict[str, Any]:
        return json.loads((self.reports / "summary.json").read_text())

    def steps(self) -> dict[str, dict[str, Any]]:
        """summary.json's rows by test function name."""
        return {row["test_id"].split("::")[-1]: row for row in self.summary()["steps"]}

    def junit_cases(self) -> dict[str, tuple[ET.Element, dict[str, list[str]]]]:
        """junit.xml test cases by name, each with its properties (name -> values)."""
        cases = {}
        for case in ET.parse(self.reports / "junit.xml").iter("testcase"):
            props: dict[str, list[str]] = {}
            for prop in case.iter("property"):
                props.setdefault(prop.get("name", ""), []).append(prop.get("value", ""))
            cases[case.get("name", "")] = (case, props)
        return cases


def run_suite(*args: str, reports: Path, env: dict[str, str] | None = None, watch: bool = False) -> SuiteRun:
    """`pytest -p no:cacheprovider --reports-dir=<reports> ARGS` from the repository root.

    With watch=True the run's processes are watched while they run (RunWatcher): extra["traces"]
    then says which temp directories and sockets they used and holds the emulator's log."""
    argv = ["-p", "no:cacheprovider", f"--reports-dir={reports}", *args]
    env = env or child_env()
    started = time.monotonic()
    proc = subprocess.Popen(
        [*PYTEST, *argv],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watcher = RunWatcher(env[TAG_VARIABLE], proc.pid, env.get("TMPDIR")) if watch else None
    try:
        stdout, stderr = proc.communicate(timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:  # what subprocess.run(timeout=) does: kill, reap, re-raise
        proc.kill()
        proc.communicate()
        raise
    finally:
        traces = watcher.finish() if watcher else None
    run = SuiteRun(argv, proc.returncode, stdout, stderr, reports, time.monotonic() - started)
    run.extra["left_behind"] = tagged_processes(env[TAG_VARIABLE])
    if traces is not None:
        run.extra["traces"] = traces
    return run


# What a run's processes touched: temp directories, sockets, the emulator's log ---------------------
SYSTEM_TMP = Path("/tmp")  # the emulated cluster's root is always here (short unix-socket paths)
EMULATOR_WORKDIR_PREFIX = "gpuconf-emulated-"  # gpuconf.backends.emulated: mkdtemp in $TMPDIR
CLUSTER_ROOT_PREFIX = "gc"  # gpuconf.emulator.cluster: mkdtemp(prefix="gc", dir="/tmp")
WATCH_EVERY_S = 0.2


def private_tmpdir(workdir: Path) -> Path:
    """A TMPDIR of a run's own: whatever it leaves in its temp directory is then its own."""
    path = workdir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def unix_socket_paths() -> dict[int, str]:
    """Bound unix sockets of this machine: inode -> path (from /proc/net/unix)."""
    paths: dict[int, str] = {}
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return paths
    for line in lines:
        fields = line.split()
        if len(fields) >= 8 and fields[6].isdigit():
            paths[int(fields[6])] = fields[7].lstrip("@")
    return paths


@dataclass
class RunTraces:
    """What a child run's processes (all but the child pytest itself) used while they ran."""

    dirs: set[Path]  # their temp directories: the emulator's workdir and the cluster's root
    sockets: set[str]  # the unix sockets they had bound
    emulator_log: str  # the emulator's whole log (kept open, so its deletion at teardown loses nothing)
    tmpdir: Path | None  # the run's private TMPDIR, if it had one

    def workdirs(self) -> list[Path]:
        return sorted(d for d in self.dirs if d.name.startswith(EMULATOR_WORKDIR_PREFIX))

    def cluster_roots(self) -> list[Path]:
        return sorted(
            d for d in self.dirs if d.parent == SYSTEM_TMP and d.name.startswith(CLUSTER_ROOT_PREFIX)
        )

    def dirs_left(self) -> list[str]:
        return sorted(str(d) for d in self.dirs if d.exists())

    def sockets_left(self) -> list[str]:
        """Sockets under the run's directories that are still bound or still on disk."""
        bound = set(unix_socket_paths().values())
        roots = [str(d) + "/" for d in self.dirs]
        candidates = self.sockets | {p for p in bound if any(p.startswith(r) for r in roots)}
        return sorted(p for p in candidates if p in bound or os.path.lexists(p))

    def tmpdir_left(self) -> list[str]:
        return sorted(p.name for p in self.tmpdir.iterdir()) if self.tmpdir else []


class RunWatcher:
    """Samples a run's tagged processes every WATCH_EVERY_S while it runs: command lines, open files,
    working directories and bound sockets, reduced to the temp directories they live in.

    The run removes these directories when it ends (that is what the test checks), so they must be
    seen while it runs; the emulator's log is opened as soon as it is seen and read at the end."""

    def __init__(self, tag: str, pytest_pid: int, tmpdir: str | None) -> None:
        self.needle = f"{TAG_VARIABLE}={tag}".encode()
        self.pytest_pid = pytest_pid
        self.tmpdir = Path(tmpdir) if tmpdir else None
        self.bases = [b for b in (self.tmpdir, SYSTEM_TMP) if b is not None]
        # Not the run's: the checkout and the virtualenv (CI may clone below /tmp), the self-test's
        # own work directory around the private TMPDIR (reports live there).
        self.ignored = [REPO, Path(sys.prefix).resolve(), *([self.tmpdir.parent] if self.tmpdir else [])]
        self.dirs: set[Path] = set()
        self.sockets: set[str] = set()
        self.inodes: set[int] = set()
        self.untagged: set[int] = set()
        self.log: Any = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="run-watcher", daemon=True)
        self.thread.start()

    def _temp_dir(self, path: str) -> Path | None:
        """The directory right below a temp base that holds `path` (None: not a temp path)."""
        inside = Path(path)
        if self.tmpdir is None or self.tmpdir not in inside.parents:
            if any(inside == d or d in inside.parents for d in self.ignored):
                return None
        for base in self.bases:  # the private TMPDIR first: it lies below /tmp itself
            try:
                rest = Path(path).relative_to(base)
            except ValueError:
                continue
            return base / rest.parts[0] if rest.parts else None
        return None

    def _note(self, path: str) -> None:
        found = self._temp_dir(path)
        if found is not None and found != self.tmpdir:
            self.dirs.add(found)

    def _sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if pid in self.untagged or pid == self.pytest_pid or pid == os.getpid():
                continue
            try:
                if self.needle not in (entry / "environ").read_bytes().split(b"\0"):
                    self.untagged.add(pid)  # a process's environment is fixed once it runs
                    continue
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
                if argv[1:3] == ["-m", "pytest"]:
                    # The child pytest forking a process (the emulator), caught before its exec: it
                    # still shows pytest's own files (reports, the cluster lock). Look again later.
                    continue
                links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
                links.append(os.readlink(entry / "cwd"))
            except OSError:
                continue  # it ended meanwhile
            for arg in argv:
                if arg.startswith("/"):
                    self._note(arg)
            if "--kubeconfig" in argv and "gpuconf.emulator" in argv and self.log is None:
                log = Path(argv[argv.index("--kubeconfig") + 1]).parent / "emulator.log"
                try:
                    self.log = log.open(errors="replace")
                except OSError:
                    pass
            for link in links:
                if link.startswith("socket:["):
                    self.inodes.add(int(link[len("socket:[") : -1]))
                elif link.startswith("/"):
                    self._note(link)
        if self.inodes:
            for inode, path in unix_socket_paths().items():
                if inode in self.inodes and path.startswith("/"):
                    self.sockets.add(path)
                    self._note(path)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self._sample()
            self.stopping.wait(WATCH_EVERY_S)

    def finish(self) -> RunTraces:
        self.stopping.set()
        self.thread.join(timeout=10)
        text = ""
        if self.log is not None:
            self.log.seek(0)
            text = self.log.read()
            self.log.close()
        return RunTraces(set(self.dirs), set(self.sockets), text, self.tmpdir)


# Reading a run's summary by article section (never by test function name) ----------------------
def bundle_dir(run: SuiteRun, row: dict[str, Any]) -> Path:
    """reports/<test-id>/ of a summary row: the test id made safe as fixtures.reporting names it."""
    return run.reports / re.sub(r"[^A-Za-z0-9._-]+", "_", row["test_id"]).strip("_")[:150]


def failure_line(row: dict[str, Any]) -> str:
    """The one line a failing row shows (summary.md, terminal): its first evidence entry."""
    return row["evidence"][0] if row.get("evidence") else ""


def write_kubeconfig(path: Path, server: str) -> Path:
    """A well-formed kubeconfig for `server` (token auth, no TLS)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "selftest-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released; nothing else here picks it)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# A cluster of our own: `python -m gpuconf.emulator serve`, broken by hand before the suite runs ---
class OwnServer:
    """An emulated cluster started by the self-test (not by the suite), in its own process group."""

    def __init__(self, workdir: Path, *serve_args: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.kubeconfig = workdir / "kubeconfig"
        self.log_path = workdir / "serve.log"
        self._log = self.log_path.open("w")
        env = child_env()
        self.tag = env[TAG_VARIABLE]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gpuconf.emulator",
                "serve",
                "--kubeconfig",
                str(self.kubeconfig),
                *serve_args,
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its device-plugin and workload processes share its group
        )
        deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
        while "ready at" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log_path.read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"emulator did not start:\n{log}")
            time.sleep(0.05)

    def kubectl(self, *args: str) -> str:
        done = subprocess.run(
            [
                str(KUBECTL),
                "--kubeconfig",
                str(self.kubeconfig),
                "--cache-dir",
                str(self.workdir / "kcache"),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def running_children(self) -> list[str]:
        return [p for p in tagged_processes(self.tag, settle_s=0) if not p.startswith(f"{self.proc.pid} ")]

    def stop(self) -> list[str]:
        """SIGTERM the server only (it must stop its own containers); return what is left running.

        Whatever is left is then killed (by its tag), so a failing assertion leaves nothing behind.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        left = tagged_processes(self.tag)
        for line in left:
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        self._log.close()
        return left


# The pool of expensive runs -------------------------------------------------------------------
RunFactory = Callable[[Path], SuiteRun]
RUNS: dict[str, RunFactory] = {}


def suite_run(name: str) -> Callable[[RunFactory], RunFactory]:
    """Register an expensive child run, started in the background with all others the session needs."""

    def register(factory: RunFactory) -> RunFactory:
        RUNS[name] = factory
        return factory

    return register


def _module_of(name: str) -> str:
    return RUNS[name].__module__


class RunPool:
    def __init__(self, base: Path, wanted: list[str]) -> None:
        self.base = base
        self.executor = ThreadPoolExecutor(max_workers=POOL_WORKERS, thread_name_prefix="suite-run")
        self.futures: dict[str, Future[SuiteRun]] = {}
        for name in wanted:
            self._submit(name)

    def _submit(self, name: str) -> Future[SuiteRun]:
        if name not in self.futures:
            workdir = self.base / re.sub(r"[^A-Za-z0-9_-]", "_", name)
            workdir.mkdir(parents=True, exist_ok=True)
            self.futures[name] = self.executor.submit(RUNS[name], workdir)
        return self.futures[name]

    def get(self, name: str) -> SuiteRun:
        if name not in self.futures:  # not started up front (xdist worker): start its module's runs
            for other in RUNS:
                if _module_of(other) == _module_of(name):
                    self._submit(other)
        return self._submit(name).result(timeout=CHILD_TIMEOUT_S * 2)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def suite_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunPool]:
    # Start every run that a collected test declares (module attribute SUITE_RUNS) at once. An xdist
    # worker collects every test but runs only some: there, runs start by module, when first needed.
    wanted: list[str] = []
    worker = hasattr(request.config, "workerinput")
    for item in [] if worker else request.session.items:
        for name in getattr(getattr(item, "module", None), "SUITE_RUNS", ()):
            if name not in wanted:
                wanted.append(name)
    pool = RunPool(tmp_path_factory.mktemp("suite-runs"), wanted)
    yield pool
    pool.close()


__all__ = [
    "REPO",
    "OwnServer",
    "RunTraces",
    "SuiteRun",
    "bundle_dir",
    "child_env",
    "closed_port",
    "failure_line",
    "private_tmpdir",
    "tagged_processes",
    "run_suite",
    "suite_runs",
    "suite_run",
    "write_kubeconfig",
]
