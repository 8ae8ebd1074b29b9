"""Median cost of the emulator's patch and selector paths (what every PATCH and filtered LIST pays).

Run: .venv/bin/python bench/bench_patch_selectors.py [--repeat N]
Prints one line per case: the median and p90 over N runs, in microseconds (list cases: per 1000 pods).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable

import yaml

from gpuconf.emulator.patch import apply_patch
from gpuconf.emulator.selectors import parse_field_selector, parse_label_selector

DAEMONSET = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "nvidia-device-plugin-daemonset", "namespace": "gpu-resources"},
    "spec": {
        "selector": {"matchLabels": {"name": "nvidia-device-plugin-ds"}},
        "template": {
            "metadata": {"labels": {"name": "nvidia-device-plugin-ds"}},
            "spec": {
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [
                    {
                        "name": "nvidia-device-plugin-ctr",
                        "image": "mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11",
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [
                            {"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"}
                        ],
                    }
                ],
                "volumes": [
                    {"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}
                ],
            },
        },
    },
}
KUBECTL_APPLY_PATCH = json.dumps(
    {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nvidia-device-plugin-ctr"}],
                    "containers": [{"name": "nvidia-device-plugin-ctr", "image": "k8s-device-plugin:1.12"}],
                }
            }
        }
    }
).encode()
PODS = [
    {
        "metadata": {
            "name": f"pod-{i}",
            "namespace": "default",
            "labels": {"app": f"a{i % 10}", "tier": "gpu"},
        },
        "spec": {"nodeName": f"node-{i % 4}" if i % 3 else ""},
        "status": {"phase": "Running" if i % 2 else "Succeeded"},
    }
    for i in range(1000)
]


def measure(repeat: int, action: Callable[[], object]) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="runs per case (default 200)")
    repeat = parser.parse_args().repeat

    applied = apply_patch(
        {},
        json.dumps(DAEMONSET).encode(),
        "application/apply-patch+yaml",
        field_manager="kubectl",
        force=False,
    )
    reapply = json.dumps(DAEMONSET).replace(":1.11", ":1.12").encode()
    reapply_yaml = yaml.safe_dump(json.loads(reapply)).encode()
    label_selector = parse_label_selector("app in (a1,a2,a3),tier=gpu,!legacy")
    field_selector = parse_field_selector("spec.nodeName!=,status.phase!=Succeeded", "pods")
    cases: dict[str, Callable[[], object]] = {
        "strategic merge (kubectl apply image bump)": lambda: apply_patch(
            DAEMONSET,
            KUBECTL_APPLY_PATCH,
            "application/strategic-merge-patch+json",
            field_manager=None,
            force=False,
        ),
        "merge patch (label)": lambda: apply_patch(
            DAEMONSET,
            b'{"metadata":{"labels":{"x":"y"}}}',
            "application/merge-patch+json",
            field_manager=None,
            force=False,
        ),
        "server-side apply (re-apply, new image)": lambda: apply_patch(
            applied, reapply, "application/apply-patch+yaml", field_manager="kubectl", force=False
        ),
        "server-side apply (same, YAML body)": lambda: apply_patch(
            applied, reapply_yaml, "application/apply-patch+yaml", field_manager="kubectl", force=False
        ),
        "deep copy of the DaemonSet (baseline)": lambda: copy.deepcopy(DAEMONSET),
        "label selector parse": lambda: parse_label_selector("app in (a1,a2,a3),tier=gpu,!legacy"),
        "label selector match x1000 pods": lambda: [
            label_selector.matches(p["metadata"]["labels"]) for p in PODS
        ],
        "field selector match x1000 pods": lambda: [field_selector.matches(p) for p in PODS],
    }
    for name, action in cases.items():
        median, p90 = measure(repeat, action)
        print(f"{name:45s} median {median:9.1f} us   p90 {p90:9.1f} us")


if __name__ == "__main__":
    main()
