"""The emulator's fault catalogue through the real suite: one child `pytest -m offline --emulator-fault
NAME` per fault (all in the shared background pool), each judged by what a user would see.

For a fault that breaks the cluster: exit code 1; every row before the fault's article section
passes; the fault's section fails first, its failure line names the cause in a user's words, its
failure bundle reports/<test-id>/ holds the evidence; the rows after it fail as prerequisites or pass
where they are independent (EXPECT says which, per section). For the transient fault the run passes
and the fault is shown to have fired. For every fault nothing is left afterwards: no process of the
run, no emulator workdir or cluster root, no socket, no leak line (except where the leak is the
fault). Rows are matched by article section, verdict and failure text, never by test function name.

The suite runs three workloads (the article's MNIST Job, the vectorAdd pod, the nvidia-smi pod), each
run -> view -> clean-up before the next: a fault in the article's workload fails only that case's
rows, the other workloads' rows pass (Expect.own says which rows of the section fail).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from suite_selftest_lib import (
    REPO,
    SuiteRun,
    bundle_dir,
    child_env,
    failure_line,
    private_tmpdir,
    run_suite,
    suite_run,
)

from gpuconf.checks.article import section_rank
from gpuconf.emulator.faults import FAULTS
from gpuconf.emulator.faults.catalogue import CLEAN_UP, CONFIRM, CREATE, INSTALL, RUN, TRANSIENT, VIEW

BEYOND = "beyond-the-article"
NODE = "aks-nodepool1-28993262-0"
PLUGIN_IMAGE = "mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11"
WORKLOAD_IMAGE = "mcr.microsoft.com/azuredocs/samples-tf-mnist-demo:gpu"
LEAK_LINE = "cleanup FAILED, left behind"
# A failing step that fails fast (a permanent state seen) ends in a second or two; one that burns its
# named timeout takes >= 20 s (the emulated tier's shortest budget that a fault can hit).
FAIL_FAST_S = 10.0


@dataclass(frozen=True)
class Rule:
    """Rows of a section with this verdict whose failure line contains `says` (None: anything), of the
    tests whose id contains `test` (None: any test)."""

    verdict: str
    says: str | None = None
    test: str | None = None

    def matches(self, row: dict[str, Any]) -> bool:
        return (
            row["verdict"] == self.verdict
            and (self.says is None or self.says in failure_line(row))
            and (self.test is None or self.test in row["test_id"])
        )


PASS = Rule("pass")
ARTICLE_JOB = "mnist-job"
OTHER_WORKLOADS = ("cuda-vectoradd", "nvidia-smi")


def article_job_only(says: str | None = None) -> tuple[Rule, ...]:
    """A section's rows when a fault hits only the article's workload: its row fails, the others pass."""
    return (Rule("fail", says, ARTICLE_JOB), *(Rule("pass", None, w) for w in OTHER_WORKLOADS))


def prereq(section: str) -> Rule:
    return Rule("fail", f"prerequisite step '{section}' failed")


def fails(says: str) -> Rule:
    return Rule("fail", says)


def after(
    section: str, rules: tuple[Rule, ...], **overrides: tuple[Rule, ...]
) -> dict[str, tuple[Rule, ...]]:
    """The same rules for every section after `section` (article order, then beyond-the-article),
    with per-section overrides (keys: the section anchor with `-` as `_`)."""
    later = [
        s for s in (CREATE, INSTALL, CONFIRM, RUN, VIEW, CLEAN_UP) if section_rank(s) > section_rank(section)
    ]
    table = {s: rules for s in [*later, BEYOND]}
    table.update({key.replace("_", "-"): value for key, value in overrides.items()})
    return table


@dataclass(frozen=True)
class Expect:
    """What a fault must look like in the suite's output."""

    words: tuple[str, ...] = ()  # all in the failure line of the first failing row of the fault's section
    later: dict[str, tuple[Rule, ...]] = field(default_factory=dict)  # section after it -> its rows
    # file pattern inside reports/<test-id>/ -> texts one such file holds ("re:" a regex, "!" must lack)
    bundle: dict[str, tuple[str, ...]] = field(default_factory=dict)
    args: tuple[str, ...] = ()  # besides -m offline --emulator-fault NAME
    fail_fast: bool = True  # the failing step ends on a permanent state, not on its named timeout
    own: tuple[Rule, ...] = ()  # the fault's section's rows (empty: every row fails)
    # Rows of earlier sections that may fail all the same: a later workload case, whose run waits for
    # the clean-up of the case before it.
    before_exempt: tuple[Rule, ...] = ()
    seconds: float = 10.0  # rough child-run time here, to start the long runs first


