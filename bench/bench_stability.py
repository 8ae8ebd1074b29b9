"""Stability: N consecutive clean offline runs, each from a cold process.

    .venv/bin/python bench/bench_stability.py                # 30 runs (about 3-4 minutes on 2 cores)
    .venv/bin/python bench/bench_stability.py --runs 5 --keep-dir /tmp/stab

Each run is a fresh `pytest -m offline -p no:cacheprovider --reports-dir=DIR` subprocess from the
repository root (a new interpreter, a new embedded cluster), one after the other, each with its own
reports directory. A run counts as passed when pytest exits 0 *and* its summary.json says overall
`pass` with every step `pass`. Printed at the end: runs passed / failed, wall-time median and range;
for every failed run its exit code, its non-passing rows (article section, test id, verdict, first
evidence line) and its reports directory, which is kept for inspection (the directories of passing
runs are removed unless --keep-all). `--markdown FILE` also writes the result as a Markdown section.
Exit code 1 if any run failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from suite_command import offline_suite  # bench/suite_command.py

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RUN_TIMEOUT_S = 300  # a clean run takes ~6 s here; a hung one must not hang the benchmark


def one_run(index: int, reports: Path, extra: list[str]) -> dict[str, Any]:
    command = offline_suite(reports, *extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GPUCONF_"))}
    started = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        code, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as expired:
        code, out = -1, f"timed out after {RUN_TIMEOUT_S}s\n{expired.stdout or ''}"
    wall = time.monotonic() - started
    problems: list[str] = []
    summary_path = reports / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        for row in summary["steps"]:
            if row["verdict"] != "pass":
                first = (row.get("evidence") or [""])[0]
                problems.append(f"{row['article_section']} {row['test_id']}: {row['verdict']}: {first[:300]}")
        if summary.get("overall") != "pass" and not problems:
            problems.append(f"overall {summary.get('overall')!r}")
    else:
        problems.append("no summary.json")
    if code != 0 and not problems:
        problems.append(f"exit code {code}; last output: {out.strip().splitlines()[-1:]}")
    passed = code == 0 and not problems
    if reports.is_dir():
        (reports / "pytest-output.txt").write_text(out)
    print(f"run {index:3d}: {'pass' if passed else 'FAIL'} exit {code} {wall:6.2f}s", flush=True)
    return {
        "index": index,
        "passed": passed,
        "code": code,
        "wall_s": wall,
        "problems": problems,
        "dir": reports,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--keep-dir", type=Path, default=None, help="where the runs' reports go (default: a temp dir)"
    )
    parser.add_argument("--keep-all", action="store_true", help="keep the reports of passing runs too")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the result here (Markdown)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    base = args.keep_dir or Path(tempfile.mkdtemp(prefix="gpuconf-stability-"))
    base.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = [one_run(i, base / f"run-{i:03d}", args.pytest_args) for i in range(1, args.runs + 1)]
    for result in results:
        if result["passed"] and not args.keep_all:
            shutil.rmtree(result["dir"], ignore_errors=True)
    walls = [r["wall_s"] for r in results]
    failed = [r for r in results if not r["passed"]]
    lines = [
        f"runs: {len(results)}, passed: {len(results) - len(failed)}, failed: {len(failed)}",
        f"wall: median {statistics.median(walls):.2f} s, range {min(walls):.2f}-{max(walls):.2f} s"
        + (
            f", mean {statistics.mean(walls):.2f} s, stdev {statistics.stdev(walls):.2f} s"
            if len(walls) > 1
            else ""
        ),
    ]
    for result in failed:
        lines.append(
            f"FAILED run {result['index']} (exit {result['code']}), reports kept in {result['dir']}:"
        )
        lines += [f"  {p}" for p in result["problems"]]
    print("\n".join(lines))
    if args.markdown:
        command = "bench/bench_stability.py " + " ".join(argv if argv is not None else sys.argv[1:])
        load = os.getloadavg()
        body = [
            "# Stability: consecutive clean offline runs",
            "",
            f"- machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
            f"- date: {started_at} (load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})",
            f"- command: `.venv/bin/python {command.strip()}`",
            "- each run: a cold `pytest -m offline -p no:cacheprovider --reports-dir=DIR`, one after another",
            "",
            "| runs | passed | failed | wall median | wall range |",
            "|---|---|---|---|---|",
            f"| {len(results)} | {len(results) - len(failed)} | {len(failed)} "
            f"| {statistics.median(walls):.2f} s | {min(walls):.2f}-{max(walls):.2f} s |",
            "",
            "Per-run wall (s): " + ", ".join(f"{w:.2f}" for w in walls),
            "",
        ]
        if failed:
            body += ["## Failed runs", ""]
            for result in failed:
                body.append(f"- run {result['index']} (exit {result['code']}), reports `{result['dir']}`:")
                body += [f"  - {p}" for p in result["problems"]]
        else:
            body.append("No run failed.")
        args.markdown.write_text("\n".join(body) + "\n")
    if not failed and not args.keep_dir and not args.keep_all:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
