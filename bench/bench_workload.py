"""Offline MNIST workload benchmark: what one `python -m gpuconf.workload.mnist --max_steps 500` costs.

Prints medians over --runs of the whole process (wall and CPU time, as the offline suite pays it),
and in-process: loading the digits from the .csv.gz directly vs through sklearn.datasets.load_digits
(why digits.py does not import sklearn), and the 500 training steps alone.

    .venv/bin/python bench/bench_workload.py --runs 9
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpuconf.workload import digits, mnist  # noqa: E402  (needs the sys.path line above)

RUN_TIMEOUT_S = 60.0


def process_run(steps: int) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gpuconf.workload.mnist", "--max_steps", str(steps)],
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        stdout=subprocess.DEVNULL,
        check=True,
        timeout=RUN_TIMEOUT_S,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def sklearn_load_in_fresh_process() -> float:
    code = "import time; t=time.perf_counter(); from sklearn.datasets import load_digits; load_digits(); "
    code += "print(time.perf_counter()-t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return float(out.stdout)


def direct_load_in_fresh_process() -> float:
    code = "import time; t=time.perf_counter(); from gpuconf.workload import digits; "
    code += "digits.load(digits.digits_path()); "
    code += "print(time.perf_counter()-t)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return float(out.stdout)


def training_only(steps: int) -> float:
    t0 = time.process_time()
    mnist.run(["--max_steps", str(steps)], {}, lambda line: None)
    return time.process_time() - t0


def median_ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.1f} ms (min {min(values) * 1000:.1f})"


def main(runs: int, steps: int) -> None:
    digits.load(digits.digits_path())  # warm the page cache
    processes = [process_run(steps) for _ in range(runs)]
    print(f"process, {steps} steps, wall: {median_ms([w for w, _ in processes])}")
    print(f"process, {steps} steps, CPU:  {median_ms([c for _, c in processes])}")
    direct = [direct_load_in_fresh_process() for _ in range(runs)]
    print(f"digits via csv.gz (imports incl.):      {median_ms(direct)}")
    via_sklearn = [sklearn_load_in_fresh_process() for _ in range(runs)]
    print(f"digits via sklearn.load_digits (incl.): {median_ms(via_sklearn)}")
    print(f"in-process run, {steps} steps, CPU: {median_ms([training_only(steps) for _ in range(runs)])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    main(args.runs, args.steps)
