"""Whole offline runs on the embedded emulated cluster: default, --drift fail, a 4-GPU VM size, and the
node-image install path. Each run happens once (in the background pool) and feeds several tests."""

from __future__ import annotations

from pathlib import Path

from suite_selftest_lib import SuiteRun, run_suite, suite_run

SUITE_RUNS = ("default", "drift-fail", "nc24", "node-image", "many-nodes-broken")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NODE = "Standard_NC6-0"
WORKLOADS = ("mnist-job", "cuda-vectoradd", "nvidia-smi")
DAEMONSET_PATH_TESTS = {
    "test_kubernetes_is_1_10_or_later": "before-you-begin",
    "test_nodes_are_ready_with_the_gpu_vm_size": "create-an-aks-cluster",
    "test_daemonset_rolls_out_on_every_gpu_node": "install-nvidia-device-plugin",
    f"test_device_plugin_pod_runs_on_the_gpu_node[{NODE}]": "install-nvidia-device-plugin",
    f"test_capacity_and_allocatable_show_nvidia_gpu[{NODE}]": "confirm-that-gpus-are-schedulable",
    **{
        f"{test}[{workload}-on-Standard_NC6]": section
        for workload in WORKLOADS
        for test, section in (
            ("test_workload_is_scheduled_on_a_gpu_node", "run-a-gpu-enabled-workload"),
            (
                "test_workload_completes_and_its_logs_prove_the_gpu",
                "view-the-status-and-output-of-the-gpu-enabled-workload",
            ),
            ("test_deleting_the_workload_removes_it_and_its_pods", "clean-up-resources"),
        )
    },
    "test_a_busy_gpu_is_not_shared_and_the_second_pod_waits": "beyond-the-article",
    "test_capacity_survives_a_device_plugin_restart": "beyond-the-article",
}
VIEW_MNIST = "test_workload_completes_and_its_logs_prove_the_gpu[mnist-job-on-Standard_NC6]"
CREATE = "test_nodes_are_ready_with_the_gpu_vm_size"
NODE_IMAGE_TEST = "test_node_image_runs_the_plugin_without_a_daemonset"
# Steps that wait on the cluster, so their JUnit case must carry the wait's timeline.
WAITING_STEPS = (
    CREATE,
    "test_daemonset_rolls_out_on_every_gpu_node",
    *(f"test_workload_is_scheduled_on_a_gpu_node[{w}-on-Standard_NC6]" for w in WORKLOADS),
    *(f"test_workload_completes_and_its_logs_prove_the_gpu[{w}-on-Standard_NC6]" for w in WORKLOADS),
)


@suite_run("default")
def _default(workdir: Path) -> SuiteRun:
    return run_suite("-m", "offline", reports=workdir / "reports")


@suite_run("drift-fail")
def _drift_fail(workdir: Path) -> SuiteRun:
    return run_suite("-m", "offline", "--drift", "fail", reports=workdir / "reports")


@suite_run("nc24")
def _nc24(workdir: Path) -> SuiteRun:
    return run_suite("-m", "offline", "--vm-size", "Standard_NC24", reports=workdir / "reports")


@suite_run("many-nodes-broken")
def _many_nodes_broken(workdir: Path) -> SuiteRun:
    # Ten GPU nodes (two sizes x 5) whose GPUs all turn Unhealthy: 30 failing tests.
    return run_suite(
        "-m",
        "offline",
        "--vm-size",
        "Standard_NC6",
        "--vm-size",
        "Standard_NC12",
        "--nodes",
        "5",
        "--emulator-fault",
        "device-unhealthy",
        reports=workdir / "reports",
    )


@suite_run("node-image")
def _node_image(workdir: Path) -> SuiteRun:
    return run_suite("-m", "offline", "--install-path", "node-image", reports=workdir / "reports")


# 1. the default run -------------------------------------------------------------------------
def test_default_run_exits_0_with_one_pass_row_per_executed_step(suite_runs) -> None:
    run = suite_runs.get("default")
    assert run.ret == 0, run.describe()
    assert f"{len(DAEMONSET_PATH_TESTS)} passed, 1 deselected" in run.stdout, run.describe()
    steps = run.steps()
    assert {name: row["article_section"] for name, row in steps.items()} == DAEMONSET_PATH_TESTS
    assert len(run.summary()["steps"]) == len(DAEMONSET_PATH_TESTS)  # one row per step, no duplicates
    assert {name: row["verdict"] for name, row in steps.items()} == dict.fromkeys(
        DAEMONSET_PATH_TESTS, "pass"
    )
    assert run.summary()["overall"] == "pass"
    assert run.summary()["totals"] == {
        "pass": len(DAEMONSET_PATH_TESTS),
        "fail": 0,
        "doc-drift": 0,
        "unavailable": 0,
    }


