"""`python -m gpuconf.azure.fakearm --kubeconfig PATH --port N`: serve the fake ARM until Ctrl-C.

Used to rehearse the whole `--cluster aks` flow offline: point --arm-endpoint at it and the
clusters it "creates" hand out the given kubeconfig (e.g. the embedded emulated cluster's).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from gpuconf.azure.fakearm.server import FakeArm, FakeArmServer
from gpuconf.azure.fakearm.state import FakeArmBehaviour

# A rehearsal is one suite run; a forgotten server should not outlive a working day.
MAX_RUNTIME_S = 8 * 3600.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gpuconf.azure.fakearm", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--kubeconfig", type=Path, required=True, help="kubeconfig returned by listClusterUserCredential"
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--token", default=None, help="accept only this bearer token (default: any)")
    parser.add_argument("--in-progress-polls", type=int, default=2, help="InProgress answers per operation")
    parser.add_argument("--create-latency", type=float, default=0.0, help="seconds each create takes")
    parser.add_argument(
        "--max-runtime", type=float, default=MAX_RUNTIME_S, help="stop serving after this many seconds"
    )
    args = parser.parse_args(argv)
    try:
        kubeconfig = args.kubeconfig.read_bytes()
    except OSError as err:
        parser.error(f"cannot read --kubeconfig {args.kubeconfig}: {err.strerror}")
    behaviour = FakeArmBehaviour(
        in_progress_polls=args.in_progress_polls,
        create_latency_s=args.create_latency,
        expected_token=args.token,
        kubeconfig=kubeconfig,
    )
    server = FakeArmServer(FakeArm(behaviour), args.port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    url = server.start()
    print(f"fake ARM listening on {url}", flush=True)
    try:
        stop.wait(timeout=args.max_runtime)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
