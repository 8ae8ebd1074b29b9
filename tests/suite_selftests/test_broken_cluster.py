"""A cluster broken by hand fails in the right article section, names the cause, leaves a failure
bundle, and later steps fail at once as `prerequisite` failures.

The cluster is our own `python -m gpuconf.emulator serve` (the suite reaches it with --cluster
kubeconfig, as any existing cluster); it is broken with kubectl before the suite runs, and stopped
with SIGTERM afterwards, whatever happened, and must leave no process behind.
"""

from __future__ import annotations

import re
from pathlib import Path

from suite_selftest_lib import OwnServer, SuiteRun, run_suite, suite_run

SUITE_RUNS = ("tainted-gpu-node", "cordoned-gpu-node")
NODE = "aks-nodepool1-28993262-0"  # the article's node, the emulator's default pool
# Real-cluster budgets (this backend cannot know the cluster is emulated), scaled down: the waits that
# must fail end fast; the ones that must pass keep room for a loaded machine.
FAST = ("--timeout-factor", "0.01")  # daemonset_rollout 600 s -> 6 s, should the taint fail-fast miss
MEDIUM = ("--timeout-factor", "0.02")  # rollout/gpu_advertised 12 s to pass; cordon settle 1.5 s
INSTALL = "test_daemonset_rolls_out_on_every_gpu_node"
WORKLOAD_CASES = ("mnist-job", "cuda-vectoradd", "nvidia-smi")  # each on the one size found: NC6
RUN_JOB = "test_workload_is_scheduled_on_a_gpu_node[mnist-job-on-Standard_NC6]"
VIEW_JOB = "test_workload_completes_and_its_logs_prove_the_gpu[mnist-job-on-Standard_NC6]"
PLUGIN_ON_NODE = "test_device_plugin_pod_runs_on_the_gpu_node[Standard_NC6-0]"
CAPACITY = "test_capacity_and_allocatable_show_nvidia_gpu[Standard_NC6-0]"


def _against_broken_server(workdir: Path, *kubectl: tuple[str, ...], extra: tuple[str, ...] = ()) -> SuiteRun:
    server = OwnServer(workdir / "server", "--nodes", "1", "--vm-size", "Standard_NC6")
    try:
        assert server.kubectl("get", "nodes", "-o", "name").split() == [f"node/{NODE}"]
        for command in kubectl:
            server.kubectl(*command)
        run = run_suite(
            "--cluster",
            "kubeconfig",
            f"--kubeconfig={server.kubeconfig}",
            *extra,
            reports=workdir / "reports",
        )
        run.extra["children_before_stop"] = server.running_children()
        run.extra["plugin_pods_kept"] = server.kubectl(
            "get", "pods", "-n", "gpu-resources", "-o", "name", "--ignore-not-found"
        ).split()
    finally:
        left = server.stop()
    run.extra["left_behind"] = left
    run.extra["server_exit"] = server.proc.returncode
    return run


@suite_run("tainted-gpu-node")
def _tainted(workdir: Path) -> SuiteRun:
    # AKS GPU pools are often tainted sku=gpu:NoSchedule; the article's DaemonSet does not tolerate it.
    return _against_broken_server(workdir, ("taint", "nodes", NODE, "sku=gpu:NoSchedule"), extra=FAST)


@suite_run("cordoned-gpu-node")
def _cordoned(workdir: Path) -> SuiteRun:
    # A cordoned node still runs DaemonSet pods (they tolerate unschedulable), but not the Job's pod.
    # --keep-namespace-on-failure leaves the plugin running: stopping the server must end it too.
    return _against_broken_server(workdir, ("cordon", NODE), extra=(*MEDIUM, "--keep-namespace-on-failure"))


def _failure_text(run: SuiteRun, test: str) -> str:
    case, _ = run.junit_cases()[test]
    failure = case.find("failure")
    assert failure is not None, f"{test} did not fail"
    return failure.get("message", "") + "\n" + (failure.text or "")


def _bundle_dir(run: SuiteRun, test_module: str, test: str) -> Path:
    # fixtures/reporting.py names a bundle after the test id, with [ ] and other odd characters as "_".
    return run.reports / re.sub(r"[^A-Za-z0-9._-]+", "_", f"suites_{test_module}.py_{test}").strip("_")


def _assert_bundle(run: SuiteRun, test_module: str, test: str) -> str:
    bundle = _bundle_dir(run, test_module, test)
    assert bundle.is_dir(), sorted(p.name for p in run.reports.iterdir())
    for name in ("events.txt", "nodes.txt", "README.md"):
        assert (bundle / name).is_file(), (bundle, name)
    nodes = (bundle / "nodes.txt").read_text()
    assert f"node {NODE}" in nodes and "nvidia.com/gpu" in nodes
    return nodes


def _assert_server_stopped_clean(run: SuiteRun) -> None:
    assert run.extra["left_behind"] == [], (
        f"processes left in the emulator's group: {run.extra['left_behind']}"
    )
    assert run.extra["server_exit"] is not None