CONFIRM_LATER = after(CONFIRM, (prereq(CONFIRM),))
INSTALL_LATER = after(INSTALL, (prereq(INSTALL),))
# A fault in the article's workload (its image or its program): the other workloads pass, and so does
# every clean-up (the Job is created, so it is deleted), and so do the checks beyond the article
# (their pods are pause containers).
ARTICLE_WORKLOAD_LATER = after(VIEW, (PASS,))
# Every workload's pod waits for a GPU it cannot get: each run fails by itself, each clean-up
# deletes the pending workload.
RUN_LATER = after(
    RUN, (prereq(RUN),), clean_up_resources=(PASS,), beyond_the_article=(Rule("fail", test="busy_gpu"), PASS)
)
EXPECT: dict[str, Expect] = {
    "plugin-never-registers": Expect(
        words=(f"{NODE} (Standard_NC6) advertises no nvidia.com/gpu", "never registered", "expected 1"),
        later=CONFIRM_LATER,
        bundle={
            "device-plugin/*.log": ("waiting for kubelet at", "kubelet-unused/device-plugins/kubelet.sock"),
            "nodes.txt": ("not advertised",),
        },
        seconds=13,
    ),
    "plugin-zero-devices": Expect(
        words=(
            f"{NODE} (Standard_NC6) advertises nvidia.com/gpu: 0 under Capacity",
            "registered but found no GPU",
            "expected 1",
        ),
        later=CONFIRM_LATER,
        bundle={
            "device-plugin/*.log": ("registered with kubelet as nvidia.com/gpu (0 devices)",),
            "nodes.txt": (r"re:nvidia\.com/gpu\s+0\s+0", "!not advertised"),
        },
        seconds=13,
    ),
    "device-unhealthy": Expect(
        words=(f"allocatable nvidia.com/gpu is 0 while capacity is 1 on {NODE}", "Unhealthy"),
        later=CONFIRM_LATER,
        bundle={
            "nodes.txt": (r"re:nvidia\.com/gpu\s+1\s+0\s+<-- differs",),
            "device-plugin/*.log": ("is now Unhealthy",),
        },
        seconds=13,
    ),
    "plugin-crashloop": Expect(
        words=("device-plugin pod", "CrashLoopBackOff", "it keeps crashing", "last exit code 1"),
        later=INSTALL_LATER,
        bundle={
            "events.txt": ("BackOff", "Back-off restarting failed container"),
            "device-plugin/*.log": ("Failed to initialize NVML: could not load NVML library",),
        },
        seconds=9,
    ),
    "plugin-image-pull": Expect(
        words=("device-plugin pod", "ErrImagePull", "its image cannot be pulled", PLUGIN_IMAGE, "not found"),
        later=INSTALL_LATER,
        bundle={
            "events.txt": (f'Failed to pull image "{PLUGIN_IMAGE}"', "not found"),
            "pods/gpu-resources_*.describe.txt": ("ErrImagePull",),
        },
        seconds=8,
    ),
    "gpu-pool-tainted": Expect(
        words=(
            "nvidia-device-plugin-daemonset to roll out",
            "desired 0",
            f"{NODE} has taint sku=gpu:NoSchedule",
        ),
        later=INSTALL_LATER,
        bundle={"nodes.txt": ("taint sku=gpu:NoSchedule", "not advertised")},
        seconds=8,
    ),
    "node-not-ready": Expect(
        words=("every node to be Ready", NODE, "container runtime network not ready"),
        later=after(CREATE, (prereq(CREATE),)),
        bundle={
            "nodes.txt": ("condition Ready=False", "container runtime network not ready", "not healthy"),
            "events.txt": ("NodeNotReady",),
        },
        seconds=14,
    ),
    "fewer-gpus-than-vm-size": Expect(
        # The article's NC6 has one GPU: one fewer is none.
        words=(f"{NODE} (Standard_NC6) advertises nvidia.com/gpu: 0 under Capacity", "expected 1"),
        later=CONFIRM_LATER,
        bundle={
            # The plugin lists the VM's one GPU; the node advertises one fewer: 0.
            "device-plugin/*.log": ("registered with kubelet as nvidia.com/gpu (1 devices)",),
            "nodes.txt": (r"re:nvidia\.com/gpu\s+0\s+0", "!not advertised"),
        },
        seconds=13,
    ),
    "workload-image-pull": Expect(
        words=("workload pod", "ErrImagePull", "its image cannot be pulled", WORKLOAD_IMAGE),
        own=article_job_only(),
        later=ARTICLE_WORKLOAD_LATER,
        bundle={
            "events.txt": (f'Failed to pull image "{WORKLOAD_IMAGE}"',),
            "pods/default_samples-tf-mnist-demo-*.describe.txt": ("ErrImagePull",),
        },
        seconds=7,
    ),
    "workload-exits-nonzero": Expect(
        words=("workload pod", "CrashLoopBackOff", "it keeps crashing", "last exit code 1"),
        own=article_job_only(),
        later=ARTICLE_WORKLOAD_LATER,
        bundle={
            "logs/default_samples-tf-mnist-demo-*.log": ("CUDA_ERROR_ECC_UNCORRECTABLE",),
            "events.txt": ("BackOff", "Back-off restarting failed container samples-tf-mnist-demo"),
        },
        seconds=6,
    ),
    "workload-cpu-fallback": Expect(
        words=("do not prove GPU training", "no GPU discovery line"),
        own=article_job_only(),
        later=ARTICLE_WORKLOAD_LATER,
        bundle={
            "logs/default_samples-tf-mnist-demo-*.log": (
                "training on cpu",
                "Accuracy at step",
                "!Found device",
            )
        },
        seconds=7,
    ),
    "workload-wrong-gpu": Expect(
        words=("do not prove GPU training", "GPU 0 is 'Tesla T4', expected 'Tesla K80'"),
        own=article_job_only(),
        later=ARTICLE_WORKLOAD_LATER,
        bundle={"logs/default_samples-tf-mnist-demo-*.log": ("Found device 0", "name: Tesla T4")},
        seconds=8,
    ),
    "accuracy-flat": Expect(
        words=("do not prove GPU training", "accuracy did not rise", "final 0.10"),
        own=article_job_only(),
        later=ARTICLE_WORKLOAD_LATER,
        bundle={
            "logs/default_samples-tf-mnist-demo-*.log": (
                "Accuracy at step 0: 0.1",
                "Accuracy at step 490: 0.1",
            )
        },
        seconds=8,
    ),
    "training-stops-early": Expect(
        words=("training stopped early", "last accuracy at step 240, expected step 490"),
        own=article_job_only(),
        later=ARTICLE_WORKLOAD_LATER,
        bundle={
            "logs/default_samples-tf-mnist-demo-*.log": ("Accuracy at step 240", "!Accuracy at step 250")
        },
        seconds=8,
    ),
    "gpu-held-by-other-pod": Expect(
        words=("cannot be scheduled", "Insufficient nvidia.com/gpu"),
        # Each workload asks for the GPU another tenant holds, and is refused in its own right.
        own=tuple(Rule("fail", "Insufficient nvidia.com/gpu", w) for w in (ARTICLE_JOB, *OTHER_WORKLOADS)),
        later=RUN_LATER,
        bundle={"events.txt": ("FailedScheduling", "Insufficient nvidia.com/gpu", "Pod/gpu-holder-0")},
        seconds=7,
    ),
    "job-never-scheduled": Expect(
        words=(
            "the pod of job samples-tf-mnist-demo to be scheduled",
            "every GPU node is cordoned",
            "1 node(s) were unschedulable",
        ),  # fmt: skip
        own=tuple(Rule("fail", "every GPU node is cordoned", w) for w in (ARTICLE_JOB, *OTHER_WORKLOADS)),
        later=RUN_LATER,
        bundle={
            "nodes.txt": ("unschedulable: true", "cordoned"),
            "events.txt": ("FailedScheduling", "node(s) were unschedulable"),
        },
        seconds=25,
    ),
    "rollout-too-slow": Expect(
        # Its point is a timeout: shrink the budgets (0.25 x 30 s) rather than wait out the pull.
        args=("--timeout-factor", "0.25"),
        words=("timed out", "daemonset_rollout=7.5s", "to roll out", "ready 0"),
        later=INSTALL_LATER,
        bundle={
            "events.txt": (f'Pulling image "{PLUGIN_IMAGE}"', f'!Successfully pulled image "{PLUGIN_IMAGE}"')
        },
        fail_fast=False,
        seconds=15,
    ),
    "apiserver-flaky": Expect(seconds=14),
    "cleanup-blocked-by-finalizer": Expect(
        words=("to be deleted", "Terminating", "audit.example.com/retain-logs"),
        # The article's Job's pods stay Terminating; the next workloads wait for that clean-up (a
        # Terminating pod still counts on its node), so their steps fail as its prerequisites.
        own=(
            Rule("fail", "audit.example.com/retain-logs", ARTICLE_JOB),
            *(prereq(CLEAN_UP) for _ in OTHER_WORKLOADS),
        ),  # fmt: skip
        before_exempt=tuple(
            Rule("fail", "prerequisite step 'clean-up-resources' failed", w) for w in OTHER_WORKLOADS
        ),
        later=after(CLEAN_UP, (), beyond_the_article=(prereq(CLEAN_UP), PASS)),
        bundle={
            "pods/default_samples-tf-mnist-demo-*.describe.txt": (
                "audit.example.com/retain-logs",
                "deletionTimestamp",
            )
        },
        seconds=18,
    ),
}


