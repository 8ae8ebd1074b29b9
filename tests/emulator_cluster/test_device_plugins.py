"""Device plugins on an emulated node: what Allocate returns reaches the container; plugin loss.

A scripted plugin (tests/deviceplugin/scripted_plugin.py) registers on the node's own kubelet.sock
for `example.com/widget`; the pods are real pods scheduled and started by the emulated kubelet.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import yaml

from gpuconf.emulator.cluster import ClusterThread, fast_test_options, running_cluster
from gpuconf.emulator.kubelet.devicemanager import DevicePluginTiming
from gpuconf.emulator.runtime.rootfs import ROOT_ENV
from tests.deviceplugin.scripted_plugin import AllocateAnswer, ScriptedPlugin, healthy
from tests.emulator_cluster.clusterkit import STATE_TIMEOUT_S, install_device_plugin
from tests.emulator_cluster.kubectl import Kubectl
from tests.emulator_cluster.storewait import POD_START_S, wait_for_version

NODE = "aks-nodepool1-28993262-0"
RESOURCE = "example.com/widget"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
PLUGIN_START_S = 20.0  # serve + Register (which dials back) on the cluster's loop: milliseconds
GRACE_S = 1.0  # endpointStopGracePeriod in these clusters (5 min in kubelet)


def widget_pod(name: str, env: dict[str, str] | None = None) -> str:
    container = {"name": name, "image": PAUSE_IMAGE, "resources": {"limits": {RESOURCE: 1}}}
    if env:
        container["env"] = [{"name": key, "value": value} for key, value in env.items()]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Always", "containers": [container]},
    }
    return yaml.safe_dump(pod)


@contextlib.contextmanager
def plugin_on(cluster: ClusterThread, plugin: ScriptedPlugin) -> Iterator[ScriptedPlugin]:
    """The plugin served and registered on the cluster's loop; stopped there at the end."""
    cluster.run(plugin.start, timeout=PLUGIN_START_S)
    try:
        yield plugin
    finally:
        cluster.run(plugin.stop, timeout=PLUGIN_START_S)