# (a) a taint the article's DaemonSet does not tolerate ------------------------------------------
def test_tainted_gpu_node_fails_the_install_step(suite_runs) -> None:
    run = suite_runs.get("tainted-gpu-node")
    assert run.ret == 1, run.describe()
    steps = run.steps()
    assert steps["test_kubernetes_is_1_10_or_later"]["verdict"] == "pass"
    assert steps["test_nodes_are_ready_with_the_gpu_vm_size"]["verdict"] == "pass"
    install = steps[INSTALL]
    assert install["article_section"] == "install-nvidia-device-plugin"
    assert install["verdict"] == "fail"
    text = _failure_text(run, INSTALL)
    assert "daemonset gpu-resources/nvidia-device-plugin-daemonset to roll out" in text
    assert "desired 0" in text  # the DaemonSet placed no pod at all ...
    # ... and the step says why at once instead of burning its daemonset_rollout budget.
    assert f"{NODE} has taint sku=gpu:NoSchedule, which the DaemonSet does not tolerate" in text
    assert install["duration_s"] < 5.0, install


def test_tainted_gpu_node_names_the_taint_in_its_per_node_test(suite_runs) -> None:
    run = suite_runs.get("tainted-gpu-node")
    row = run.steps()[PLUGIN_ON_NODE]
    assert row["article_section"] == "install-nvidia-device-plugin" and row["verdict"] == "fail"
    assert (
        f"no device-plugin pod on GPU node {NODE}: its taint sku=gpu:NoSchedule is not tolerated by "
        "daemonset nvidia-device-plugin-daemonset"
    ) in row["evidence"][0], row["evidence"][0]


def test_tainted_gpu_node_later_steps_fail_as_prerequisites(suite_runs) -> None:
    run = suite_runs.get("tainted-gpu-node")
    later = [
        CAPACITY,
        *(
            f"{test}[{case}-on-Standard_NC6]"
            for case in WORKLOAD_CASES
            for test in (
                "test_workload_is_scheduled_on_a_gpu_node",
                "test_workload_completes_and_its_logs_prove_the_gpu",
                "test_deleting_the_workload_removes_it_and_its_pods",
            )
        ),
        "test_a_busy_gpu_is_not_shared_and_the_second_pod_waits",
        "test_capacity_survives_a_device_plugin_restart",
    ]
    steps = run.steps()
    for name in later:
        assert steps[name]["verdict"] == "fail", name
        assert "prerequisite step 'install-nvidia-device-plugin' failed" in steps[name]["evidence"][0], name
    # Each fails at once, not after its own timeout.
    assert all(steps[name]["duration_s"] < 2.0 for name in later), {n: steps[n]["duration_s"] for n in later}


def test_tainted_gpu_node_leaves_a_failure_bundle(suite_runs) -> None:
    run = suite_runs.get("tainted-gpu-node")
    nodes = _assert_bundle(run, "test_install_nvidia_device_plugin", INSTALL)
    assert "not advertised" in nodes  # the node shows why: no nvidia.com/gpu capacity
    events = (_bundle_dir(run, "test_install_nvidia_device_plugin", INSTALL) / "events.txt").read_text()
    assert f"Node/{NODE}" in events
    _assert_server_stopped_clean(run)


# (b) a cordoned GPU node ------------------------------------------------------------------------
def test_cordoned_gpu_node_fails_the_workload_step_naming_unschedulable(suite_runs) -> None:
    run = suite_runs.get("cordoned-gpu-node")
    assert run.ret == 1, run.describe()
    steps = run.steps()
    for name in (
        "test_kubernetes_is_1_10_or_later",
        "test_nodes_are_ready_with_the_gpu_vm_size",
        INSTALL,
        PLUGIN_ON_NODE,
        CAPACITY,
    ):
        assert steps[name]["verdict"] == "pass", (name, steps[name])
    assert steps[RUN_JOB]["article_section"] == "run-a-gpu-enabled-workload"
    assert steps[RUN_JOB]["verdict"] == "fail"
    text = _failure_text(run, RUN_JOB)
    assert "every GPU node is cordoned" in text
    assert "FailedScheduling" in text and "1 node(s) were unschedulable" in text
    view = steps[VIEW_JOB]
    assert view["verdict"] == "fail"
    assert "prerequisite step 'run-a-gpu-enabled-workload' failed" in view["evidence"][0]
    _assert_bundle(run, "test_run_a_gpu_enabled_workload", RUN_JOB)
    # --keep-namespace-on-failure: the plugin DaemonSet's pod was left in place, its process running ...
    assert run.extra["plugin_pods_kept"], run.extra
    assert any("gpuconf.deviceplugin" in p for p in run.extra["children_before_stop"]), run.extra
    # ... and SIGTERM to the server ended it with the server.
    _assert_server_stopped_clean(run)
