"""`python -m gpuconf.deviceplugin` as its own process: registers, logs each lifecycle event, and
removes its socket on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from gpuconf.deviceplugin.api import HEALTHY
from tests.deviceplugin.recording_kubelet import RecordingKubelet

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0  # a cold interpreter importing grpc on 2 shared cores
EXIT_TIMEOUT_S = 10.0


def plugin_command(socket_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "gpuconf.deviceplugin", "--socket-dir", str(socket_dir), *extra]


def test_subprocess_registers_with_env_settings_and_sigterm_removes_its_socket(socket_dir: Path) -> None:
    async def body() -> str:
        kubelet = RecordingKubelet(socket_dir)
        await kubelet.start()
        env = {**os.environ, "GPUCONF_FAKE_GPU_COUNT": "2", "GPUCONF_FAKE_GPU_PRODUCT": "V100"}
        process = await asyncio.create_subprocess_exec(
            *plugin_command(socket_dir), cwd=ROOT, env=env, stderr=subprocess.PIPE
        )
        try:
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 2, timeout=START_TIMEOUT_S, describe="2 GPUs"
            )
            # The control file at its CLI default path flips a device.
            (socket_dir / "gpuconf-health.json").write_text('{"unhealthy": [1]}')
            await kubelet.wait_until(
                lambda: kubelet.allocatable() == 1, timeout=EXIT_TIMEOUT_S, describe="flip"
            )
            assert sorted(kubelet.latest().values()) == [HEALTHY, "Unhealthy"]
            assert (socket_dir / "nvidia-gpu.sock").exists()
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), EXIT_TIMEOUT_S) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await kubelet.stop()
        assert process.stderr is not None
        return (await process.stderr.read()).decode()

    log = asyncio.run(body())
    assert not (socket_dir / "nvidia-gpu.sock").exists()
    assert "gpuconf-device-plugin: registered with kubelet as nvidia.com/gpu (2 devices)" in log
    assert "is now Unhealthy" in log
    assert "gpuconf-device-plugin: stopped" in log
    assert "Traceback" not in log, log


def test_list_prints_devices_and_bad_input_is_one_line(socket_dir: Path) -> None:
    listed = subprocess.run(
        plugin_command(socket_dir, "--devices", "2", "--product", "h200", "--list"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and all("NVIDIA H200 compute capability 9.0" in line for line in lines)

    bad = subprocess.run(
        plugin_command(socket_dir, "--product", "Quantum 9000", "--list"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert bad.stderr.startswith("gpuconf-device-plugin: error: unknown GPU product 'Quantum 9000'")
