"""Helpers for the emulated-cluster tests: manifests, named timeouts, the article's install step."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.emulator_cluster.kubectl import Kubectl

ROOT = Path(__file__).resolve().parents[2]
DAEMONSET_MANIFEST = ROOT / "manifests/article/nvidia-device-plugin-ds.yaml"
JOB_MANIFEST = ROOT / "manifests/article/samples-tf-mnist-demo.yaml"
# Named timeouts for the emulated cluster (processes start in ~0.5 s on 2 shared cores).
ROLLOUT_TIMEOUT_S = 60.0
STATE_TIMEOUT_S = 30.0
JOB_TIMEOUT_S = 120.0


def install_device_plugin(kubectl: Kubectl) -> None:
    kubectl.run("create", "namespace", "gpu-resources")
    kubectl.run("apply", "-f", str(DAEMONSET_MANIFEST))
    kubectl.run(
        "rollout",
        "status",
        "-n",
        "gpu-resources",
        "daemonset/nvidia-device-plugin-daemonset",
        f"--timeout={ROLLOUT_TIMEOUT_S:g}s",
        timeout=ROLLOUT_TIMEOUT_S + 30,
    )


def gpu_pod_manifest(name: str, *, image: str, args: list[str], restart: str = "Never", gpus: int = 1) -> str:
    container: dict = {"name": name, "image": image, "args": args}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": restart, "containers": [container]},
    }
    return yaml.safe_dump(pod)
