"""Self-tests run the real suites in a child pytest (pytester) against the repository's own config."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT_S = 120  # a full offline run takes ~5 s here; 120 s covers a loaded CI machine


@pytest.fixture
def run_suites(pytester: pytest.Pytester, tmp_path: Path):
    """Run `pytest` on the repository's suites with these extra arguments; reports go to tmp_path."""

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess(
            "-c",
            str(REPO / "pytest.ini"),
            "--rootdir",
            str(REPO),
            "-p",
            "no:cacheprovider",
            "--reports-dir",
            str(tmp_path / "reports"),
            *args,
            str(REPO / "suites"),
            timeout=CHILD_TIMEOUT_S,
        )

    return run
