"""The v1beta1 stubs load from api.proto next to api.py, whatever the working directory and however
gpuconf is installed (editable here; a plain copy on the path stands in for a wheel)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT_TIMEOUT_S = 30.0
PROBE = (
    "import gpuconf.deviceplugin.api as api; "
    "print(api.__file__); print(api.pb2.RegisterRequest(version='v1beta1').version)"
)


def probe(cwd: Path, env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_stubs_load_from_another_working_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    api_file, version = probe(tmp_path, env)
    assert Path(api_file).is_relative_to(ROOT) and version == "v1beta1"


def test_stubs_load_from_a_plain_copy_of_the_package(tmp_path: Path) -> None:
    # A wheel install is gpuconf/ in a site directory; the copy's api.proto is the one compiled.
    site = tmp_path / "site"
    shutil.copytree(ROOT / "gpuconf", site / "gpuconf", ignore=shutil.ignore_patterns("__pycache__"))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    api_file, version = probe(elsewhere, {**os.environ, "PYTHONPATH": str(site)})
    assert Path(api_file) == site / "gpuconf/deviceplugin/api.py" and version == "v1beta1"
