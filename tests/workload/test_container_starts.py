"""Container starts survive a live gRPC plugin in the emulator process.

Once in ~15 runs a workload container died of SIGSEGV (exit 139) before printing: the runtime then
forked with a preexec_fn, so the child ran the at-fork handlers of gRPC (whose threads were live in
the emulator) before exec. Without a preexec_fn, CPython starts children with vfork + exec, where no
at-fork handler runs. This loop is the proof: many starts, with the device plugin serving and
registered with a kubelet in the same process, and not one crash.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from gpuconf.deviceplugin import DevicePlugin, PluginConfig
from gpuconf.emulator.runtime.process import live_process_groups, start_process
from tests.deviceplugin.recording_kubelet import RecordingKubelet

STARTS = 100
PARALLEL = 4
STEP_TIMEOUT_S = 10.0


def test_children_are_started_without_at_fork_handlers() -> None:
    # The reason the loop below holds: CPython only vforks when no preexec_fn is given.
    assert subprocess._USE_VFORK  # type: ignore[attr-defined]


async def start_many(root: Path) -> list[int]:
    (root / "plugins").mkdir()
    kubelet = RecordingKubelet(root / "plugins")
    await kubelet.start()
    plugin = DevicePlugin(PluginConfig(socket_dir=root / "plugins", devices=2, product="Tesla T4"))
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(plugin.run(stop))
    gate = asyncio.Semaphore(PARALLEL)

    async def one(i: int) -> int:
        async with gate:
            log = root / f"logs/{i}.log"
            container = await start_process(
                [sys.executable, "-c", "print('started')"], {}, log, root / f"work/{i}"
            )
            exited = await asyncio.wait_for(container.wait(), STEP_TIMEOUT_S)
            assert exited.exit_code != 0 or log.read_text() == "started\n"
            return exited.exit_code

    try:
        await asyncio.wait_for(plugin.registered.wait(), STEP_TIMEOUT_S)
        return await asyncio.gather(*(one(i) for i in range(STARTS)))
    finally:
        stop.set()
        await asyncio.wait_for(task, STEP_TIMEOUT_S)
        await kubelet.stop()


def test_a_hundred_container_starts_next_to_a_live_grpc_plugin_never_crash() -> None:
    root = Path(tempfile.mkdtemp(prefix="gc", dir="/tmp"))
    try:
        codes = asyncio.run(start_many(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert codes == [0] * STARTS
    assert not live_process_groups()
