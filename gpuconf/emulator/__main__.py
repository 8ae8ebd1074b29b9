"""`python -m gpuconf.emulator serve --kubeconfig PATH [--port N]`.

Writes the kubeconfig (mode 0600), prints a line containing `ready` once the server answers, and
runs until SIGINT/SIGTERM, or, with `--exit-with-parent PID`, until that process ends: a caller
that is SIGKILLed cannot stop the server it started, so the server watches it (a pidfd, no polling)
and stops itself the same clean way, ending every container and removing every socket and its
temporary root. `build_parser()` and `serve(args, configure=...)` are separate so the emulated
cluster can add flags (--nodes, --vm-size) and register controllers/kubelets as startup hooks on
the same event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from gpuconf.emulator.cluster import add_cluster_arguments, configure_server
from gpuconf.emulator.faults import catalogue_lines
from gpuconf.emulator.server import ApiServer
from gpuconf.pids import alive

Configure = Callable[[ApiServer, argparse.Namespace], None]
ExtendServe = Callable[[argparse.ArgumentParser], None]


def build_parser(extend_serve: ExtendServe | None = None) -> argparse.ArgumentParser:
    """The CLI parser; `extend_serve(serve_parser)` adds flags to `serve` (e.g. --nodes, --vm-size)."""
    parser = argparse.ArgumentParser(prog="python -m gpuconf.emulator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the emulated Kubernetes API server")
    serve_cmd.add_argument("--kubeconfig", type=Path, required=True, help="where to write the kubeconfig")
    serve_cmd.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free port)"
    )
    serve_cmd.add_argument(
        "--exit-with-parent",
        type=_pid,
        default=None,
        metavar="PID",
        help="stop (cleanly, as on SIGTERM) when process PID ends, e.g. the test run that started it",
    )
    (extend_serve or add_cluster_arguments)(serve_cmd)
    commands.add_parser("faults", help="list the fault catalogue: NAME<TAB>SECTION<TAB>description")
    return parser


def _pid(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--exit-with-parent must be a process id (>= 1), got {text!r}")
    return int(text)


LIFELINE_POLL_S = 1.0  # only where there is no pidfd (not Linux, or a kernel before 5.3)


class Lifeline:
    """Sets `stop` when process `pid` ends: its pidfd turns readable then (Linux >= 5.3)."""

    def __init__(self, pid: int, stop: asyncio.Event) -> None:
        self.pid = pid
        self.ended = False
        self._stop = stop
        self._loop = asyncio.get_running_loop()
        self._fd = -1
        self._poller: asyncio.Task[None] | None = None
        try:
            self._fd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise ValueError(f"--exit-with-parent {pid}: no such process") from None
        except (AttributeError, OSError):  # no pidfd here: ask the kernel once a second instead
            if not alive(pid):
                raise ValueError(f"--exit-with-parent {pid}: no such process") from None
            self._poller = self._loop.create_task(self._poll())
        else:
            self._loop.add_reader(self._fd, self._on_exit)

    async def _poll(self) -> None:
        while alive(self.pid):  # ends with the process; close() cancels it
            await asyncio.sleep(LIFELINE_POLL_S)
        self._on_exit()

    def _on_exit(self) -> None:
        self.close()
        self.ended = True
        print(f"gpuconf emulated API server: process {self.pid} ended, stopping", flush=True)
        self._stop.set()

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
        if self._poller is not None and self._poller is not asyncio.current_task():
            self._poller.cancel()
        self._poller = None


async def serve(args: argparse.Namespace, configure: Configure | None = None) -> None:
    server = ApiServer(port=args.port)
    if configure is not None:
        configure(server, args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # Watched from before the start: a parent that dies while the cluster boots still stops it.
    lifeline = Lifeline(args.exit_with_parent, stop) if getattr(args, "exit_with_parent", None) else None
    await server.start()
    # What exists now (modules, the wire schema, the cluster's nodes) lives until exit: keep the
    # garbage collector off it. Full collections then skip ~47,000 objects, and so does the
    # interpreter's shutdown (SIGTERM to exit 0.08 -> 0.02 s; 0.17 -> 0.03 s while the emulator
    # still imported the client's models; bench/results/issue8.md).
    gc.freeze()
    path: Path | None = None
    try:
        path = server.write_kubeconfig(args.kubeconfig)
        print(f"gpuconf emulated API server ready at {server.url} (kubeconfig: {path})", flush=True)
        await stop.wait()
    finally:
        await server.stop()
        if lifeline is not None:
            lifeline.close()
            if lifeline.ended and path is not None:
                # Nobody is left to use it, and it names a server that is gone.
                path.unlink(missing_ok=True)
    print("gpuconf emulated API server stopped", flush=True)


def main(
    argv: list[str] | None = None,
    *,
    extend_serve: ExtendServe | None = None,
    configure: Configure | None = None,
) -> int:
    """Run the CLI. `configure(server, args)` runs before the server starts: register startup and
    shutdown hooks there (controllers, kubelets) so they share the server's event loop."""
    parser = build_parser(extend_serve)
    args = parser.parse_args(argv)
    if args.command == "faults":
        print("\n".join(catalogue_lines()))
        return 0
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")
    try:
        asyncio.run(serve(args, configure or configure_server))
    except (OSError, ValueError) as error:  # port in use, unwritable kubeconfig, --fault without nodes
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