# The child runs, longest first so the pool's three lanes finish together --------------------------
def _run_name(fault: str) -> str:
    return f"fault:{fault}"


def _register(fault: str) -> None:
    @suite_run(_run_name(fault))
    def _run(workdir: Path) -> SuiteRun:
        args = EXPECT[fault].args if fault in EXPECT else ()
        env = child_env(TMPDIR=str(private_tmpdir(workdir)))
        return run_suite(
            "-m",
            "offline",
            "--emulator-fault",
            fault,
            *args,
            reports=workdir / "reports",
            env=env,
            watch=True,
        )


for _fault in FAULTS:
    _register(_fault)
SUITE_RUNS = tuple(
    _run_name(f) for f in sorted(FAULTS, key=lambda f: -(EXPECT[f].seconds if f in EXPECT else 60))
)
BREAKING = [f for f, fault in FAULTS.items() if fault.section != TRANSIENT]
TRANSIENTS = [f for f, fault in FAULTS.items() if fault.section == TRANSIENT]


def _params(faults: list[str]) -> list[Any]:
    return [pytest.param(fault, id=fault) for fault in faults]


# Helpers over a run's summary rows --------------------------------------------------------------
def _rows(run: SuiteRun) -> list[dict[str, Any]]:
    return run.summary()["steps"]


