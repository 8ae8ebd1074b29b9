"""The catalogue's shape, the `faults` subcommand and the one-line errors for unknown names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gpuconf.checks.article import SECTION_ORDER
from gpuconf.emulator.cluster import ClusterOptions
from gpuconf.emulator.faults import FAULTS, lookup
from gpuconf.emulator.faults.catalogue import TRANSIENT

CLI_TIMEOUT_S = 30.0
REQUIRED = {
    "plugin-never-registers", "plugin-zero-devices", "device-unhealthy", "plugin-crashloop",
    "plugin-image-pull", "gpu-pool-tainted", "node-not-ready", "fewer-gpus-than-vm-size",
    "workload-image-pull", "workload-exits-nonzero", "workload-cpu-fallback", "workload-wrong-gpu",
    "accuracy-flat", "training-stops-early", "gpu-held-by-other-pod", "job-never-scheduled",
    "rollout-too-slow", "apiserver-flaky", "cleanup-blocked-by-finalizer",
}  # fmt: skip


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuconf.emulator", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def test_every_required_fault_is_catalogued_with_a_real_article_anchor() -> None:
    assert REQUIRED <= FAULTS.keys()
    for fault in FAULTS.values():
        assert fault.section in SECTION_ORDER or fault.section == TRANSIENT, fault
        assert fault.description and "\n" not in fault.description and "\t" not in fault.description
        assert fault.runtime is not None or fault.start is not None, f"{fault.name} injects nothing"


def test_faults_subcommand_prints_the_catalogue_tab_separated() -> None:
    result = cli("faults")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert all(len(row) == 3 for row in rows), rows
    assert {name: (section, text) for name, section, text in rows} == {
        f.name: (f.section, f.description) for f in FAULTS.values()
    }


def test_unknown_fault_names_get_one_line_listing_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown fault 'gpu-on-fire'; valid faults: plugin-never-registers"):
        lookup(["device-unhealthy", "gpu-on-fire"])
    with pytest.raises(ValueError, match="unknown fault 'nope'"):
        ClusterOptions(faults=("nope",)).validate()
    result = cli("serve", "--kubeconfig", "/dev/null", "--fault", "nope")
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert "unknown fault 'nope'" in error and "cleanup-blocked-by-finalizer" in error


def test_faults_need_a_cluster_behind_the_server() -> None:
    result = cli("serve", "--kubeconfig", "/dev/null", "--nodes", "0", "--fault", "device-unhealthy")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --fault needs a cluster: use --nodes 1 or more (or --pool)"
