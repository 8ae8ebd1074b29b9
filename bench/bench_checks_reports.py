"""Median cost of the checks and report writers a conformance run calls once per step.

Run: .venv/bin/python bench/bench_checks_reports.py [--repeat N]
Prints one line per case: median and p90 over N runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gpuconf.checks.accuracy import check_rising
from gpuconf.checks.drift import DriftFacts, evaluate
from gpuconf.checks.logs import parse_training_log, parse_workload_log
from gpuconf.reports import RunInfo, StepResult, Verdict
from gpuconf.reports.bundle import write_failure_bundle
from gpuconf.reports.plots import plot_accuracy
from gpuconf.reports.redact import redact
from gpuconf.reports.summary import write_summary

ARTICLE_LOG = (
    Path(__file__).resolve().parents[1] / "tests" / "checks" / "data" / "article_tf1_sample.log"
).read_text()


def long_log(steps: int) -> str:
    """An article-style log with `steps` accuracy lines (a --max_steps 10*steps run)."""
    head = ARTICLE_LOG.split("Accuracy at step 0")[0]
    lines = [f"Accuracy at step {i * 10}: {min(0.95, 0.1 + i * 0.01):.4f}" for i in range(steps)]
    return head + "\n".join(lines) + "\n"


def measure(name: str, fn: Callable[[], object], repeat: int) -> None:
    fn()  # warm-up (imports, regex compilation, font cache)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
    print(f"{name:<44} median {statistics.median(samples):8.3f} ms   p90 {p90:8.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    big = long_log(10_000)
    points = parse_training_log(ARTICLE_LOG).accuracy
    results = [
        StepResult(
            f"suites/test_{i}.py::t", "install-nvidia-device-plugin", "t", Verdict.PASS, ["e"] * 5, 1.0
        )
        for i in range(50)
    ]
    run = RunInfo(backend="emulated", emulated=True)
    secrets = ("token: abc\nAuthorization: Bearer x.y.z\n" + "plain log line\n" * 50) * 200
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        measure("parse article sample log", lambda: parse_workload_log(ARTICLE_LOG), args.repeat)
        measure("parse 10k-step training log", lambda: parse_workload_log(big), args.repeat)
        measure("check_rising on article sample", lambda: check_rising(points, max_steps=500), args.repeat)
        measure(
            "drift evaluate (all rules)",
            lambda: evaluate(DriftFacts(vm_size="NC6", server_version="1.33")),
            args.repeat,
        )
        measure("redact 10k lines", lambda: redact(secrets), args.repeat)
        measure("write_summary (50 steps)", lambda: write_summary(results, run, out / "s"), args.repeat)
        measure(
            "plot_accuracy (50 points)", lambda: plot_accuracy(points, out / "a.png", "bench"), args.repeat
        )
        measure("write_failure_bundle (10 pods)", lambda: write_failure_bundle(
            out / "b", pod_logs={f"p{i}": ARTICLE_LOG for i in range(10)}), args.repeat)  # fmt: skip


if __name__ == "__main__":
    main()