def _section_rows(run: SuiteRun, section: str) -> list[dict[str, Any]]:
    return [r for r in _rows(run) if r["article_section"] == section]


def _first_failure(run: SuiteRun, section: str) -> dict[str, Any]:
    failing = [r for r in _section_rows(run, section) if r["verdict"] == "fail"]
    assert failing, f"no failing row in {section}:\n" + _table(run)
    return failing[0]


def _table(run: SuiteRun) -> str:
    return "\n".join(
        f"  {r['article_section']:<58} {r['verdict']:<5} {r['duration_s']:>6.1f}s  {failure_line(r)[:160]}"
        for r in _rows(run)
    )


def _holds(text: str, want: str) -> bool:
    if want.startswith("!"):
        return want[1:] not in text
    if want.startswith("re:"):
        return re.search(want[3:], text) is not None
    return want in text


def _fault_run(suite_runs: Any, fault: str) -> SuiteRun:
    return suite_runs.get(_run_name(fault))


# The catalogue itself -----------------------------------------------------------------------------
def test_cli_lists_exactly_the_imported_catalogue() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpuconf.emulator", "faults"],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [line.split("\t") for line in done.stdout.splitlines() if line.strip()]
    assert all(len(fields) == 3 and all(fields) for fields in lines), done.stdout
    assert [fields[0] for fields in lines] == list(FAULTS)
    assert {fields[0]: fields[1] for fields in lines} == {name: f.section for name, f in FAULTS.items()}


