"""Missing infrastructure is the `unavailable` verdict with a reason that says what to do: every step
is skipped with that reason, the run does not fail, nothing crashes."""

from __future__ import annotations

import sys
from pathlib import Path

from suite_selftest_lib import SuiteRun, child_env, closed_port, run_suite, suite_run, write_kubeconfig

SUITE_RUNS = ("unreachable", "kind", "aks", "aks-flag")
# Every suite test of one GPU node (or the one catch-all slot when the inventory is unknown) and the
# three workloads on one VM size: 5 single steps + 3 x (run, view, clean-up) + 2 beyond the article.
SUITE_TESTS = 16


@suite_run("unreachable")
def _unreachable(workdir: Path) -> SuiteRun:
    port = closed_port()
    kubeconfig = write_kubeconfig(workdir / "kubeconfig", f"http://127.0.0.1:{port}")
    run = run_suite("--cluster", "kubeconfig", f"--kubeconfig={kubeconfig}", reports=workdir / "reports")
    run.extra["server"] = f"http://127.0.0.1:{port}"
    return run


@suite_run("kind")
def _kind(workdir: Path) -> SuiteRun:
    # PATH without any docker client: "no Docker" holds here and on a Docker host alike.
    bare = workdir / "bin"
    bare.mkdir()
    python_dir = str(Path(sys.executable).parent)
    return run_suite(
        "--cluster", "kind", reports=workdir / "reports", env=child_env(PATH=f"{python_dir}:{bare}")
    )


@suite_run("aks")
def _aks(workdir: Path) -> SuiteRun:
    # child_env() drops AZURE_* and GPUCONF_*: no subscription from anywhere. An empty HOME hides any
    # az CLI profile.
    return run_suite("-m", "aks", reports=workdir / "reports", env=child_env(HOME=str(workdir)))


@suite_run("aks-flag")
def _aks_flag(workdir: Path) -> SuiteRun:
    # `--cluster aks` without `-m aks` (the whole suite, every marker): the same missing subscription.
    return run_suite("--cluster", "aks", reports=workdir / "reports", env=child_env(HOME=str(workdir)))


def _assert_all_unavailable(run: SuiteRun, reason: str) -> None:
    assert run.ret == 0, run.describe()  # unavailable is not a failure of the cluster
    assert "Traceback" not in run.output
    assert f"{SUITE_TESTS} skipped" in run.stdout, run.describe()
    steps = run.summary()["steps"]
    assert len(steps) == SUITE_TESTS
    for row in steps:
        assert row["verdict"] == "unavailable", row
        assert reason in row["evidence"][0], row
    unavailable = run.summary()["unavailable"]
    assert len(unavailable) == SUITE_TESTS and all(reason in u["reason"] for u in unavailable)
    for name, (case, props) in run.junit_cases().items():
        assert props["verdict"] == ["unavailable"], name
        skipped = case.find("skipped")
        assert skipped is not None and reason in skipped.get("message", ""), name
    assert "## Unavailable" in (run.reports / "summary.md").read_text()


def test_unreachable_api_server_is_unavailable_naming_the_address(suite_runs) -> None:
    run = suite_runs.get("unreachable")
    _assert_all_unavailable(run, f"unavailable: cannot reach the API server at {run.extra['server']}")
    assert run.summary()["run"]["backend"] == "kubeconfig"
    # Its GPU nodes could not be read at collection: one catch-all slot, workloads on any GPU node.
    steps = run.steps()
    assert "test_capacity_and_allocatable_show_nvidia_gpu[every-gpu-node]" in steps, sorted(steps)
    assert "test_workload_is_scheduled_on_a_gpu_node[nvidia-smi]" in steps, sorted(steps)


def test_kind_without_docker_is_unavailable(suite_runs) -> None:
    run = suite_runs.get("kind")
    _assert_all_unavailable(run, "unavailable: kind needs a Docker engine")


def test_aks_tier_without_a_subscription_is_unavailable(suite_runs) -> None:
    run = suite_runs.get("aks")
    _assert_all_unavailable(run, "unavailable: no Azure subscription")
    assert "AZURE_SUBSCRIPTION_ID" in run.steps()["test_kubernetes_is_1_10_or_later"]["evidence"][0]
    # The tests are those of the cluster it would provision: one node of today's minimum GPU size.
    steps = run.steps()
    assert "test_capacity_and_allocatable_show_nvidia_gpu[Standard_NC4as_T4_v3-0]" in steps, sorted(steps)
    assert "test_workload_is_scheduled_on_a_gpu_node[mnist-job-on-Standard_NC4as_T4_v3]" in steps


def test_aks_cluster_flag_without_a_subscription_is_unavailable(suite_runs) -> None:
    run = suite_runs.get("aks-flag")
    _assert_all_unavailable(run, "unavailable: no Azure subscription")
    assert all("AZURE_SUBSCRIPTION_ID" in row["evidence"][0] for row in run.summary()["steps"])


# The kind path itself (create, load, install the fake plugin) needs Docker and never runs here; what
# can be checked here is what it would run.
def test_kind_image_builds_name_each_image_and_an_existing_dockerfile() -> None:
    from gpuconf.backends.kind import IMAGES, build_commands

    commands = build_commands()
    assert {command[command.index("-t") + 1] for command in commands} == set(IMAGES)
    for command in commands:
        assert command[:2] == ["docker", "build"]
        assert Path(command[command.index("-f") + 1]).is_file(), command
    manifests = Path(__file__).resolve().parents[2] / "manifests" / "kind"
    from gpuconf.workloads import WORKLOADS

    assert (manifests / "fake-device-plugin-ds.yaml").is_file()
    for workload in WORKLOADS:  # every workload the suite runs has its kind variant
        assert workload.kind_manifest.is_file() and workload.kind_manifest.parent == manifests, workload
