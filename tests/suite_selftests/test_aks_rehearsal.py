"""The live AKS tier rehearsed offline, as gpuconf/azure/REHEARSAL.md describes: `pytest -m aks` against
a loopback fake ARM whose cluster hands out the kubeconfig of an embedded emulated cluster (one T4
node, like the default --vm-size). The real Azure SDK provisions and deletes through the fake; every
suite step then runs on the emulated cluster as if on AKS. `--doc-profile 2020` sends the article's
request verbatim and gets ARM's refusal as the doc-drift verdict."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from suite_selftest_lib import OwnServer, SuiteRun, child_env, run_suite, suite_run

from gpuconf.azure.fakearm import FakeArmBehaviour, running_fake_arm

SUITE_RUNS = ("aks-rehearsal", "aks-rehearsal-2020")
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TOKEN = "rehearsal"
POLL_INTERVAL = "0.05"  # seconds between ARM polls (REHEARSAL.md uses 0.2; the fake answers at once)
T4 = "Standard_NC4as_T4_v3"
# One GPU node and three workloads on its VM size, as in the offline default run.
SECTIONS = Counter(
    {
        "before-you-begin": 1,
        "create-an-aks-cluster": 1,
        "install-nvidia-device-plugin": 2,
        "confirm-that-gpus-are-schedulable": 1,
        "run-a-gpu-enabled-workload": 3,
        "view-the-status-and-output-of-the-gpu-enabled-workload": 3,
        "clean-up-resources": 3,
        "beyond-the-article": 2,
    }
)
RETIRED_SIZE_REFUSAL = (
    "ARM refused the VM size: BadRequest: The VM size of AgentPoolProfile:nodepool1 is not allowed in "
    "your subscription in location 'eastus'."
)


def _aks_suite(workdir: Path, arm_url: str, *extra: str) -> SuiteRun:
    return run_suite(
        "-m", "aks", "--cluster", "aks", f"--arm-endpoint={arm_url}", "--subscription", SUBSCRIPTION,
        "--arm-poll-interval", POLL_INTERVAL, *extra,
        reports=workdir / "reports", env=child_env(GPUCONF_ARM_TOKEN=TOKEN),
    )  # fmt: skip


def _arm_record(arm) -> dict:
    state = arm.fake.state
    return {
        "url": arm.url,
        "mutating": [(r.method, r.kind) for r in state.mutating_requests()],
        "pool_puts": [r.body for r in state.requests_of("PUT", "agentPool")],
        "cluster_puts": [(r.headers, r.body) for r in state.requests_of("PUT", "managedCluster")],
        "credentials": len(state.requests_of("POST", "credentials")),
        "left": (dict(state.groups), dict(state.clusters), dict(state.pools)),
    }


@suite_run("aks-rehearsal")
def _rehearsal(workdir: Path) -> SuiteRun:
    cluster = OwnServer(workdir / "emulated", "--nodes", "1", "--vm-size", T4)
    try:
        behaviour = FakeArmBehaviour(expected_token=TOKEN, kubeconfig=cluster.kubeconfig.read_bytes())
        with running_fake_arm(behaviour) as arm:
            run = _aks_suite(workdir, arm.url)
            run.extra["arm"] = _arm_record(arm)
    finally:
        run_left = cluster.stop()
    run.extra["emulator_left"] = run_left
    return run


@suite_run("aks-rehearsal-2020")
def _rehearsal_2020(workdir: Path) -> SuiteRun:
    # ARM refuses the article's request before any cluster exists: no emulated cluster needed.
    with running_fake_arm(FakeArmBehaviour(expected_token=TOKEN)) as arm:
        run = _aks_suite(workdir, arm.url, "--doc-profile", "2020")
        run.extra["arm"] = _arm_record(arm)
    return run


def test_rehearsal_passes_every_suite_step_on_the_emulated_cluster_through_the_fake_arm(suite_runs) -> None:
    run = suite_runs.get("aks-rehearsal")
    assert run.ret == 0, run.describe()
    assert f"{sum(SECTIONS.values())} passed" in run.stdout, run.describe()
    rows = run.summary()["steps"]
    assert Counter(row["article_section"] for row in rows) == SECTIONS
    assert {row["verdict"] for row in rows} == {"pass"}, [(r["test_id"], r["verdict"]) for r in rows]
    assert run.summary()["overall"] == "pass"
    assert run.summary()["totals"] == {"pass": 16, "fail": 0, "doc-drift": 0, "unavailable": 0}
    assert run.extra["left_behind"] == [] and run.extra["emulator_left"] == []


def test_rehearsal_report_says_emulated_on_the_aks_backend(suite_runs) -> None:
    run = suite_runs.get("aks-rehearsal")
    facts = run.summary()["run"]
    assert (facts["backend"], facts["emulated"], facts["vm_size"], facts["gpu_model"]) == (
        "aks",
        True,
        T4,
        "Tesla T4",
    )
    assert facts["kubernetes_version"].endswith("-gpuconf-emulated")
    assert "EMULATED cluster (emulated GPUs) — not a real AKS cluster" in run.stdout
    assert "- **Backend:** aks (emulated)" in (run.reports / "summary.md").read_text()


def test_rehearsal_created_the_group_cluster_and_gpu_pool_and_deleted_them_in_reverse(suite_runs) -> None:
    arm = suite_runs.get("aks-rehearsal").extra["arm"]
    assert arm["mutating"] == [
        ("PUT", "resourceGroup"),
        ("PUT", "managedCluster"),
        ("PUT", "agentPool"),
        ("DELETE", "agentPool"),
        ("DELETE", "managedCluster"),
        ("DELETE", "resourceGroup"),
    ]
    (pool,) = arm["pool_puts"]
    assert (pool["properties"]["vmSize"], pool["properties"]["gpuProfile"]) == (T4, {"driver": "Install"})
    assert arm["credentials"] == 1  # the user kubeconfig: the emulated cluster's
    assert arm["left"] == ({}, {}, {})


def test_rehearsal_2020_profile_is_doc_drift_with_arms_refusal_and_nothing_left(suite_runs) -> None:
    run = suite_runs.get("aks-rehearsal-2020")
    assert run.ret == 1, run.describe()  # doc drift of the cluster itself fails every step
    rows = run.summary()["steps"]
    assert Counter(row["article_section"] for row in rows) == SECTIONS
    assert {row["verdict"] for row in rows} == {"doc-drift"}
    for row in rows:
        (evidence,) = row["evidence"]
        assert evidence.startswith("Failed: doc-drift [retired-vm-size]: creating AKS cluster "), evidence
        assert f"(nodepool1: Standard_NC6): {RETIRED_SIZE_REFUSAL}" in evidence, evidence
    assert run.summary()["overall"] == "doc-drift"
    arm = run.extra["arm"]
    # The article's request went out verbatim (one pool of Standard_NC6 inside the cluster, the
    # UseGPUDedicatedVHD header) and was refused; what had been started was deleted again.
    ((headers, body),) = arm["cluster_puts"]
    assert headers.get("UseGPUDedicatedVHD") == "true"
    assert [(p["name"], p["vmSize"]) for p in body["properties"]["agentPoolProfiles"]] == [
        ("nodepool1", "Standard_NC6")
    ]
    assert arm["mutating"] == [
        ("PUT", "resourceGroup"),
        ("PUT", "managedCluster"),
        ("DELETE", "managedCluster"),
        ("DELETE", "resourceGroup"),
    ]
    assert arm["pool_puts"] == [] and arm["credentials"] == 0
    assert arm["left"] == ({}, {}, {})
