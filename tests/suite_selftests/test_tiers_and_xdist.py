"""Markers select tiers, and `-n 2` runs the article on one worker against one shared cluster."""

from __future__ import annotations

import re
from pathlib import Path

from suite_selftest_lib import SuiteRun, child_env, run_suite, suite_run

SUITE_RUNS = ("collect-offline", "collect-neither", "xdist")
SUITE_MODULES = {p.name for p in (Path(__file__).resolve().parents[2] / "suites").glob("test_*.py")}
# The default profile: 1 NC6 node, 3 workloads; the node-image module's one test is deselected.
DEFAULT_TESTS = 16
SPAWN_SPY = """
import os, sys
argv = getattr(sys, "orig_argv", [])
if "gpuconf.emulator" in argv and "serve" in argv:
    with open(os.environ["SELFTEST_EMULATOR_SPAWNS"], "a") as log:
        log.write(f"{os.getpid()}\\n")
"""


@suite_run("collect-offline")
def _collect_offline(workdir: Path) -> SuiteRun:
    return run_suite("-m", "offline", "--collect-only", "-q", reports=workdir / "reports")


@suite_run("collect-neither")
def _collect_neither(workdir: Path) -> SuiteRun:
    return run_suite("-m", "not offline and not aks", "--collect-only", "-q", reports=workdir / "reports")


@suite_run("xdist")
def _xdist(workdir: Path) -> SuiteRun:
    # A sitecustomize on PYTHONPATH records every `python -m gpuconf.emulator serve` the run starts.
    spy = workdir / "spy"
    spy.mkdir()
    (spy / "sitecustomize.py").write_text(SPAWN_SPY)
    spawns = workdir / "emulator-spawns.txt"
    env = child_env(PYTHONPATH=str(spy), SELFTEST_EMULATOR_SPAWNS=str(spawns))
    run = run_suite("-m", "offline", "-n", "2", "-v", reports=workdir / "reports", env=env)
    run.extra["spawns"] = spawns.read_text().split() if spawns.exists() else []
    return run


# 5. tiers ---------------------------------------------------------------------------------------
def test_offline_marker_collects_every_suite_module(suite_runs) -> None:
    run = suite_runs.get("collect-offline")
    assert run.ret == 0, run.describe()
    collected = {
        line.split("::")[0].removeprefix("suites/") for line in run.stdout.splitlines() if "::" in line
    }
    # Every module but the node-image one (deselected by the default --install-path daemonset).
    assert collected == SUITE_MODULES - {"test_use_the_aks_specialized_gpu_image_preview.py"}, collected
    assert f"{DEFAULT_TESTS}/{DEFAULT_TESTS + 1} tests collected (1 deselected)" in run.stdout


def test_neither_offline_nor_aks_collects_no_suite(suite_runs) -> None:
    run = suite_runs.get("collect-neither")
    assert run.ret == 5, run.describe()  # pytest's NO_TESTS_COLLECTED
    assert "::" not in run.stdout, run.stdout
    assert f"no tests collected ({DEFAULT_TESTS + 1} deselected)" in run.stdout, run.stdout


# 6. xdist -------------------------------------------------------------------------------------
def test_two_workers_pass_on_one_cluster(suite_runs) -> None:
    run = suite_runs.get("xdist")
    assert run.ret == 0, run.describe()
    assert f"{DEFAULT_TESTS} passed" in run.stdout, run.describe()
    assert "created: 2/2 workers" in run.stdout, run.describe()
    # Exactly one embedded cluster was started for the whole run ...
    assert len(run.extra["spawns"]) == 1, run.extra["spawns"]
    # ... and every suite test ran on one worker, in article order.
    workers = re.findall(r"\[(gw\d+)\][^\n]*PASSED suites/", run.stdout)
    assert len(workers) == DEFAULT_TESTS and len(set(workers)) == 1, workers
    assert all(row["verdict"] == "pass" for row in run.summary()["steps"])
    assert len(run.summary()["steps"]) == DEFAULT_TESTS
    assert run.extra["left_behind"] == [], run.extra["left_behind"]  # the last worker tore it down
