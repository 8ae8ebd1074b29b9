"""Scale benchmark: 1,000 emulated GPU nodes in one process roll out the article's DaemonSet.

Measures, per run, the time from applying manifests/article/nvidia-device-plugin-ds.yaml to
(a) the DaemonSet reporting every pod ready and (b) every node advertising nvidia.com/gpu in
capacity and allocatable; prints the medians and the process's peak RSS.
The target (issue 4): both within 120 s on a 2-core machine, device plugins in-process.

    .venv/bin/python bench/bench_scale.py --nodes 1000 --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path

import yaml

from gpuconf.emulator import profiles
from gpuconf.emulator.cluster import ClusterOptions, EmulatedCluster
from gpuconf.emulator.kubelet.node import HeartbeatTiming

MANIFEST = Path(__file__).resolve().parent.parent / "manifests/article/nvidia-device-plugin-ds.yaml"
ROLLOUT_TIMEOUT_S = 300.0


def gpu_advertised(node: dict) -> bool:
    status = node.get("status") or {}
    return all(
        (status.get(f) or {}).get(profiles.GPU_RESOURCE) not in (None, "0")
        for f in ("capacity", "allocatable")
    )


async def one_run(nodes: int, vm_size: str) -> tuple[float, float, float]:
    options = ClusterOptions(
        pools=[profiles.PoolSpec(profiles.DEFAULT_POOL, vm_size, nodes)],
        plugin_runtime="inprocess",
        # Kubelet defaults (10 s); a 1,000-node cluster writes ~200 heartbeats/s with them.
        heartbeat=HeartbeatTiming(),
    )
    cluster = EmulatedCluster(options)
    started = time.monotonic()
    await cluster.start()
    boot_s = time.monotonic() - started
    try:
        api = cluster.api
        assert api is not None
        api.create(
            "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gpu-resources"}}
        )
        manifest = yaml.safe_load(MANIFEST.read_text())
        applied = time.monotonic()
        api.create("daemonsets", manifest, namespace="gpu-resources")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ROLLOUT_TIMEOUT_S
        rollout_s = gpus_s = None
        while rollout_s is None or gpus_s is None:
            # Sampling the store once a second is the measurement's resolution, not a synchronisation.
            if loop.time() > deadline:
                raise SystemExit(f"rollout did not finish within {ROLLOUT_TIMEOUT_S}s")
            await asyncio.sleep(0.5)
            if rollout_s is None:
                ds = api.get("daemonsets", "nvidia-device-plugin-daemonset", namespace="gpu-resources")
                status = ds.get("status") or {}
                if status.get("desiredNumberScheduled") == nodes and status.get("numberReady") == nodes:
                    rollout_s = time.monotonic() - applied
            if gpus_s is None:
                items, _ = api.list("nodes")
                if sum(1 for n in items if gpu_advertised(n)) == nodes:
                    gpus_s = time.monotonic() - applied
        return boot_s, rollout_s, gpus_s
    finally:
        await cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--vm-size", default=profiles.DEFAULT_VM_SIZE)
    args = parser.parse_args()
    results = [asyncio.run(one_run(args.nodes, args.vm_size)) for _ in range(args.runs)]
    boot, rollout, gpus = (statistics.median(r[i] for r in results) for i in range(3))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"nodes={args.nodes} runs={args.runs} vm_size={args.vm_size}")
    print(f"median cluster start:            {boot:8.1f} s")
    print(f"median DaemonSet fully ready:    {rollout:8.1f} s")
    print(f"median every node advertises GPU:{gpus:8.1f} s")
    print(f"peak RSS:                        {peak_mib:8.0f} MiB")
    ok = rollout <= 120 and gpus <= 120
    print("target (<= 120 s each):", "met" if ok else "MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
