"""A bad option value stops the run before any cluster is touched: one `ERROR:` line naming the
option, exit code 4 (pytest's USAGE_ERROR), no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from suite_selftest_lib import closed_port, run_suite, write_kubeconfig

# (id, args (TMP is replaced by a scratch dir), words the one ERROR line must contain)
CASES = [
    ("unknown-cluster", ["--cluster", "bogus"], ["--cluster", "bogus"]),
    ("unknown-vm-size", ["--vm-size", "Standard_Bogus"], ["--vm-size", "Standard_Bogus"]),
    ("gpu-count-over-vm-size", ["--gpu-count", "99", "--vm-size", "Standard_NC6"], ["--gpu-count", "99"]),
    (
        "gpu-count-over-nc6",
        ["--gpu-count", "2", "--vm-size", "Standard_NC6"],
        ["--gpu-count", "Standard_NC6"],
    ),
    ("negative-timeout-factor", ["--timeout-factor", "-1"], ["--timeout-factor", "-1"]),
    ("unknown-drift", ["--drift", "maybe"], ["--drift", "maybe"]),
    ("unknown-install-path", ["--install-path", "x"], ["--install-path", "'x'"]),
    ("kubeconfig-without-path", ["--cluster", "kubeconfig"], ["--cluster kubeconfig needs --kubeconfig"]),
    (
        "malformed-kubeconfig",
        ["--cluster", "kubeconfig", "--kubeconfig=TMP/malformed.yaml"],
        ["kubeconfig", "malformed.yaml", "not valid YAML"],
    ),
    (
        "missing-kubeconfig",
        ["--cluster", "kubeconfig", "--kubeconfig=TMP/absent.yaml"],
        ["kubeconfig", "absent.yaml", "does not exist"],
    ),
    ("max-steps-too-few", ["--max-steps", "5"], ["--max-steps", "5"]),
    (
        "fault-on-kubeconfig-backend",
        ["--emulator-fault", "X", "--cluster", "kubeconfig", "--kubeconfig=TMP/valid.yaml"],
        ["--emulator-fault", "--cluster emulated"],
    ),
    ("unknown-gpu-mode", ["--gpu", "cuda"], ["--gpu", "'cuda'", "fake, real"]),
    ("zero-nodes", ["--nodes", "0"], ["--nodes", "0", "outside 1..1000"]),
    ("timeout-factor-not-a-number", ["--timeout-factor", "fast"], ["--timeout-factor", "'fast'"]),
    (
        "kubeconfig-without-current-context",
        ["--cluster", "kubeconfig", "--kubeconfig=TMP/no-context.yaml"],
        ["kubeconfig", "no-context.yaml", "no current-context"],
    ),
    # The harness takes no manifest path (the article's and kind's manifests are fixed files), so an
    # invalid manifest cannot be given; a mistyped fault name is the nearest realistic bad input.
    (
        "unknown-emulator-fault",
        ["-m", "offline", "--emulator-fault", "device-unhealty"],
        ["--emulator-fault", "device-unhealty", "device-unhealthy"],
    ),
    (
        "xdist-mode-that-splits-the-article",
        ["-n", "2", "--dist", "loadfile"],
        ["--dist loadfile", "build on each other", "--dist load"],
    ),
    (
        "bad-aks-custom-headers",
        ["-m", "aks", "--aks-custom-headers", "UseGPUDedicatedVHD"],
        ["--aks-custom-headers", "UseGPUDedicatedVHD", "k=v"],
    ),
]


@pytest.mark.parametrize(("args", "named"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_option_is_one_error_line_and_exit_code_4(
    args: list[str], named: list[str], tmp_path: Path
) -> None:
    (tmp_path / "malformed.yaml").write_text("clusters: [this is: not valid\n")
    write_kubeconfig(tmp_path / "valid.yaml", f"http://127.0.0.1:{closed_port()}")
    no_context = yaml.safe_load((tmp_path / "valid.yaml").read_text())
    del no_context["current-context"]
    (tmp_path / "no-context.yaml").write_text(yaml.safe_dump(no_context))
    args = [a.replace("TMP", str(tmp_path)) for a in args]
    run = run_suite(*args, reports=tmp_path / "reports")
    assert run.ret == 4, run.describe()
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, run.describe()
    for word in named:
        assert word in errors[0], (word, errors[0])
    assert "Traceback" not in run.output
    assert "test session starts" not in run.stdout  # stopped before any collection or cluster
    assert not (tmp_path / "reports" / "junit.xml").exists()


def test_unwritable_reports_dir_is_one_error_line_and_exit_code_4(tmp_path: Path) -> None:
    a_file = tmp_path / "a-regular-file"
    a_file.write_text("")
    run = run_suite(reports=a_file / "reports")
    assert run.ret == 4, run.describe()
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, run.describe()
    assert "reports director" in errors[0] and str(a_file / "reports") in errors[0], errors[0]
    assert "Not a directory" in errors[0]
    assert "Traceback" not in run.output
