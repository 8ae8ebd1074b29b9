"""`python -m gpuconf.emulator serve --kubeconfig PATH [--port N]`.

Writes the kubeconfig (mode 0600), prints a line containing `ready` once the server answers, and
runs until SIGINT/SIGTERM. `build_parser()` and `serve(args, configure=...)` are separate so the
emulated cluster can add flags (--nodes, --vm-size) and register controllers/kubelets as startup
hooks on the same event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from gpuconf.emulator.cluster import add_cluster_arguments, configure_server
from gpuconf.emulator.faults import catalogue_lines
from gpuconf.emulator.server import ApiServer

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
    (extend_serve or add_cluster_arguments)(serve_cmd)
    commands.add_parser("faults", help="list the fault catalogue: NAME<TAB>SECTION<TAB>description")
    return parser


async def serve(args: argparse.Namespace, configure: Configure | None = None) -> None:
    server = ApiServer(port=args.port)
    if configure is not None:
        configure(server, args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    try:
        path = server.write_kubeconfig(args.kubeconfig)
        print(f"gpuconf emulated API server ready at {server.url} (kubeconfig: {path})", flush=True)
        await stop.wait()
    finally:
        await server.stop()
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