def process_env(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_allocate_mounts_devices_envs_and_annotations_reach_the_container() -> None:
    with running_cluster(options=fast_test_options()) as cluster:
        kubectl = Kubectl(cluster.kubeconfig)
        kubelet = cluster.cluster.kubelet(NODE)
        # The node's own files: a driver directory and a device node, under the node's root.
        (kubelet.root / "opt/widget/lib").mkdir(parents=True)
        (kubelet.root / "opt/widget/lib/libwidget.so").write_text("widget driver 1.2\n")
        (kubelet.root / "dev").mkdir(parents=True, exist_ok=True)
        (kubelet.root / "dev/widget0").write_text("")
        answer = AllocateAnswer(
            envs={"WIDGET_VISIBLE_DEVICES": "{ids}", "WIDGET_MODE": "exclusive"},
            mounts=[("/usr/local/widget", "/opt/widget", True)],
            devices=[("/dev/widget0", "/dev/widget0", "rw")],
            annotations={"example.com/widget-ids": "{ids}", "cdi.k8s.io/widget": "example.com/widget=w0"},
        )
        plugin = ScriptedPlugin(kubelet.plugin_dir, RESOURCE, healthy("w0"), answer=answer)
        with plugin_on(cluster, plugin):
            kubectl.wait(
                f"node/{NODE}",
                "jsonpath={.status.allocatable.example\\.com/widget}=1",
                timeout_s=STATE_TIMEOUT_S,
                namespace="default",
            )
            kubectl.apply(widget_pod("holder", env={"WIDGET_MODE": "shared"}))
            kubectl.wait("pod/holder", "jsonpath={.status.phase}=Running", timeout_s=POD_START_S)
            pod = kubectl.json("get", "pod", "holder")
            assert plugin.allocations == [["w0"]]

            running = cluster.call(lambda: kubelet.workers[pod["metadata"]["uid"]].running["holder"])
            assert running.pid is not None
            env = process_env(running.pid)
            assert env["WIDGET_VISIBLE_DEVICES"] == "w0"
            # Same name in both: the container's own env comes after the plugin's, and wins (kubelet).
            assert env["WIDGET_MODE"] == "shared"
            # The process's "/" is its working directory: the plugin's mount is at its container path.
            root = Path(os.readlink(f"/proc/{running.pid}/cwd"))
            assert env[ROOT_ENV] == str(root)
            seen = Path(f"/proc/{running.pid}/cwd/usr/local/widget/lib/libwidget.so")
            assert seen.read_text() == "widget driver 1.2\n"
            assert (root / "usr/local/widget").resolve() == (kubelet.root / "opt/widget").resolve()
            assert (root / "dev/widget0").resolve() == (kubelet.root / "dev/widget0").resolve()
            # Annotations go with the container to the runtime (CRI), not into the Pod object.
            assert running.annotations == {
                "example.com/widget-ids": "w0",
                "cdi.k8s.io/widget": "example.com/widget=w0",
            }
            assert "example.com/widget-ids" not in (pod["metadata"].get("annotations") or {})


def test_a_device_spec_the_node_lacks_fails_the_container_creation() -> None:
    with running_cluster(options=fast_test_options()) as cluster:
        kubectl = Kubectl(cluster.kubeconfig)
        kubelet = cluster.cluster.kubelet(NODE)
        answer = AllocateAnswer(devices=[("/dev/widget0", "/dev/widget9", "rw")])
        plugin = ScriptedPlugin(kubelet.plugin_dir, RESOURCE, healthy("w0"), answer=answer)
        with plugin_on(cluster, plugin):
            kubectl.wait(
                f"node/{NODE}",
                "jsonpath={.status.allocatable.example\\.com/widget}=1",
                timeout_s=STATE_TIMEOUT_S,
                namespace="default",
            )
            kubectl.apply(widget_pod("nodevice"))
            kubectl.wait(
                "pod/nodevice",
                "jsonpath={.status.containerStatuses[0].state.waiting.reason}=CreateContainerError",
                timeout_s=POD_START_S,
            )
            waiting = kubectl.json("get", "pod", "nodevice")["status"]["containerStatuses"][0]["state"][
                "waiting"
            ]
            assert waiting["message"] == (
                "failed to generate container spec: failed to generate spec: "
                "lstat /dev/widget9: no such file or directory"
            )


def test_node_keeps_gpu_capacity_when_the_plugin_is_gone_and_shows_zero_after_the_grace_period() -> None:
    options = fast_test_options(device_plugins=DevicePluginTiming(endpoint_stop_grace_s=GRACE_S))
    with running_cluster(options=options) as cluster:
        kubectl = Kubectl(cluster.kubeconfig)
        install_device_plugin(kubectl)
        kubectl.wait(
            f"node/{NODE}",
            "jsonpath={.status.allocatable.nvidia\\.com/gpu}=1",
            timeout_s=STATE_TIMEOUT_S,
            namespace="default",
        )
        api = cluster.cluster.api
        assert api is not None
        since = int(api.get("nodes", NODE)["metadata"]["resourceVersion"])

        def gpus(node: dict) -> tuple[str | None, str | None]:
            status = node.get("status") or {}
            return (status.get("capacity") or {}).get("nvidia.com/gpu"), (
                status.get("allocatable") or {}
            ).get("nvidia.com/gpu")

        # The article's clean-up of the plugin: the DaemonSet and its pod go, nothing replaces them.
        kubectl.run("delete", "namespace", "gpu-resources", "--wait=false")

        async def scenario() -> tuple[dict, dict]:
            gone = await wait_for_version(
                api,
                "nodes",
                lambda n: n["metadata"]["name"] == NODE and gpus(n) != ("1", "1"),
                since=since,
                timeout=STATE_TIMEOUT_S,
                describe=f"{NODE} to stop offering its GPU once the plugin is gone",
            )
            removed = await wait_for_version(
                api,
                "nodes",
                lambda n: n["metadata"]["name"] == NODE and gpus(n) != gpus(gone),
                since=int(gone["metadata"]["resourceVersion"]),
                timeout=STATE_TIMEOUT_S,
                describe=f"{NODE} to drop the resource after the {GRACE_S:g}s grace period",
            )
            return gone, removed

        gone, removed = cluster.run(scenario, timeout=2 * STATE_TIMEOUT_S + 5)
        assert gpus(gone) == ("1", "0"), "capacity stays while the endpoint's grace period runs"
        assert gpus(removed) == ("0", "0"), "then the resource is shown at 0, not absent"
