"""`python -m gpuconf.emulator serve`: writes a 0600 kubeconfig, says ready, stops on SIGTERM."""

from __future__ import annotations

import os
import select
import signal
import stat
import subprocess
import sys

import yaml

from tests.emulator_api.raw_http import request

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


def test_serve_prints_ready_and_stops_cleanly_on_sigterm(tmp_path):
    kubeconfig = tmp_path / "kc" / "config"
    argv = [sys.executable, "-m", "gpuconf.emulator", "serve", "--kubeconfig", str(kubeconfig)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            readable, _, _ = select.select([server.stdout], [], [], START_TIMEOUT_S)
            assert readable, f"no output within {START_TIMEOUT_S} s"
            line = server.stdout.readline()
            assert "ready" in line, server.stderr.read()
            assert stat.S_IMODE(os.stat(kubeconfig).st_mode) == 0o600
            url = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
            assert url.startswith("http://127.0.0.1:")
            assert request(url, "GET", "/version")[0] == 200
        finally:
            server.send_signal(signal.SIGTERM)
            out, err = server.communicate(timeout=STOP_TIMEOUT_S)
    assert server.returncode == 0, err
    assert "stopped" in out


def test_serve_reports_a_bad_port_in_one_line(tmp_path):
    argv = [
        sys.executable,
        "-m",
        "gpuconf.emulator",
        "serve",
        "--kubeconfig",
        str(tmp_path / "c"),
        "--port",
        "70000",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT_S)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("--port must be 0..65535, got 70000")
