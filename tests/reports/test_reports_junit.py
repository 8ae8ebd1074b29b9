"""JUnit properties round trip through a real pytest --junitxml run, read back by verdict_from_junit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpuconf.reports import RunInfo, StepResult, Verdict
from gpuconf.reports.junit import JUnitReadError, step_properties, verdict_from_junit

REPO = Path(__file__).resolve().parents[2]
INNER_TIMEOUT_S = 60  # the inner pytest run takes ~1 s; a hang must not stall the suite

INNER_TESTS = textwrap.dedent(
    """
    import pytest
    from gpuconf.reports import RunInfo, StepResult, Verdict
    from gpuconf.reports.junit import step_properties

    RUN = RunInfo(backend="emulated", emulated=True, kubernetes_version="v1.33.2", vm_size="Standard_NC6",
                  gpu_model="Tesla K80",
                  device_plugin_image="mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11")

    def record(request, verdict, section="install-nvidia-device-plugin", evidence=()):
        result = StepResult(request.node.nodeid, section, request.node.name, verdict, list(evidence), 1.5,
                            [(0.0, "applied"), (1.2, "rolled out 1/1")], {"node": "aks-nodepool1-28993262-0"})
        request.node.user_properties.extend(step_properties(result, RUN))

    def test_passes(request):
        record(request, Verdict.PASS)

    def test_drifts(request):
        record(request, Verdict.DOC_DRIFT, "create-an-aks-cluster", ["Authorization: Bearer leaked-token"])

    def test_unavailable(request):
        record(request, Verdict.UNAVAILABLE)

    def test_fails_after_recording_pass(request):
        record(request, Verdict.PASS)
        assert False, "capacity shows nvidia.com/gpu 0"

    def test_fails_without_recording():
        assert 1 == 2
    """
)


@pytest.fixture(scope="module")
def junit_xml(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("inner")
    (work / "test_inner.py").write_text(INNER_TESTS)
    (work / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    out = work / "junit.xml"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         f"--junitxml={out}",
         "--rootdir", str(work), str(work / "test_inner.py")],
        cwd=work, env=env, capture_output=True, text=True, timeout=INNER_TIMEOUT_S,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr  # two inner tests fail on purpose
    assert "warning" not in proc.stdout.lower(), proc.stdout
    return out


def test_verdicts_read_back_by_recorded_test_id(junit_xml):
    verdicts = verdict_from_junit(junit_xml)
    assert verdicts == {
        "test_inner.py::test_passes": Verdict.PASS,
        "test_inner.py::test_drifts": Verdict.DOC_DRIFT,
        "test_inner.py::test_unavailable": Verdict.UNAVAILABLE,
        "test_inner.py::test_fails_after_recording_pass": Verdict.FAIL,
        "test_inner::test_fails_without_recording": Verdict.FAIL,
    }


def test_properties_carry_run_facts_timeline_and_are_redacted(junit_xml):
    text = junit_xml.read_text()
    for expected in (
        'name="backend" value="emulated"',
        'name="emulated" value="true"',
        'name="kubernetes_version" value="v1.33.2"',
        'name="kubelet_version" value="unknown"',
        'name="vm_size" value="Standard_NC6"',
        'name="gpu_model" value="Tesla K80"',
        'name="article_section" value="create-an-aks-cluster"',
        'name="timeline" value="0.0s applied; 1.2s rolled out 1/1"',
        'name="node" value="aks-nodepool1-28993262-0"',
    ):
        assert expected in text
    assert "leaked-token" not in text


def test_step_properties_order_and_names():
    result = StepResult("t", "clean-up-resources", "job deleted", Verdict.PASS)
    names = [name for name, _ in step_properties(result, RunInfo(backend="aks", emulated=False))]
    assert names[:7] == [
        "backend",
        "emulated",
        "kubernetes_version",
        "kubelet_version",
        "vm_size",
        "gpu_model",
        "device_plugin_image",
    ]
    assert {"test_id", "article_section", "verdict", "duration_s", "timeline"} <= set(names)


def test_unreadable_junit_is_a_one_line_error(tmp_path):
    broken = tmp_path / "junit.xml"
    broken.write_text("<testsuites><testcase")
    with pytest.raises(JUnitReadError, match=f"cannot read JUnit XML {broken}"):
        verdict_from_junit(broken)