def test_default_run_junit_cases_carry_the_run_and_step_properties(suite_runs) -> None:
    run = suite_runs.get("default")
    cases = run.junit_cases()
    assert set(cases) == set(DAEMONSET_PATH_TESTS)
    for name, (case, props) in cases.items():
        assert case.find("failure") is None and case.find("error") is None and case.find("skipped") is None
        assert props["backend"] == ["emulated"], name
        assert props["emulated"] == ["true"], name
        assert props["article_section"] == [DAEMONSET_PATH_TESTS[name]], name
        assert props["verdict"] == ["pass"], name
        for key in ("kubernetes_version", "vm_size", "gpu_model", "device_plugin_image", "evidence"):
            assert key in props, (name, key)
    # Run-level facts become known as the article goes (version and VM size at create, model at view):
    # once known, every later case carries the article's values.
    for name in list(DAEMONSET_PATH_TESTS)[1:]:
        assert cases[name][1]["kubernetes_version"][0].startswith("v1."), name
        assert cases[name][1]["vm_size"] == ["Standard_NC6"], name
    view = cases[VIEW_MNIST][1]
    assert view["vm_size"] == ["Standard_NC6"]
    assert view["gpu_model"] == ["Tesla K80"]
    assert view["device_plugin_image"] == ["mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11"]
    for name in WAITING_STEPS:
        timeline = cases[name][1].get("step_timeline")
        assert timeline and timeline[0].strip(), (name, "no step_timeline")
    # Parametrized steps name their node and workload.
    for name, (_, props) in cases.items():
        if "[" in name and "exclusivity" not in name:
            assert props["gpu_node"] == ["aks-nodepool1-28993262-0"], (name, props.get("gpu_node"))
        if name.startswith(("test_workload_", "test_deleting_the_workload")):
            assert props["workload"] == [name.split("[")[1].split("-on-")[0]], name
    run_info = run.summary()["run"]
    assert run_info["vm_size"] == "Standard_NC6" and run_info["gpu_model"] == "Tesla K80"
    assert run_info["emulated"] is True and run_info["backend"] == "emulated"


def test_default_run_runs_each_workload_from_creation_to_cleanup_before_the_next(suite_runs) -> None:
    # JUnit lists test cases in the order they ran. On a one-GPU node a second workload created before
    # the first is cleaned up would wait for its GPU: each case must be one run -> view -> clean-up block.
    ran = [name for name in suite_runs.get("default").junit_cases() if "-on-Standard_NC6]" in name]
    expected = [
        f"{test}[{workload}-on-Standard_NC6]"
        for workload in WORKLOADS
        for test in (
            "test_workload_is_scheduled_on_a_gpu_node",
            "test_workload_completes_and_its_logs_prove_the_gpu",
            "test_deleting_the_workload_removes_it_and_its_pods",
        )
    ]
    assert ran == expected


def test_default_run_says_emulated_and_plots_the_accuracy_curve(suite_runs) -> None:
    run = suite_runs.get("default")
    assert "EMULATED" in (run.reports / "summary.md").read_text()
    assert "EMULATED cluster" in run.stdout
    plots = sorted(run.reports.glob("accuracy-*.png"))
    assert plots, list(run.reports.iterdir())
    assert plots[0].read_bytes()[:8] == PNG_MAGIC
    assert plots[0].stat().st_size > 1000


def test_default_run_reports_retired_vm_size_drift_but_passes(suite_runs) -> None:
    run = suite_runs.get("default")
    create = run.steps()[CREATE]
    assert create["verdict"] == "pass"
    assert any(e.startswith("doc drift: [retired-vm-size]") for e in create["evidence"]), create
    drift_props = run.junit_cases()[CREATE][1].get("doc_drift", [])
    assert any("retired-vm-size" in d and "Standard_NC6" in d for d in drift_props), drift_props
    assert "retired-vm-size" in (run.reports / "summary.md").read_text()
    # The summary's own drift list carries every finding once, whichever steps found it.
    assert [d["rule_id"] for d in run.summary()["doc_drift"]] == [
        "kubernetes-version-floor",  # found by before-you-begin, which reads the server's version
        "retired-vm-size",
        "device-plugin-image-outdated",
    ]
    drift_section = (run.reports / "summary.md").read_text().split("## Doc drift")[1].split("##")[0]
    assert "[retired-vm-size] VM size Standard_NC6 (Tesla K80) was retired on 2023-08-31" in drift_section
    assert "none found" not in drift_section
    # The suite removed its objects (a leak would fail the run) and stopped its embedded cluster:
    # no process of the run (emulator, device plugin, workload) outlives it.
    assert "cleanup FAILED" not in run.stdout
    assert run.extra["left_behind"] == [], run.extra["left_behind"]


