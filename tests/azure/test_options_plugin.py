"""fixtures/aks.py registers every AKS flag, each naming its GPUCONF_* environment variable, and
shares --cluster-name/--keep-cluster with pytest-kind when that plugin is loaded."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from gpuconf.azure.settings import OPTIONS, from_options

ROOT = Path(__file__).resolve().parents[2]
HELP_TIMEOUT_S = 60


def pytest_help(*plugin_args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *plugin_args, "-p", "fixtures.aks", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=HELP_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())  # argparse wraps long help lines


@pytest.mark.parametrize("plugin_args", [("-p", "no:pytest-kind"), ()], ids=["alone", "beside-pytest-kind"])
def test_pytest_help_lists_the_aks_group_with_env_fallbacks(plugin_args):
    help_text = pytest_help(*plugin_args)
    assert "live AKS tier (--cluster aks)" in help_text
    for spec in OPTIONS:
        assert spec.flag in help_text, spec.flag
        if spec.shared_dest is None or plugin_args:  # beside pytest-kind its own help text shows
            assert f"[env {spec.env}]" in help_text, spec.env


def test_shared_kind_flags_are_read_but_their_kind_default_is_not_a_cluster_name():
    chosen = argparse.Namespace(cluster_name="my-aks", keep_cluster=True)
    settings = from_options(chosen, {})
    assert (settings.cluster_name, settings.keep_cluster) == ("my-aks", True)
    kind_defaults = argparse.Namespace(cluster_name="pytest-kind", keep_cluster=False)
    assert from_options(kind_defaults, {}).cluster_name is None
