"""Backend `kind`: a kind cluster (Docker) with the fake device plugin, through pytest-kind.

NEVER RUN on the project's machines (no Docker engine there): what runs here is the command
construction and the "unavailable: no Docker" verdict. .github/workflows/kind.yml shows the job for a
Docker host. Steps: create (or reuse, by name) a kind cluster, build the fake-plugin and workload
images from images/, `kind load` them, label the node like an AKS GPU node, apply the fake plugin's
DaemonSet (manifests/kind/) in the install step, in place of the article's real-GPU image.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from gpuconf.backends.base import PLUGIN_RESTART, RUNS_CONTAINERS, Backend, BackendUnavailable, ClusterHandle
from gpuconf.settings import ARTICLE_VM_SIZE, SuiteSettings

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {
    "gpuconf/fake-device-plugin:dev": ROOT / "images" / "device-plugin" / "Dockerfile",
    "gpuconf/workload:dev": ROOT / "images" / "workload" / "Dockerfile",
}
DOCKER_CHECK_TIMEOUT_S = 10
BUILD_TIMEOUT_S = 900
KIND_QUERY_TIMEOUT_S = 30
# What every kind node is labelled with (gpuconf.nodes reads these): the article's NC6, one GPU.
NODE_LABELS = {"node.kubernetes.io/instance-type": ARTICLE_VM_SIZE, "accelerator": "nvidia"}


def docker_available() -> str | None:
    """None when a Docker engine answers; else why not (for the unavailable verdict)."""
    if not shutil.which("docker"):
        return "no docker client on PATH"
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=DOCKER_CHECK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 10s"
    if result.returncode != 0:
        return "no Docker engine is running (docker info failed)"
    return None


def build_commands() -> list[list[str]]:
    """docker build commands for the images kind loads (context: the repository root)."""
    return [
        ["docker", "build", "-t", tag, "-f", str(dockerfile), str(ROOT)] for tag, dockerfile in IMAGES.items()
    ]


class KindBackend(Backend):
    name = "kind"

    def __init__(self, options: SuiteSettings, cluster_name: str = "gpuconf") -> None:
        super().__init__(options)
        self.settings = options
        self.cluster_name = cluster_name
        self.cluster: Any = None  # pytest_kind.KindCluster once created
        self.created = False  # this run created the kind cluster (else it reused the user's)

    def provision(self) -> ClusterHandle:
        missing = docker_available()
        if missing:
            raise BackendUnavailable(f"kind needs a Docker engine: {missing}")
        from pytest_kind import KindCluster  # type: ignore[import-untyped,import-not-found,unused-ignore]  # kind extra only

        for command in build_commands():
            subprocess.run(command, check=True, timeout=BUILD_TIMEOUT_S)
        self.cluster = KindCluster(self.cluster_name)
        self.cluster.ensure_kind()  # pytest-kind fetches the kind binary here if it has none
        self.created = self.cluster_name not in existing_clusters(Path(self.cluster.kind_path))
        self.cluster.create()  # reuses a cluster of that name
        for tag in IMAGES:
            self.cluster.load_docker_image(tag)
        # kind nodes carry no cloud labels: make each one look like the article's GPU node (one K80,
        # which is what manifests/kind/fake-device-plugin-ds.yaml advertises), so the suite checks it.
        self.cluster.kubectl(
            "label", "nodes", "--all", "--overwrite", *(f"{k}={v}" for k, v in NODE_LABELS.items())
        )
        return ClusterHandle(
            backend=self.name,
            kubeconfig=Path(self.cluster.kubeconfig_path),
            capabilities=frozenset({RUNS_CONTAINERS, PLUGIN_RESTART}),
            properties={
                "gpu": "emulated (fake device plugin in kind)",
                # The article's plugin image needs real GPUs: the install step applies the fake one.
                "plugin_manifest": str(ROOT / "manifests" / "kind" / "fake-device-plugin-ds.yaml"),
                # ... and every workload its kind variant (the offline image runs them on fake GPUs).
                "workload_manifests": "kind",
                "kind_cluster": f"{self.cluster_name} ({'created' if self.created else 'reused'})",
            },
        )

    def teardown(self) -> None:
        """Delete the kind cluster only if this run created it (a reused one is the user's)."""
        if self.cluster is not None and self.created and not self.settings.keep_cluster:
            self.cluster.delete()
        self.cluster = None


def existing_clusters(kind_binary: Path) -> list[str]:
    done = subprocess.run(
        [str(kind_binary), "get", "clusters"], capture_output=True, text=True, timeout=KIND_QUERY_TIMEOUT_S
    )
    return done.stdout.split() if done.returncode == 0 else []
