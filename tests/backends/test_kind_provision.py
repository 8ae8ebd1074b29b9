"""The kind backend's provisioning, driven without Docker: a fake `docker` on PATH and a fake
pytest_kind.KindCluster record what the backend does. (The real path needs a Docker engine and was
never run on the project's machines; .github/workflows/kind.yml runs it on a Docker host.)"""

from __future__ import annotations

import os
import stat
import sys
import types
from pathlib import Path

import pytest

from gpuconf.backends.kind import IMAGES, NODE_LABELS, KindBackend
from gpuconf.settings import SuiteSettings

FAKE_DOCKER = """#!/bin/sh
echo "$@" >> "$DOCKER_LOG"
[ "$1" = info ] && echo 28.2.2
exit 0
"""


class FakeKindCluster:
    instances: list[FakeKindCluster] = []
    kind_binary = ""  # the fake `kind` the fixture writes

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[str, ...]] = []
        self.kind_path = self.kind_binary
        self.kubeconfig_path = f"/tmp/{name}-kubeconfig"
        FakeKindCluster.instances.append(self)

    def ensure_kind(self) -> None:
        self.calls.append(("ensure_kind",))

    def create(self) -> None:
        self.calls.append(("create",))

    def load_docker_image(self, image: str) -> None:
        self.calls.append(("load", image))

    def kubectl(self, *args: str) -> str:
        self.calls.append(("kubectl", *args))
        return ""

    def delete(self) -> None:
        self.calls.append(("delete",))


@pytest.fixture
def fake_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    kind = bin_dir / "kind"  # `kind get clusters` lists $KIND_EXISTING
    kind.write_text('#!/bin/sh\nprintf "%s\\n" $KIND_EXISTING\n')
    kind.chmod(kind.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_LOG", str(log))
    module = types.ModuleType("pytest_kind")
    module.KindCluster = FakeKindCluster  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pytest_kind", module)
    monkeypatch.setattr(FakeKindCluster, "instances", [])
    monkeypatch.setattr(FakeKindCluster, "kind_binary", str(kind))
    return log


def test_a_new_kind_cluster_gets_both_images_gpu_node_labels_and_is_deleted_after(
    fake_kind: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIND_EXISTING", "someone-elses")
    backend = KindBackend(SuiteSettings(cluster="kind"))
    handle = backend.provision()
    builds = [line.split() for line in fake_kind.read_text().splitlines() if line.startswith("build")]
    assert sorted(b[b.index("-t") + 1] for b in builds) == sorted(IMAGES)
    (cluster,) = FakeKindCluster.instances
    assert cluster.calls[:2] == [("ensure_kind",), ("create",)]
    assert sorted(c[1] for c in cluster.calls if c[0] == "load") == sorted(IMAGES)
    label = next(c for c in cluster.calls if c[0] == "kubectl")
    assert label[:4] == ("kubectl", "label", "nodes", "--all")
    assert {f"{k}={v}" for k, v in NODE_LABELS.items()} <= set(label)
    assert handle.properties["workload_manifests"] == "kind"
    assert handle.properties["plugin_manifest"].endswith("manifests/kind/fake-device-plugin-ds.yaml")
    assert handle.properties["kind_cluster"] == "gpuconf (created)"
    backend.teardown()
    assert cluster.calls[-1] == ("delete",)


def test_a_reused_kind_cluster_is_never_deleted(fake_kind: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIND_EXISTING", "gpuconf")
    backend = KindBackend(SuiteSettings(cluster="kind"))
    assert backend.provision().properties["kind_cluster"] == "gpuconf (reused)"
    backend.teardown()
    assert ("delete",) not in FakeKindCluster.instances[0].calls


def test_keep_cluster_keeps_a_created_kind_cluster(fake_kind: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIND_EXISTING", "")
    backend = KindBackend(SuiteSettings(cluster="kind", keep_cluster=True))
    backend.provision()
    backend.teardown()
    assert ("delete",) not in FakeKindCluster.instances[0].calls