# 2. --drift fail ------------------------------------------------------------------------------
def test_drift_fail_makes_create_an_aks_cluster_a_doc_drift_verdict(suite_runs) -> None:
    run = suite_runs.get("drift-fail")
    assert run.ret == 1, run.describe()
    assert run.steps()[CREATE]["verdict"] == "doc-drift"
    assert run.summary()["overall"] != "pass"
    assert run.summary()["totals"]["doc-drift"] >= 1
    case, props = run.junit_cases()[CREATE]
    assert props["verdict"] == ["doc-drift"]
    failure = case.find("failure")
    assert failure is not None and "retired-vm-size" in (failure.get("message", "") + (failure.text or ""))
    md = (run.reports / "summary.md").read_text()
    create_row = next(line for line in md.splitlines() if line.startswith("| `create-an-aks-cluster`"))
    assert "**DOC-DRIFT**" in create_row
    assert "DOC-DRIFT" in run.stdout and "retired-vm-size" in run.stdout


# 3. a multi-GPU VM size -----------------------------------------------------------------------
def test_nc24_profile_passes_with_four_gpus_advertised(suite_runs) -> None:
    run = suite_runs.get("nc24")
    assert run.ret == 0, run.describe()
    steps = run.steps()
    assert all(row["verdict"] == "pass" for row in steps.values()), steps
    confirm = " ".join(steps["test_capacity_and_allocatable_show_nvidia_gpu[Standard_NC24-0]"]["evidence"])
    assert (
        "(Standard_NC24): Capacity nvidia.com/gpu: 4, Allocatable nvidia.com/gpu: 4 (VM size has 4)"
        in confirm
    )
    assert run.summary()["run"]["vm_size"] == "Standard_NC24"
    assert run.junit_cases()[CREATE][1]["vm_size"] == ["Standard_NC24"]


# 4. the node-image install path -----------------------------------------------------------------
def test_node_image_path_runs_the_specialized_image_section_not_the_daemonset(suite_runs) -> None:
    run = suite_runs.get("node-image")
    assert run.ret == 0, run.describe()
    steps = run.steps()
    assert NODE_IMAGE_TEST in steps
    assert steps[NODE_IMAGE_TEST]["article_section"] == "use-the-aks-specialized-gpu-image-preview"
    assert steps[NODE_IMAGE_TEST]["verdict"] == "pass"
    assert "test_daemonset_rolls_out_on_every_gpu_node" not in steps
    assert "test_capacity_survives_a_device_plugin_restart" not in steps  # no plugin pod to restart
    assert "install-nvidia-device-plugin" not in {row["article_section"] for row in steps.values()}
    assert all(row["verdict"] == "pass" for row in steps.values()), steps
    assert "[retired-gpu-dedicated-vhd]" in " ".join(steps[NODE_IMAGE_TEST]["evidence"])
    props = run.junit_cases()[NODE_IMAGE_TEST][1]
    evidence = " ".join(props["evidence"])  # the step records two outcomes: both are in JUnit
    assert "no manual device-plugin DaemonSet: the node image runs the plugin" in evidence
    assert "Capacity nvidia.com/gpu: 1, Allocatable nvidia.com/gpu: 1" in evidence
    drift = props.get("doc_drift", [])
    assert any("UseGPUDedicatedVHD" in d for d in drift), drift


# 5. many nodes broken at once -----------------------------------------------------------------------
def test_each_broken_node_fails_its_own_test_and_failure_bundles_are_capped(suite_runs) -> None:
    run = suite_runs.get("many-nodes-broken")
    assert run.ret == 1, run.describe()
    steps = run.steps()
    capacity = {
        n: r for n, r in steps.items() if n.startswith("test_capacity_and_allocatable_show_nvidia_gpu[")
    }
    assert sorted(capacity) == sorted(
        f"test_capacity_and_allocatable_show_nvidia_gpu[{size}-{i}]"
        for size in ("Standard_NC6", "Standard_NC12")
        for i in range(5)
    )
    for name, row in capacity.items():  # each names its own node and its own count
        assert row["verdict"] == "fail", name
        assert "is 0 while capacity is" in row["evidence"][0] and "Unhealthy" in row["evidence"][0], row
    failed = [n for n, r in steps.items() if r["verdict"] == "fail"]
    assert len(failed) > 20, failed
    bundles = [p for p in run.reports.iterdir() if p.is_dir()]
    assert len(bundles) == 20, sorted(p.name for p in bundles)
    capped = [props for _, props in run.junit_cases().values() if "bundle" in props]
    assert len(capped) == len(failed) - 20
    assert all(p["bundle"][0].startswith("not written: 20 failure bundles already") for p in capped)
