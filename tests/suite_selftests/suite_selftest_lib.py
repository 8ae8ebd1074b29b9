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

REPO = Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest"]
KUBECTL = Path(sys.executable).parent / "kubectl"
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


def run_suite(*args: str, reports: Path, env: dict[str, str] | None = None) -> SuiteRun:
    """`pytest -p no:cacheprovider --reports-dir=<reports> ARGS` from the repository root."""
    argv = ["-p", "no:cacheprovider", f"--reports-dir={reports}", *args]
    env = env or child_env()
    started = time.monotonic()
    done = subprocess.run(
        [*PYTEST, *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    run = SuiteRun(argv, done.returncode, done.stdout, done.stderr, reports, time.monotonic() - started)
    run.extra["left_behind"] = tagged_processes(env[TAG_VARIABLE])
    return run


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
    "SuiteRun",
    "child_env",
    "closed_port",
    "tagged_processes",
    "run_suite",
    "suite_runs",
    "suite_run",
    "write_kubeconfig",
]
