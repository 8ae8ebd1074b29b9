"""Suite at scale: the device-plugin and schedulable steps on embedded clusters of 10, 100 and 1,000 nodes.

Each run is `pytest -m offline -p no:cacheprovider -q --nodes N -k "daemonset_rolls_out or
device_plugin_pod_runs or capacity_and_allocatable" --reports-dir=DIR` in a fresh process: the article's
DaemonSet rolled out on every node plus one test per node for its plugin pod
(install-nvidia-device-plugin, which first runs create-an-aks-cluster as its prerequisite), and one test
per node for capacity == allocatable (confirm-that-gpus-are-schedulable): at 1,000 nodes that is 2,001
tests. `--with-restart` adds the plugin-restart check. A step's time is the sum of its tests'
duration_s in reports/summary.json (the per-node tests included); the cluster start is
the first test's setup (--durations). Memory: a sampler reads /proc every 50 ms for the emulator
process (`python -m gpuconf.emulator serve`, the pytest process's child): its VmHWM (peak RSS, from the
kernel) and the peak of the summed RSS of it and all its descendants (device-plugin and workload
processes; at <= 20 nodes the plugins are processes, above it they run inside the emulator).

Target (issue 8): cost grows about linearly: the 1,000-node step time <= 12x the 100-node one.

    .venv/bin/python bench/bench_suite_scale.py --nodes 10 100 1000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from suite_command import offline_suite  # bench/suite_command.py

ROOT = Path(__file__).resolve().parent.parent
DURATION = re.compile(r"^(\d+\.\d+)s (setup|call|teardown)\s+(\S+)")
SELECT = "daemonset_rolls_out or device_plugin_pod_runs or capacity_and_allocatable"
SELECT_RESTART = f"{SELECT} or plugin_restart"
STEPS = ("install-nvidia-device-plugin", "confirm-that-gpus-are-schedulable")


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _descendants(pid: int) -> list[int]:
    """pid and every process below it (containers run in process groups of their own)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += _children(current)
    return found


class MemorySampler(threading.Thread):
    def __init__(self, pytest_pid: int) -> None:
        super().__init__(daemon=True)
        self.pytest_pid = pytest_pid
        self.emulator_pid: int | None = None
        self.emulator_hwm_kib = 0
        self.group_peak_kib = 0
        self.group_size_peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            if self.emulator_pid is None:
                for child in _children(self.pytest_pid):
                    try:
                        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                    except OSError:
                        continue
                    if b"gpuconf.emulator" in cmdline and b"serve" in cmdline:
                        self.emulator_pid = child
            if self.emulator_pid is not None:
                self.emulator_hwm_kib = max(self.emulator_hwm_kib, _status_kib(self.emulator_pid, "VmHWM"))
                members = _descendants(self.emulator_pid)
                total = sum(_status_kib(p, "VmRSS") for p in members)
                if total > self.group_peak_kib:
                    self.group_peak_kib = total
                self.group_size_peak = max(self.group_size_peak, len(members))
            self.done.wait(0.05)


def one_run(nodes: int, reports_dir: Path, with_restart: bool = False) -> dict:
    command = [
        *offline_suite(reports_dir, "-q"),
        "--nodes",
        str(nodes),
        "-k",
        SELECT_RESTART if with_restart else SELECT,
        "--durations=0",
        "--durations-min=0",
    ]
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = MemorySampler(proc.pid)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.monotonic() - started
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"pytest --nodes {nodes} failed ({proc.returncode}):\n{out[-4000:]}")
    phases = [(float(m[1]), m[2], m[3]) for m in map(DURATION.match, out.splitlines()) if m]
    summary = json.loads((reports_dir / "summary.json").read_text())
    steps = {
        step: sum(s["duration_s"] for s in summary["steps"] if s["article_section"] == step) for step in STEPS
    }
    restart = next(
        (f"{s['verdict']} {s['duration_s']}" for s in summary["steps"] if "plugin_restart" in s["test_id"]),
        None,
    )
    first = summary["steps"][0]["test_id"]
    cluster_start = next((d for d, p, t in phases if p == "setup" and t == first), 0.0)
    return {
        "wall": wall,
        "cluster_start": cluster_start,
        "steps": steps,
        "plugin_restart": restart,
        "emulator_hwm_mib": sampler.emulator_hwm_kib / 1024,
        "group_peak_mib": sampler.group_peak_kib / 1024,
        "group_procs": sampler.group_size_peak,
    }


def rng(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--with-restart",
        action="store_true",
        help="also select the plugin-restart check",
    )
    args = parser.parse_args()
    results: dict[int, list[dict]] = {n: [] for n in args.nodes}
    with tempfile.TemporaryDirectory(prefix="gpuconf-bench-scale-") as tmp:
        for index in range(args.runs):
            for nodes in args.nodes:  # interleaved: every size sees the same machine load
                r = one_run(nodes, Path(tmp) / f"n{nodes}-{index}", args.with_restart)
                results[nodes].append(r)
                print(f"run {index + 1} nodes {nodes}: " + json.dumps(r), flush=True)
    print(f"\nmedian (min–max) of {args.runs} runs; s unless noted")
    header = (
        f"{'nodes':>6} {'wall':>20} {'cluster start':>20} {'device-plugin step':>20} "
        f"{'schedulable step':>20} {'both steps':>20} {'plugin restart (1st)':>20} {'emulator peak MiB':>20} "
        f"{'with children MiB':>20}"
    )
    print(header)
    both_median = {}
    for nodes, runs in results.items():
        both = [r["steps"][STEPS[0]] + r["steps"][STEPS[1]] for r in runs]
        both_median[nodes] = statistics.median(both)
        cells = [
            rng([r["wall"] for r in runs]),
            rng([r["cluster_start"] for r in runs]),
            rng([r["steps"][STEPS[0]] for r in runs], 3),
            rng([r["steps"][STEPS[1]] for r in runs], 3),
            rng(both, 3),
            str([r["plugin_restart"] for r in runs][:1]),
            rng([r["emulator_hwm_mib"] for r in runs], 0),
            rng([r["group_peak_mib"] for r in runs], 0),
        ]
        print(f"{nodes:>6} " + " ".join(f"{c:>20}" for c in cells))
    if 100 in both_median and 1000 in both_median:
        ratio = both_median[1000] / both_median[100]
        verdict = "met" if ratio <= 12 else "MISSED"
        print(f"both steps, 1,000 / 100 nodes: {ratio:.1f}x (target <= 12x: {verdict})")
    if 10 in both_median and 100 in both_median:
        print(
            f"both steps, 100 / 10 nodes: {both_median[100] / both_median[10]:.1f}x "
            "(10 nodes: plugins as processes; 100+: in-process)"
        )


if __name__ == "__main__":
    main()
