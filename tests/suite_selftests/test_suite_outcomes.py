"""The suites pass on a healthy cluster, fail naming the cause on a broken one, and report verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gpuconf.emulator.cluster import running_cluster


def _summary(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "summary.json").read_text())


def test_offline_run_passes_and_writes_every_report(run_suites, tmp_path: Path) -> None:
    result = run_suites("-m", "offline")
    result.assert_outcomes(passed=9, deselected=1)
    reports = tmp_path / "reports"
    for name in ("junit.xml", "summary.md", "summary.json"):
        assert (reports / name).is_file(), name
    assert list(reports.rglob("*.png")), "the accuracy curve must be plotted"
    result.stdout.fnmatch_lines(["*EMULATED cluster*", "PASS*test_capacity_and_allocatable_show_nvidia_gpu*"])


def test_two_workers_share_one_cluster_and_pass(run_suites) -> None:
    result = run_suites("-m", "offline", "-n", "2")
    result.assert_outcomes(passed=9)


def test_markers_select_tiers(run_suites) -> None:
    result = run_suites("-m", "not offline and not aks")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["*deselected*"])


def test_aks_without_credentials_is_unavailable_not_a_crash(run_suites, monkeypatch) -> None:
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    result = run_suites("-m", "aks")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*unavailable*"])
    assert "Traceback" not in result.stdout.str()


def test_drift_fail_fails_the_step_with_verdict_doc_drift(run_suites, tmp_path: Path) -> None:
    result = run_suites("-m", "offline", "--drift", "fail")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*retired-vm-size*"])
    verdicts = json.dumps(_summary(tmp_path))
    assert "doc-drift" in verdicts


def test_wrong_gpu_capacity_fails_the_schedulable_step_naming_it(run_suites, tmp_path: Path) -> None:
    # An NC24 has four K80s; a node that advertises two is wrong, and the capacity step must say so.
    with running_cluster(nodes=1, vm_size="Standard_NC24") as cluster:
        cluster.call(cluster.cluster.set_advertised_gpus, cluster.node_names[0], 2)
        result = run_suites(
            # The real-cluster budget for advertising GPUs is 600 s; 0.01 makes the failure arrive in 6 s.
            "--cluster",
            "kubeconfig",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--timeout-factor",
            "0.01",
            "-k",
            "capacity or daemonset",
        )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*FAILED*test_capacity_and_allocatable_show_nvidia_gpu*"])
    assert "nvidia.com/gpu" in result.stdout.str()


def test_unreachable_api_server_is_a_clear_error(run_suites, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    result = run_suites("--cluster", "kubeconfig", "--kubeconfig", str(kubeconfig), "-k", "1_10")
    # Reported as the unavailable verdict with the address, not as a traceback.
    result.stdout.fnmatch_lines(["UNAVAILABLE*cannot reach the API server at http://127.0.0.1:9*"])
    assert "Traceback" not in result.stdout.str()
