"""Run an ApiServer on a background thread's event loop, so synchronous code (the official Python
client, kubectl subprocesses, pytest tests) can talk to it.

    with running_server() as handle:
        subprocess.run(["kubectl", "--kubeconfig", handle.kubeconfig, "get", "ns"])
        handle.call(handle.server.store.create, "namespaces", {...})  # runs on the server's loop
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gpuconf.emulator.server import ApiServer

T = TypeVar("T")

# Starting binds a loopback socket and builds discovery: well under a second; stopping lets
# in-flight requests finish (server.SHUTDOWN_GRACE_SECONDS) before the loop ends.
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 15.0
CALL_TIMEOUT_SECONDS = 10.0


@dataclass
class ServerHandle:
    server: ApiServer
    loop: asyncio.AbstractEventLoop
    kubeconfig: Path

    @property
    def url(self) -> str:
        return self.server.url

    def call(
        self, fn: Callable[..., T], *args: Any, timeout: float = CALL_TIMEOUT_SECONDS, **kwargs: Any
    ) -> T:
        """Run a synchronous function on the server's loop (the store is not thread-safe)."""

        async def invoke() -> T:
            return fn(*args, **kwargs)

        return self.run(invoke(), timeout=timeout)

    def run(self, coroutine: Any, *, timeout: float = CALL_TIMEOUT_SECONDS) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


@contextlib.contextmanager
def running_server(
    *,
    kubeconfig: Path | None = None,
    configure: Callable[[ApiServer], None] | None = None,
    **server_options: Any,
) -> Iterator[ServerHandle]:
    """Start an ApiServer (port 0 unless given) on a daemon thread; stop it on exit.

    `configure(server)` runs before start (add hooks, a log provider, request faults).
    """
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[ApiServer] = concurrent.futures.Future()

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> ApiServer:
            server = ApiServer(**server_options)  # created on its loop: its asyncio primitives bind there
            if configure is not None:
                configure(server)
            await server.start()
            return server

        try:
            started.set_result(loop.run_until_complete(boot()))
        except BaseException as error:  # surface start failures in the caller's thread
            started.set_exception(error)
            loop.close()
            return
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=serve, name="gpuconf-apiserver", daemon=True)
    thread.start()
    server = started.result(START_TIMEOUT_SECONDS)
    with tempfile.TemporaryDirectory(prefix="gpuconf-api-") as scratch:
        path = server.write_kubeconfig(kubeconfig or Path(scratch) / "kubeconfig")
        handle = ServerHandle(server=server, loop=loop, kubeconfig=path)
        try:
            yield handle
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(STOP_TIMEOUT_SECONDS)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(STOP_TIMEOUT_SECONDS)