def test_every_fault_has_an_expectation_and_every_expectation_a_fault() -> None:
    # A new fault without a self-test fails here (and in each parametrized test below).
    assert sorted(EXPECT) == sorted(FAULTS)
    for name, fault in FAULTS.items():
        assert fault.section == TRANSIENT or section_rank(fault.section) < section_rank(BEYOND), name
        expect = EXPECT[name]
        if fault.section != TRANSIENT:
            assert expect.words and expect.bundle, f"{name}: say what the failure must name and hold"
            assert BEYOND in expect.later, f"{name}: say what happens to the checks beyond the article"


# A breaking fault -------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", _params(BREAKING))
def test_fault_fails_first_in_its_section_and_later_rows_as_expected(suite_runs, fault: str) -> None:
    run = _fault_run(suite_runs, fault)
    section, expect = FAULTS[fault].section, EXPECT[fault]
    assert run.ret == 1, run.describe()
    assert "Traceback" not in run.output, run.describe()
    rows = _rows(run)
    before = [r for r in rows if section_rank(r["article_section"]) < section_rank(section)]
    exempt = expect.before_exempt
    assert before and all(PASS.matches(r) or any(e.matches(r) for e in exempt) for r in before), _table(run)
    own = _section_rows(run, section)
    if not expect.own:
        assert own and all(r["verdict"] == "fail" for r in own), _table(run)
    else:
        _assert_rows_match(section, own, expect.own, run)
    later_sections = {
        r["article_section"] for r in rows if section_rank(r["article_section"]) > section_rank(section)
    }
    assert later_sections == set(expect.later), f"sections after {section}:\n" + _table(run)
    for later in sorted(later_sections, key=section_rank):
        _assert_rows_match(later, _section_rows(run, later), expect.later[later], run)


def _assert_rows_match(
    section: str, rows: list[dict[str, Any]], rules: tuple[Rule, ...], run: SuiteRun
) -> None:
    """Every row matches one of the rules, and every rule matches a row."""
    unmatched = [r for r in rows if not any(rule.matches(r) for rule in rules)]
    assert not unmatched, f"{section}: rows match none of {rules}:\n" + _table(run)
    unused = [rule for rule in rules if not any(rule.matches(r) for r in rows)]
    assert not unused, f"{section}: no row for {unused}:\n" + _table(run)


@pytest.mark.parametrize("fault", _params(BREAKING))
def test_failure_line_names_the_cause(suite_runs, fault: str) -> None:
    run = _fault_run(suite_runs, fault)
    line = failure_line(_first_failure(run, FAULTS[fault].section))
    missing = [w for w in EXPECT[fault].words if w not in line]
    assert not missing, f"{fault}: {missing} not in the failure line:\n{line}"


@pytest.mark.parametrize("fault", _params(BREAKING))
def test_failure_bundle_holds_the_evidence(suite_runs, fault: str) -> None:
    run = _fault_run(suite_runs, fault)
    bundle = bundle_dir(run, _first_failure(run, FAULTS[fault].section))
    assert bundle.is_dir(), sorted(p.name for p in run.reports.iterdir())
    files = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())
    for name in ("README.md", "events.txt", "nodes.txt"):
        assert name in files, (bundle, files)
    assert f"node {NODE}" in (bundle / "nodes.txt").read_text()
    for pattern, wants in EXPECT[fault].bundle.items():
        matching = [f for f in files if fnmatch(f, pattern)]
        assert matching, f"{fault}: no {pattern} in {bundle}: {files}"
        texts = {f: (bundle / f).read_text(errors="replace") for f in matching}
        holding = [f for f, text in texts.items() if all(_holds(text, w) for w in wants)]
        assert holding, f"{fault}: no {pattern} holds {wants}:\n" + "\n".join(
            f"--- {f}\n{text[-2000:]}" for f, text in texts.items()
        )


