"""Device plugin benchmark against the emulated kubelet's real device manager (v1beta1 gRPC, unix sockets).

Prints medians over --runs of:
  registration   plugin start -> kubelet publishes capacity (serve + Register + first ListAndWatch list)
  health flip    set_health(unhealthy) -> kubelet publishes allocatable-1 (in-process API)
  file flip      control file written -> kubelet publishes allocatable-1 (shared 100 ms stat poller)
  allocate       kubelet Allocate round trip for one GPU
  re-register    kubelet restart (all sockets deleted, kubelet.sock re-created) -> capacity again
and, with --plugins N, the idle CPU cost of N plugins sharing one event loop.

    .venv/bin/python bench/bench_deviceplugin.py --runs 20 --plugins 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpuconf.deviceplugin import DevicePlugin, PluginConfig
from gpuconf.emulator.kubelet.devicemanager import DeviceManager

WAIT_TIMEOUT_S = 10.0


class Kubelet:
    """A DeviceManager plus an asyncio.Condition over what it publishes."""

    def __init__(self, socket_dir: Path) -> None:
        self.socket_dir = socket_dir
        self.seen: tuple[int, int] = (0, 0)
        self.changed = asyncio.Condition()
        self.manager = DeviceManager(socket_dir, self._publish)

    def _publish(self, resource: str, capacity: int, allocatable: int) -> None:
        self.seen = (capacity, allocatable)

        async def notify() -> None:
            async with self.changed:
                self.changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def wait(self, predicate: Callable[[tuple[int, int]], bool]) -> float:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: predicate(self.seen)), WAIT_TIMEOUT_S)
        return time.perf_counter()

    async def restart(self) -> None:
        await self.manager.stop()
        self.manager = DeviceManager(self.socket_dir, self._publish)
        await self.manager.start()


async def one_run(devices: int) -> dict[str, float]:
    socket_dir = Path(tempfile.mkdtemp(prefix="gc", dir="/tmp"))
    health_file = socket_dir / "health.json"
    kubelet = Kubelet(socket_dir)
    await kubelet.manager.start()
    stop = asyncio.Event()
    t0 = time.perf_counter()
    plugin = DevicePlugin(PluginConfig(socket_dir=socket_dir, devices=devices, health_file=health_file))
    task = asyncio.get_running_loop().create_task(plugin.run(stop))
    result = {"registration": await kubelet.wait(lambda s: s == (devices, devices)) - t0}

    t0 = time.perf_counter()
    plugin.set_health(plugin.devices[0].id, healthy=False)
    result["health flip"] = await kubelet.wait(lambda s: s[1] == devices - 1) - t0
    plugin.set_health(plugin.devices[0].id, healthy=True)
    await kubelet.wait(lambda s: s[1] == devices)

    t0 = time.perf_counter()
    health_file.write_text(json.dumps({"unhealthy": [0]}))
    result["file flip"] = await kubelet.wait(lambda s: s[1] == devices - 1) - t0
    health_file.unlink()
    await kubelet.wait(lambda s: s[1] == devices)

    t0 = time.perf_counter()
    await kubelet.manager.allocate("pod", "main", "nvidia.com/gpu", 1)
    result["allocate"] = time.perf_counter() - t0
    kubelet.manager.release("pod")

    t0 = time.perf_counter()
    await kubelet.restart()
    result["re-register"] = await kubelet.wait(lambda s: s == (devices, devices)) - t0

    stop.set()
    await asyncio.wait_for(task, WAIT_TIMEOUT_S)
    await kubelet.manager.stop()
    shutil.rmtree(socket_dir, ignore_errors=True)
    return result


async def idle_cost(count: int, seconds: float) -> tuple[float, float]:
    """(seconds to start `count` plugins and see them all registered, idle CPU fraction afterwards)."""
    root = Path(tempfile.mkdtemp(prefix="gc", dir="/tmp"))
    kubelets = []
    for i in range(count):
        (root / str(i)).mkdir()
        kubelets.append(Kubelet(root / str(i)))
        await kubelets[-1].manager.start()
    stop = asyncio.Event()
    t0 = time.perf_counter()
    plugins = [DevicePlugin(PluginConfig(socket_dir=k.socket_dir, devices=2)) for k in kubelets]
    tasks = [asyncio.get_running_loop().create_task(p.run(stop)) for p in plugins]
    for kubelet in kubelets:
        await kubelet.wait(lambda s: s == (2, 2))
    started = time.perf_counter() - t0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)  # measuring idle cost: nothing to wait for but the clock
    idle = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for kubelet in kubelets:
        await kubelet.manager.stop()
    shutil.rmtree(root, ignore_errors=True)
    return started, idle


async def main(runs: int, devices: int, plugins: int) -> None:
    results = [await one_run(devices) for _ in range(runs)]
    for name in results[0]:
        values = [r[name] * 1000 for r in results]
        print(
            f"{name:>13}: median {statistics.median(values):7.2f} ms"
            f"  (min {min(values):.2f}, max {max(values):.2f})"
        )
    if plugins:
        started, idle = await idle_cost(plugins, 3.0)
        print(
            f"{plugins} plugins in one loop: all registered in {started:.2f} s;"
            f" idle CPU {idle * 100:.1f}% of one core"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--plugins", type=int, default=0, help="also measure N plugins in one event loop")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.devices, args.plugins))
