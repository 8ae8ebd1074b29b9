"""pytest-xdist and a VM-size matrix: what `-n 2` buys for the offline suite, measured.

The suite is the article's steps in order, building on each other (the Job created in one step is
read in the next), so by design they all run on one xdist worker. A VM-size matrix is either one
session over several sizes (`--vm-size A --vm-size B ...`: one cluster with a pool per size, tests
parametrized per node and per workload on each size) or one run per size, parallel across runs.
Measured, all in one invocation so the ratios share the machine's load:

  in-session matrix, -n 0  one run over all the sizes
  in-session matrix, -n 2  the same under pytest-xdist with 2 workers

  matrix, sequential     the three runs one after another (`-n 0` each)
  matrix, 3 in parallel  the three runs started together (three processes, three embedded clusters)
  matrix, 2 at a time    at most two runs at once (what 2 cores can really run side by side)
  one size, -n 0         a single run
  one size, -n 2         the same run under pytest-xdist with 2 workers: the cluster is shared
                         through the file lock, every suite test lands on one worker

    .venv/bin/python bench/bench_xdist_matrix.py --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from suite_command import offline_suite  # bench/suite_command.py

ROOT = Path(__file__).resolve().parent.parent
SIZES = ("Standard_NC6", "Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4")


def suite(sizes: str | tuple[str, ...], reports_dir: Path, workers: int = 0) -> float:
    command = offline_suite(
        reports_dir,
        "-q",
        *(arg for size in ((sizes,) if isinstance(sizes, str) else sizes) for arg in ("--vm-size", size)),
    )
    if workers:
        command += ["-n", str(workers)]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return wall


def matrix(sizes: tuple[str, ...], tmp: Path, tag: str, parallel: int) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(lambda s: suite(s, tmp / f"{tag}-{s}"), sizes))
    return time.monotonic() - started


def rng(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    args = parser.parse_args()
    sizes = tuple(args.sizes)
    res: dict[str, list[float]] = {k: [] for k in ("mx0", "mx2", "seq", "par", "par2", "n0", "n2")}
    with tempfile.TemporaryDirectory(prefix="gpuconf-bench-xdist-") as tmp_name:
        tmp = Path(tmp_name)
        for index in range(args.runs):
            res["mx0"].append(suite(sizes, tmp / f"mx0-{index}"))
            res["mx2"].append(suite(sizes, tmp / f"mx2-{index}", workers=2))
            res["seq"].append(matrix(sizes, tmp, f"seq{index}", 1))
            res["par"].append(matrix(sizes, tmp, f"par{index}", len(sizes)))
            res["par2"].append(matrix(sizes, tmp, f"pa2{index}", 2))
            res["n0"].append(suite(sizes[0], tmp / f"n0-{index}"))
            res["n2"].append(suite(sizes[0], tmp / f"n2-{index}", workers=2))
            print(f"run {index + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in res.items()), flush=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"\n{args.runs} runs, median s (min–max); sizes: {', '.join(sizes)}")
    print(f"{'in-session matrix, -n 0':40} {rng(res['mx0'])}")
    print(
        f"{'in-session matrix, -n 2':40} {rng(res['mx2'])}   ratio -n 2 / -n 0 {med['mx2'] / med['mx0']:.2f}x"
    )
    print(f"{'matrix of ' + str(len(sizes)) + ', sequential (-n 0 each)':40} {rng(res['seq'])}")
    print(f"{'matrix, all in parallel':40} {rng(res['par'])}   speed-up {med['seq'] / med['par']:.2f}x")
    print(f"{'matrix, 2 at a time':40} {rng(res['par2'])}   speed-up {med['seq'] / med['par2']:.2f}x")
    print(f"{'one size, -n 0':40} {rng(res['n0'])}")
    print(f"{'one size, -n 2':40} {rng(res['n2'])}   ratio -n 2 / -n 0 {med['n2'] / med['n0']:.2f}x")
    ratios = [s / p for s, p in zip(res["seq"], res["par"], strict=True)]
    print(f"per-run speed-up sequential/parallel: {', '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
