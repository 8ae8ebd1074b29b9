"""The AKS backend as the suite's fixtures use it: through SharedCluster (gpuconf.backends.registry),
against the loopback fake ARM. The last participant's release decides what happens in Azure and on
this machine: --keep-cluster deletes nothing in Azure but still removes the user kubeconfig (a
credential) and closes the ARM clients; without it everything is deleted."""

from __future__ import annotations

import signal
import stat
import tempfile
import uuid
from pathlib import Path

import pytest

from gpuconf.azure.clients import ArmClients
from gpuconf.backends.registry import SharedCluster
from gpuconf.settings import SuiteSettings


@pytest.fixture
def closed_clients(monkeypatch: pytest.MonkeyPatch) -> list[ArmClients]:
    """Every ArmClients.close() call, recorded (the real close still runs)."""
    closed: list[ArmClients] = []
    real_close = ArmClients.close

    def recording_close(self: ArmClients) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(ArmClients, "close", recording_close)
    return closed


@pytest.fixture
def run_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where SharedCluster puts the run directory (the temp directory, redirected for the test)."""
    parent = tmp_path / "tmp"
    parent.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(parent))
    return parent


def _shared(settings_for, keep: bool) -> SharedCluster:
    aks = settings_for(aks_keep_cluster=keep) if keep else settings_for()
    return SharedCluster(uuid.uuid4().hex, SuiteSettings(cluster="aks", keep_cluster=keep), aks)


def test_keep_cluster_deletes_nothing_in_azure_but_removes_the_kubeconfig_and_closes_the_clients(
    fake_arm, settings_for, closed_clients, run_parent
):
    sigterm_before = signal.getsignal(signal.SIGTERM)
    shared = _shared(settings_for, keep=True)
    handle = shared.acquire()
    kubeconfig_dir = handle.kubeconfig.parent
    assert stat.S_IMODE(handle.kubeconfig.stat().st_mode) == 0o600
    assert stat.S_IMODE(kubeconfig_dir.stat().st_mode) == 0o700
    assert kubeconfig_dir.name.startswith("gpuconf-aks-")
    assert signal.getsignal(signal.SIGTERM) is not sigterm_before  # SIGTERM unwinds like Ctrl-C meanwhile
    clients = shared.backend._clients  # type: ignore[union-attr]
    assert isinstance(clients, ArmClients) and closed_clients == []

    shared.release()

    state = fake_arm.fake.state
    assert [r.kind for r in state.requests_of("DELETE")] == []
    # All still in "Azure": the group, the cluster and both its pools.
    (group,) = state.groups
    (cluster_key,) = state.clusters
    assert cluster_key[0] == group.lower()
    assert sorted(pool for *_, pool in state.pools) == ["gpu", "system"]
    assert not kubeconfig_dir.exists()
    assert closed_clients == [clients]
    assert signal.getsignal(signal.SIGTERM) is sigterm_before
    assert list(run_parent.iterdir()) == []  # and no run directory is left behind


def test_without_keep_cluster_the_last_release_deletes_everything_and_leaves_nothing_local(
    fake_arm, settings_for, closed_clients, run_parent
):
    shared = _shared(settings_for, keep=False)
    handle = shared.acquire()
    shared.release()
    state = fake_arm.fake.state
    assert [r.kind for r in state.requests_of("DELETE")] == ["agentPool", "managedCluster", "resourceGroup"]
    assert not state.groups and not state.clusters and not state.pools
    assert not handle.kubeconfig.parent.exists()
    assert len(closed_clients) == 1
    assert list(run_parent.iterdir()) == []
