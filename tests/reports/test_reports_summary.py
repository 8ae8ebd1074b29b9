"""summary.md / summary.json: header facts, the emulated banner, article order, drift and unavailable
sections, a stable JSON schema, atomic writes and a clear error for an unwritable directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuconf.checks.drift import DriftFacts, evaluate
from gpuconf.reports import ReportDirError, RunInfo, StepResult, Verdict
from gpuconf.reports.summary import EMULATED_BANNER, SCHEMA_VERSION, write_summary

RUN = RunInfo(
    backend="emulated",
    emulated=True,
    kubernetes_version="v1.33.2",
    kubelet_version="v1.33.2-gpuconf",
    vm_size="Standard_NC6",
    gpu_model="Tesla K80",
    device_plugin_image="mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11",
    started_at="2026-11-28T14:00:00Z",
)


def steps() -> list[StepResult]:
    # Deliberately out of article order: the summary must sort them.
    return [
        StepResult(
            "suites/test_workload.py::test_logs_show_rising_accuracy",
            "view-the-status-and-output-of-the-gpu-enabled-workload",
            "logs show GPU discovery and rising accuracy",
            Verdict.PASS,
            [
                "discovery: Tesla K80 (3.7)",
                "accuracy rose from 0.11 at step 0 to 0.95 at step 490 over 50 points",
            ],
            4.25,
            [(0.0, "job created"), (3.9, "job complete 1/1")],
        ),
        StepResult(
            "suites/test_cluster.py::test_cluster_created_with_article_size",
            "create-an-aks-cluster",
            "cluster created | with Standard_NC6",
            Verdict.DOC_DRIFT,
            ["Standard_NC6 retired on 2023-08-31"],
            0.5,
        ),
        StepResult(
            "suites/test_gpu_image.py::test_dedicated_vhd",
            "use-the-aks-specialized-gpu-image-preview",
            "AKS GPU image",
            Verdict.UNAVAILABLE,
            ["needs a live AKS cluster: --cluster aks"],
        ),
        StepResult(
            "suites/test_plugin.py::test_daemonset_rolls_out",
            "install-nvidia-device-plugin",
            "daemonset rolls out",
            Verdict.FAIL,
            ["numberReady 0 of desiredNumberScheduled 1 after 120s", "token: s3cr3t-in-evidence"],
            120.0,
        ),
    ]


DRIFT = evaluate(DriftFacts(vm_size="Standard_NC6", custom_headers={"UseGPUDedicatedVHD": "true"}))


def test_markdown_has_emulated_banner_header_facts_and_article_order(tmp_path):
    files = write_summary(steps(), RUN, tmp_path / "reports", drift=DRIFT)
    text = files.markdown.read_text()
    assert EMULATED_BANNER in text.split("## Steps")[0]
    for fact in ("v1.33.2-gpuconf", "Standard_NC6", "Tesla K80", "k8s-device-plugin:1.11"):
        assert fact in text
    sections = [
        "create-an-aks-cluster",
        "install-nvidia-device-plugin",
        "use-the-aks-specialized-gpu-image-preview",
        "view-the-status-and-output-of-the-gpu-enabled-workload",
    ]
    table = text.split("## Steps")[1].split("## Doc drift")[0]
    positions = [table.index(f"`{s}`") for s in sections]
    assert positions == sorted(positions)
    assert "cluster created \\| with Standard_NC6" in table  # pipes escaped inside cells
    assert "**Overall: FAIL**" in text
    drift_part = text.split("## Doc drift")[1].split("## Unavailable")[0]
    assert "[retired-vm-size]" in drift_part and "[retired-gpu-dedicated-vhd]" in drift_part
    assert "needs a live AKS cluster" in text.split("## Unavailable")[1]


def test_real_cluster_summary_has_no_emulated_banner(tmp_path):
    real = RunInfo(backend="aks", emulated=False, vm_size="Standard_NC4as_T4_v3")
    text = write_summary([], real, tmp_path).markdown.read_text()
    assert EMULATED_BANNER not in text and "**Overall: NO STEPS**" in text
    assert "- none found" in text


def test_json_round_trip_with_stable_schema(tmp_path):
    original = steps()
    files = write_summary(original, RUN, tmp_path, drift=DRIFT)
    data = json.loads(files.json.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert set(data) == {
        "schema_version",
        "article",
        "run",
        "overall",
        "totals",
        "steps",
        "doc_drift",
        "unavailable",
    }
    assert data["overall"] == "fail"
    assert data["totals"] == {"pass": 1, "fail": 1, "doc-drift": 1, "unavailable": 1}
    assert RunInfo.from_dict(data["run"]) == RUN
    restored = [StepResult.from_dict(s) for s in data["steps"]]
    assert [r.article_section for r in restored][0] == "create-an-aks-cluster"
    by_id = {r.test_id: r for r in restored}
    workload = by_id["suites/test_workload.py::test_logs_show_rising_accuracy"]
    assert workload == original[0]
    assert [d["rule_id"] for d in data["doc_drift"]] == ["retired-vm-size", "retired-gpu-dedicated-vhd"]
    assert data["unavailable"] == [
        {
            "test_id": "suites/test_gpu_image.py::test_dedicated_vhd",
            "reason": "needs a live AKS cluster: --cluster aks",
        }
    ]


def test_secrets_in_evidence_are_redacted_in_both_files(tmp_path):
    files = write_summary(steps(), RUN, tmp_path)
    for path in (files.markdown, files.json):
        assert "s3cr3t-in-evidence" not in path.read_text()


def test_rewrite_replaces_atomically_without_leftover_temp_files(tmp_path):
    write_summary(steps(), RUN, tmp_path)
    write_summary(steps()[:1], RUN, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json", "summary.md"]
    assert json.loads((tmp_path / "summary.json").read_text())["overall"] == "pass"


def test_unwritable_reports_dir_is_a_one_line_error_naming_the_path(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the reports directory should be")
    target = blocker / "reports"
    with pytest.raises(ReportDirError) as info:
        write_summary(steps(), RUN, target)
    message = str(info.value)
    assert str(target) in message and "\n" not in message


def test_step_result_rejects_unknown_verdict():
    data = steps()[0].to_dict() | {"verdict": "maybe"}
    with pytest.raises(ValueError, match="unknown verdict 'maybe'; expected one of: pass, fail, doc-drift"):
        StepResult.from_dict(data)


def test_summary_json_is_utf8_with_the_em_dash(tmp_path):
    files = write_summary(steps(), RUN, tmp_path)
    assert "EMULATED cluster — not real hardware" in Path(files.markdown).read_text(encoding="utf-8")
