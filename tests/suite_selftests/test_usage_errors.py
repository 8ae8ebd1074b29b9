"""Bad option values and a malformed kubeconfig stop the run with one line and exit code 4."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--cluster", "bogus"], "--cluster"),
        (["--timeout-factor", "fast"], "--timeout-factor"),
        (["--drift", "maybe"], "--drift"),
        (["--max-steps", "-5"], "--max-steps"),
    ],
    ids=["unknown backend", "non-numeric timeout factor", "unknown drift mode", "negative max steps"],
)
def test_bad_option_is_one_line_and_exit_code_4(run_suites, args: list[str], named: str) -> None:
    result = run_suites(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and named in errors[0], result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_malformed_kubeconfig_is_a_usage_error(run_suites, tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("clusters: [this is: not valid\n")
    result = run_suites("--cluster", "kubeconfig", "--kubeconfig", str(broken))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and "kubeconfig" in errors[0], result.stderr.str()
