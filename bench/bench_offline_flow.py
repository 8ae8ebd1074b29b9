"""Offline flow: `pytest -m offline` wall time from a cold process, broken down, and the harness overhead.

Each run is a fresh `pytest -m offline -p no:cacheprovider -q --durations=0 --durations-min=0
--reports-dir=DIR` subprocess (a new interpreter, a new embedded cluster). Per run it records:

  wall            the subprocess, start to exit
  pytest own      wall minus every setup/call/teardown pytest timed: interpreter start, imports,
                  collection, terminal summary and report writing
  cluster start   setup of the first test (the emulator process started, its "ready" line seen)
  per step        reports/summary.json duration_s of each article step (what the step's test took)
  teardown        teardown of the last test: suite objects removed and verified, the emulator stopped

The workloads' own time is measured separately, each run alone as the suite's containers run it (whole
process, wall, with the fake plugin's Allocate environment for one emulated Tesla K80): the article's
MNIST Job (`--max_steps 500`), the vectorAdd sample and `nvidia-smi -L` (the exclusivity check's pods
are pause containers: no work). The harness overhead is wall -
the sum of those. Targets (issue 8): median wall <= 10 s, overhead <= 3 s.

    .venv/bin/python bench/bench_offline_flow.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from suite_command import offline_suite  # bench/suite_command.py

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DURATION = re.compile(r"^(\d+\.\d+)s (setup|call|teardown)\s+(\S+)")


def run_suite(reports_dir: Path, extra: list[str], root: Path = ROOT) -> dict:
    command = [
        *offline_suite(reports_dir, "-q", "--durations=0", "--durations-min=0"),
        *extra,
    ]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(
            f"pytest in {root} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        )
    phases = [(float(m[1]), m[2], m[3]) for m in map(DURATION.match, proc.stdout.splitlines()) if m]
    timed = sum(d for d, _, _ in phases)
    summary = json.loads((reports_dir / "summary.json").read_text())
    order = [s["test_id"] for s in summary["steps"]]
    setup_first = next((d for d, p, t in phases if p == "setup" and t == order[0]), 0.0)
    teardown_last = next((d for d, p, t in phases if p == "teardown" and t == order[-1]), 0.0)
    steps: dict[str, float] = {}
    for s in summary["steps"]:
        test = s["test_id"].split("::")[1]
        # One line per article step and parameter (node, workload case), e.g.
        # "view-the-status-and-output-of-the-gpu-enabled-workload[mnist-job-on-Standard_NC6]".
        name = s["article_section"] + (f"[{test.split('[', 1)[1]}" if "[" in test else "")
        if s["article_section"] == "beyond-the-article":
            name += ":" + test
        steps[name] = steps.get(name, 0.0) + s["duration_s"]
    return {
        "wall": wall,
        "pytest_own": wall - timed,
        "cluster_start": setup_first,
        "teardown": teardown_last,
        "steps": steps,
        "other_fixtures": timed - setup_first - teardown_last - sum(d for d, p, _ in phases if p == "call"),
    }


def emulated_gpu_env() -> dict[str, str]:
    """The environment the emulated kubelet gives a container allocated one fake Tesla K80."""
    from gpuconf.deviceplugin.devices import fake_devices
    from gpuconf.deviceplugin.products import PRODUCTS

    (device,) = fake_devices(1, PRODUCTS["Tesla K80"], "bench")
    return {
        **os.environ,
        "NVIDIA_VISIBLE_DEVICES": device.id,
        "GPUCONF_GPU_COUNT": "1",
        **device.envs("GPUCONF_GPU_0_"),
        **device.envs("GPUCONF_GPU_"),
        "CUDA_VISIBLE_DEVICES": "",  # as the runtime sets it for emulated GPUs
    }


def workloads_wall(max_steps: int) -> float:
    """Wall time of every workload process the suite runs, each alone, summed."""
    env = emulated_gpu_env()
    total = 0.0
    for argv in (
        ["gpuconf.workload.mnist", "--max_steps", str(max_steps)],
        ["gpuconf.workload.vectoradd"],
        ["gpuconf.workload.nvidia_smi", "-L"],
    ):
        started = time.monotonic()
        subprocess.run([PY, "-m", *argv], cwd=ROOT, check=True, capture_output=True, env=env)
        total += time.monotonic() - started
    return total


def report(runs: list[dict], trains: list[float], max_steps: int, title: str) -> None:
    walls = [r["wall"] for r in runs]
    train = statistics.median(trains)
    overheads = [w - train for w in walls]
    print(f"\n{title}: `pytest -m offline` from a cold process, {len(runs)} runs: median s (min–max)")
    print(f"{'wall':48} {rng(walls)}")
    print(f"{'  pytest itself (start, imports, collect, reports)':48} {rng([r['pytest_own'] for r in runs])}")
    print(f"{'  cluster start (first setup)':48} {rng([r['cluster_start'] for r in runs])}")
    for step in runs[0]["steps"]:
        values = [r["steps"].get(step, 0.0) for r in runs]
        print(f"{'  step ' + step:48} {rng(values, 3)}")
    print(f"{'  other fixture setup/teardown':48} {rng([r['other_fixtures'] for r in runs])}")
    print(f"{'  teardown (cleanup, emulator stop)':48} {rng([r['teardown'] for r in runs])}")
    label = f"workloads alone (MNIST {max_steps} steps, vectorAdd, nvidia-smi)"
    print(f"{label:48} {rng(trains, 3)}")
    print(f"{'harness overhead = wall - workloads':48} {rng(overheads)}")
    med_wall, med_over = statistics.median(walls), statistics.median(overheads)
    print(
        f"targets: median wall <= 10 s: {'met' if med_wall <= 10 else 'MISSED'} ({med_wall:.2f} s); "
        f"overhead <= 3 s: {'met' if med_over <= 3 else 'MISSED'} ({med_over:.2f} s)"
    )


def rng(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=500)
    parser.add_argument("--pytest-arg", action="append", default=[], help="extra pytest argument")
    parser.add_argument(
        "--compare-root",
        type=Path,
        help="another checkout (e.g. `git archive HEAD` unpacked) run interleaved with this one",
    )
    args = parser.parse_args()
    roots = [ROOT] + ([args.compare_root.resolve()] if args.compare_root else [])
    runs: dict[Path, list[dict]] = {r: [] for r in roots}
    trains = []
    with tempfile.TemporaryDirectory(prefix="gpuconf-bench-flow-") as tmp:
        for index in range(args.runs):
            # Interleave the workloads' own runs (and the roots) so all see the same load.
            trains.append(workloads_wall(args.max_steps))
            for k, root in enumerate(roots):
                runs[root].append(run_suite(Path(tmp) / f"run{index}-{k}", args.pytest_arg, root))
            print(
                f"run {index + 1}: "
                + ", ".join(f"{r.name} wall {runs[r][-1]['wall']:.2f} s" for r in roots)
                + f", training {trains[-1]:.3f} s",
                flush=True,
            )
    for root in roots:
        report(runs[root], trains, args.max_steps, str(root))
    if args.compare_root:
        a, b = (statistics.median(x["wall"] for x in runs[r]) for r in roots)
        per_run = [x["wall"] / y["wall"] for x, y in zip(runs[roots[0]], runs[roots[1]], strict=True)]
        print(
            f"\nwall {roots[0].name} / {roots[1].name}: {a / b:.3f} (median of walls); per run "
            + ", ".join(f"{p:.2f}" for p in per_run)
        )


if __name__ == "__main__":
    main()
