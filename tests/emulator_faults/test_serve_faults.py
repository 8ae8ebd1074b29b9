"""`python -m gpuconf.emulator serve --fault NAME` (repeatable) serves a cluster with those faults."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from kubernetes import client, config

from gpuconf.emulator.faults.nodes import GPU_TAINT
from tests.emulator_faults.article import condition

READY_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 30.0


def test_serve_injects_every_fault_given() -> None:
    with tempfile.TemporaryDirectory(prefix="gpuconf-faults-") as scratch:
        kubeconfig = Path(scratch) / "kubeconfig"
        command = [sys.executable, "-m", "gpuconf.emulator", "serve", "--kubeconfig", str(kubeconfig)]
        command += ["--fault", "gpu-pool-tainted", "--fault", "node-not-ready"]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert server.stdout is not None
            readable, _, _ = select.select([server.stdout], [], [], READY_TIMEOUT_S)
            assert readable, f"serve printed nothing within {READY_TIMEOUT_S:g}s"
            ready = server.stdout.readline()  # serve prints one line once it answers
            assert "ready" in ready, ready
            with config.new_client_from_config(str(kubeconfig)) as api:
                (node,) = api.sanitize_for_serialization(client.CoreV1Api(api).list_node().items)
            taints = {(t["key"], t.get("value"), t["effect"]) for t in node["spec"]["taints"]}
            assert (GPU_TAINT["key"], GPU_TAINT["value"], GPU_TAINT["effect"]) in taints
            assert condition(node, "Ready")["status"] == "False"
        finally:
            server.send_signal(signal.SIGTERM)
            output, _ = server.communicate(timeout=EXIT_TIMEOUT_S)
        assert server.returncode == 0, output
