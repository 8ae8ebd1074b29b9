"""The process runtime: process groups, exit codes, logs per attempt, and the image catalogue."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from gpuconf.emulator.runtime import images
from gpuconf.emulator.runtime.logs import LogStore
from gpuconf.emulator.runtime.process import live_process_groups, start_process

STOP_GRACE_S = 5.0


def alive(pid: int) -> bool:
    """Running or sleeping; a zombie (killed, waiting for its reaper) counts as dead."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_exit_code_and_output_reach_the_log(tmp_path: Path) -> None:
    async def main() -> None:
        log = tmp_path / "c" / "0.log"
        running = await start_process(
            [sys.executable, "-c", "import sys; print('hello'); sys.stderr.write('oops\\n'); sys.exit(3)"],
            {},
            log,
            tmp_path / "cwd",
        )
        exited = await asyncio.wait_for(running.wait(), timeout=10)
        assert exited.exit_code == 3
        assert exited.started_at and exited.finished_at
        assert log.read_text().splitlines() == ["hello", "oops"]
        assert running.pid not in live_process_groups()

    asyncio.run(main())


def test_stop_kills_the_whole_process_group_including_grandchildren(tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time, signal\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"  # ignores SIGTERM: needs the SIGKILL escalation
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(child_pid_file)!r}, 'w').write(str(p.pid))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )

    async def main() -> None:
        log = tmp_path / "0.log"
        running = await start_process([sys.executable, "-c", script], {}, log, tmp_path)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not child_pid_file.exists() or not child_pid_file.read_text():
            assert loop.time() < deadline, "grandchild never started"
            await asyncio.sleep(0.05)  # a file appearing has no event to wait on
        grandchild = int(child_pid_file.read_text())
        grandchild_fd = os.pidfd_open(grandchild)  # readable once that process has exited
        exited = await running.stop(grace_s=0.3)
        assert exited.exit_code == 137 and exited.signal == 9
        exit_seen = asyncio.Event()
        loop.add_reader(grandchild_fd, exit_seen.set)
        try:
            await asyncio.wait_for(exit_seen.wait(), timeout=STOP_GRACE_S)
        except TimeoutError:
            raise AssertionError("SIGKILL to the group must reach the grandchild") from None
        finally:
            loop.remove_reader(grandchild_fd)
            os.close(grandchild_fd)
        assert not alive(grandchild)
        assert running.pid not in live_process_groups()

    asyncio.run(main())


def test_log_store_keeps_the_previous_attempt(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)
    assert logs.log_path("default", "p", "c") is None
    first = logs.new_attempt("default", "p", "0123456789", "c")
    first.write_text("attempt 0\n")
    logs.mark_exited("default", "p", "c")
    second = logs.new_attempt("default", "p", "0123456789", "c")
    assert logs.log_path("default", "p", "c") == second
    assert logs.log_path("default", "p", "c", previous=True) == first
    assert logs.is_running("default", "p", "c")
    logs.mark_exited("default", "p", "c")
    assert not logs.is_running("default", "p", "c")


@pytest.mark.parametrize(
    ("image", "kind"),
    [
        ("mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11", images.DEVICE_PLUGIN),
        ("nvcr.io/nvidia/k8s-device-plugin:v0.18.0", images.DEVICE_PLUGIN),
        ("mcr.microsoft.com/azuredocs/samples-tf-mnist-demo:gpu", images.WORKLOAD),
        ("ghcr.io/example/gpuconf-workload:0.1.0", images.WORKLOAD),
    ],
)
def test_catalogue_maps_known_images(image: str, kind: str) -> None:
    assert images.resolve(image) == kind


def test_unknown_image_fails_like_a_registry_miss() -> None:
    with pytest.raises(
        images.ImagePullError, match=r'failed to pull and unpack image "docker.io/library/nginx:1"'
    ):
        images.resolve("nginx:1")


def test_device_plugin_gets_the_nodes_gpu_profile_and_socket_dir(tmp_path: Path) -> None:
    from gpuconf.emulator import profiles

    size = profiles.vm_size("Standard_NC12")
    ctx = images.LaunchContext(
        container={},
        env={},
        mounts={images.DEVICE_PLUGIN_DIR: tmp_path},
        gpu=size.gpu,
        gpu_count=size.gpu_count,
    )
    program = images.build_program(images.DEVICE_PLUGIN, ctx)
    assert program.argv[program.argv.index("--devices") + 1] == "2"
    assert program.argv[program.argv.index("--product") + 1] == "Tesla K80"
    assert program.argv[program.argv.index("--socket-dir") + 1] == str(tmp_path)
