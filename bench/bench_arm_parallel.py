"""Benchmark: a SKU matrix of four GPU pools provisions in at most 1.3x the time of one pool.

The loopback fake ARM injects latency (each create takes CREATE_LATENCY_S, every request
REQUEST_LATENCY_S), and the real Azure SDK provisions against it with a short poll interval. We
time whole provision() calls and, from the progress lines, the GPU-pool phase alone (first pool
"started" to last pool done), which is where parallelism matters.

    .venv/bin/python bench/bench_arm_parallel.py [--runs 5]

Prints medians and the ratios; exits 1 when the pool-phase ratio exceeds 1.3.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

from gpuconf.azure.fakearm import FakeArmBehaviour, running_fake_arm
from gpuconf.azure.operations import ProgressLog
from gpuconf.azure.settings import resolve
from gpuconf.backends.aks import AksBackend

CREATE_LATENCY_S = 1.0
REQUEST_LATENCY_S = 0.02
POLL_INTERVAL_S = 0.05
LIMIT = 1.3
TOKEN = "bench-token"
ONE = ["Standard_NC4as_T4_v3"]
FOUR = [
    "Standard_NC4as_T4_v3",
    "Standard_NC8as_T4_v3",
    "Standard_NC24ads_A100_v4",
    "Standard_NC40ads_H100_v5",
]


class TimedProgress(ProgressLog):
    """Keeps (monotonic time, line) so the pool phase can be measured from the provisioner's own lines."""

    def __init__(self) -> None:
        super().__init__(stream=io.StringIO())
        self.lines: list[tuple[float, str]] = []

    def line(self, message: str) -> None:
        self.lines.append((time.monotonic(), message))

    def pool_phase_s(self) -> float:
        pool = [(t, m) for t, m in self.lines if m.startswith("creating GPU node pool")]
        started = min(t for t, m in pool if m.endswith(": started"))
        finished = max(t for t, m in pool if " after " in m)
        return finished - started


def provision_once(url: str, sizes: list[str]) -> tuple[float, float]:
    settings = resolve(
        {
            "aks_arm_endpoint": url,
            "aks_subscription": "00000000-0000-0000-0000-000000000000",
            "aks_vm_size": sizes,
        },
        {"GPUCONF_ARM_TOKEN": TOKEN},
        poll_interval_s=POLL_INTERVAL_S,
        retry_backoff_s=0.01,
        progress_every_s=10.0,
        operation_timeout_s=60.0,
    )
    progress = TimedProgress()
    backend = AksBackend(settings, progress=progress)
    began = time.monotonic()
    try:
        backend.provision()
        total = time.monotonic() - began
    finally:
        backend.teardown()
    return total, progress.pool_phase_s()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    behaviour = FakeArmBehaviour(
        in_progress_polls=1,
        create_latency_s=CREATE_LATENCY_S,
        request_latency_s=REQUEST_LATENCY_S,
        expected_token=TOKEN,
    )
    results: dict[str, list[tuple[float, float]]] = {"1 pool": [], "4 pools": []}
    with running_fake_arm(behaviour) as server:
        for _ in range(args.runs):
            results["1 pool"].append(provision_once(server.url, ONE))
            results["4 pools"].append(provision_once(server.url, FOUR))
    medians = {
        name: (statistics.median(t for t, _ in runs), statistics.median(p for _, p in runs))
        for name, runs in results.items()
    }
    print(f"fake ARM: create latency {CREATE_LATENCY_S}s, request latency {REQUEST_LATENCY_S}s, "
          f"poll {POLL_INTERVAL_S}s, {args.runs} runs each")  # fmt: skip
    for name, (total, pools) in medians.items():
        print(f"{name:8s} median provision {total:.3f}s, median GPU-pool phase {pools:.3f}s")
    total_ratio = medians["4 pools"][0] / medians["1 pool"][0]
    pool_ratio = medians["4 pools"][1] / medians["1 pool"][1]
    print(f"ratio 4/1: provision {total_ratio:.3f}, GPU-pool phase {pool_ratio:.3f} (limit {LIMIT})")
    return 0 if pool_ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
