"""Containers as local processes: one process group each, output to a log file, exit code kept.

Every process runs in its own session (process group), so stopping a container ends everything it
spawned. All live groups are also recorded in a module-wide registry whose atexit hook kills them,
so a crashed test or an interpreter exit never leaves containers behind.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import os
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_live_groups: set[int] = set()


def _kill_all_groups() -> None:
    for pgid in list(_live_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    _live_groups.clear()


atexit.register(_kill_all_groups)


def live_process_groups() -> set[int]:
    """Process groups started by this module and not yet reaped (tests check this is empty)."""
    return set(_live_groups)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Exited:
    exit_code: int
    started_at: str
    finished_at: str
    signal: int | None = None


@dataclass
class RunningContainer:
    """A started container: a subprocess or an in-process asyncio task."""

    log_path: Path
    started_at: str
    _process: asyncio.subprocess.Process | None = None
    _task: asyncio.Task[int] | None = None
    _stop: asyncio.Event | None = None
    _result: Exited | None = field(default=None)
    # What the runtime keeps with the container and shows on inspection (CRI annotations).
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def wait(self) -> Exited:
        if self._result is not None:
            return self._result
        if self._process is not None:
            code = await self._process.wait()
            _live_groups.discard(self._process.pid)
            sig = -code if code < 0 else None
            # A process killed by a signal shows as 128+N, like a container runtime reports it.
            self._result = Exited(128 + sig if sig else code, self.started_at, _now(), sig)
        else:
            assert self._task is not None
            try:
                code = await self._task
            except asyncio.CancelledError:
                code = 137
            except Exception as err:  # the in-process program crashed: that is exit code 1
                with self.log_path.open("a") as log:
                    log.write(f"fatal: {err!r}\n")
                code = 1
            self._result = Exited(code, self.started_at, _now())
        return self._result

    async def stop(self, grace_s: float) -> Exited:
        """SIGTERM the group, SIGKILL after `grace_s` (the pod's terminationGracePeriodSeconds)."""
        if self._result is not None:
            return self._result
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                return await asyncio.wait_for(asyncio.shield(self.wait()), timeout=grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                return await self.wait()
        assert self._task is not None and self._stop is not None
        self._stop.set()
        try:
            return await asyncio.wait_for(asyncio.shield(self.wait()), timeout=grace_s)
        except TimeoutError:
            self._task.cancel()
            return await self.wait()


async def start_process(argv: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> RunningContainer:
    """Start argv in a new session with stdout+stderr appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    # Keep PATH and the interpreter's environment: the program imports the installed gpuconf (its
    # api.proto is found next to gpuconf/deviceplugin/api.py in any working directory).
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env=full_env,
            cwd=str(cwd),
            # No preexec_fn (e.g. for PR_SET_PDEATHSIG): running Python in the forked child runs
            # gRPC's at-fork hooks there, which segfaulted ~1 start in 3 with plugin threads alive.
            start_new_session=True,
        )
    _live_groups.add(process.pid)
    return RunningContainer(log_path=log_path, started_at=_now(), _process=process)


def start_inprocess(
    program: Callable[[asyncio.Event, Path], Coroutine[Any, Any, int]], log_path: Path, name: str
) -> RunningContainer:
    """Run an async program as a container (the 1,000-node profile's device plugins)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.touch()
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(program(stop, log_path), name=name)
    return RunningContainer(log_path=log_path, started_at=_now(), _task=task, _stop=stop)