@pytest.mark.parametrize("fault", _params(BREAKING))
def test_failing_step_ends_without_burning_its_timeout(suite_runs, fault: str) -> None:
    run = _fault_run(suite_runs, fault)
    row = _first_failure(run, FAULTS[fault].section)
    if not EXPECT[fault].fail_fast:
        # Its point is a timeout (rollout-too-slow): the line must name the budget to stretch.
        assert re.search(r"timed out after [\d.]+s \(\w+=[\d.]+s\)", failure_line(row)), failure_line(row)
        return
    assert row["duration_s"] < FAIL_FAST_S, f"{fault}: {row['duration_s']}s\n" + _table(run)


# The transient fault ----------------------------------------------------------------------------
@pytest.mark.parametrize("fault", _params(TRANSIENTS))
def test_transient_fault_is_ridden_out(suite_runs, fault: str) -> None:
    run = _fault_run(suite_runs, fault)
    assert run.ret == 0, run.describe()
    assert _rows(run) and all(r["verdict"] == "pass" for r in _rows(run)), _table(run)
    assert run.summary()["overall"] == "pass"


@pytest.mark.parametrize("fault", TRANSIENTS)
def test_transient_fault_really_fired(suite_runs, fault: str) -> None:
    # The emulator logs every injected answer (gpuconf/emulator/faults/apiserver.py) to its log, which
    # the watcher kept open while the backend deleted it.
    log = _fault_run(suite_runs, fault).extra["traces"].emulator_log
    assert "ready at" in log, log[-3000:]
    assert re.search(
        r"fault apiserver-flaky: answered 429 TooManyRequests to (GET|POST|PUT|PATCH|DELETE) /", log
    ), log
    assert re.search(
        r"fault apiserver-flaky: answered 500 InternalError to (GET|POST|PUT|PATCH|DELETE) /", log
    ), log


# Nothing is left -------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", list(FAULTS))
def test_run_leaves_no_process_directory_or_socket(suite_runs, fault: str) -> None:
    run = _fault_run(suite_runs, fault)
    assert run.extra["left_behind"] == [], run.extra["left_behind"]
    traces = run.extra["traces"]
    # The watcher saw what there was to see: the backend's workdir and the cluster's root (sockets in it).
    assert len(traces.workdirs()) == 1 and len(traces.cluster_roots()) == 1, traces
    assert any(s.endswith("/kubelet.sock") for s in traces.sockets), traces.sockets
    assert traces.dirs_left() == [], traces.dirs_left()
    assert traces.sockets_left() == [], traces.sockets_left()
    assert traces.tmpdir_left() == [], traces.tmpdir_left()


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "cleanup-blocked-by-finalizer"])
def test_suite_reports_no_leak(suite_runs, fault: str) -> None:
    run = _fault_run(suite_runs, fault)
    assert LEAK_LINE not in run.output, run.describe()
    assert "ERROR at teardown" not in run.stdout, run.describe()


@pytest.mark.parametrize("fault", ["cleanup-blocked-by-finalizer"])
def test_finalizer_leak_is_reported_and_fails_the_run(suite_runs, fault: str) -> None:
    run = _fault_run(suite_runs, fault)
    assert run.ret != 0
    leaks = [line for line in run.output.splitlines() if LEAK_LINE in line]
    assert len(leaks) == 1, run.describe()
    # The leak is the Job's pods, held by the operator's finalizer; nothing else leaked.
    assert "samples-tf-mnist-demo" in leaks[0], leaks[0]
    assert "audit.example.com/retain-logs" in leaks[0], leaks[0]
    assert "gpu-resources" not in leaks[0] and "nvidia-device-plugin" not in leaks[0], leaks[0]


# How long each fault's run takes (`-rP` shows the table) -----------------------------------------
def test_catalogue_run_times(suite_runs) -> None:
    times = {f: _fault_run(suite_runs, f).duration_s for f in FAULTS}
    for fault, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        row = ""
        if FAULTS[fault].section != TRANSIENT:
            failing = [
                r
                for r in _section_rows(_fault_run(suite_runs, fault), FAULTS[fault].section)
                if r["verdict"] == "fail"
            ]
            row = f"  (failing step {failing[0]['duration_s']:.1f}s)" if failing else ""
        print(f"{fault:<30} {seconds:6.1f}s{row}")
    assert all(seconds < 120 for seconds in times.values()), times
