"""The one command line the benchmarks run the conformance suite with (imported by bench/*.py, which
run as scripts from this folder)."""

from __future__ import annotations

import sys
from pathlib import Path


def offline_suite(reports_dir: Path, *args: str) -> list[str]:
    """`python -m pytest -m offline` from a cold process, no cache, its own reports directory."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "offline",
        "-p",
        "no:cacheprovider",
        f"--reports-dir={reports_dir}",
        *args,
    ]
