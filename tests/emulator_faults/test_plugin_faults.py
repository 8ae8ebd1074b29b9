"""Device-plugin and node faults: what the article's install and confirm steps would observe."""

from __future__ import annotations

from gpuconf.emulator.faults import FaultTiming
from gpuconf.emulator.faults.nodes import GPU_TAINT
from gpuconf.emulator.faults.nvml_missing import LINES as NVML_LINES
from tests.emulator_faults.article import (
    PLUGIN_NAMESPACE,
    condition,
    faulty_cluster,
    gpu_count,
    running,
    waiting_reason,
)

# rollout-too-slow's pull delay in the test: long enough to measure, short enough to wait for.
SLOW_PULL_S = 2.0


def test_plugin_never_registers_runs_but_the_node_gets_no_gpu() -> None:
    with faulty_cluster("plugin-never-registers") as article:
        article.install_plugin()
        pods = article.wait_plugin_pods(running, "the plugin pod to run")
        name = pods[0]["metadata"]["name"]
        line = article.wait_log_line(name, PLUGIN_NAMESPACE, "waiting for kubelet")
        kubelet_socket = article.handle.cluster.kubelet(
            article.handle.node_names[0]
        ).device_manager.socket_path
        assert line.endswith("kubelet.sock") and str(kubelet_socket) not in line
        log = article.log(pods[0]["metadata"]["name"], PLUGIN_NAMESPACE)
        assert "registered with kubelet" not in log
        assert gpu_count(article.node(), "capacity") is None


def test_plugin_zero_devices_advertises_zero_gpus() -> None:
    with faulty_cluster("plugin-zero-devices") as article:
        article.install_plugin()
        node = article.wait_node(
            lambda n: gpu_count(n, "capacity") is not None and n, "nvidia.com/gpu to appear"
        )
        assert (gpu_count(node, "capacity"), gpu_count(node, "allocatable")) == ("0", "0")


def test_device_unhealthy_keeps_capacity_but_not_allocatable() -> None:
    with faulty_cluster("device-unhealthy") as article:
        article.install_plugin()
        node = article.wait_node(lambda n: gpu_count(n, "capacity") and n, "nvidia.com/gpu to appear")
        assert (gpu_count(node, "capacity"), gpu_count(node, "allocatable")) == ("1", "0")


def test_fewer_gpus_than_vm_size_on_a_two_gpu_node() -> None:
    with faulty_cluster("fewer-gpus-than-vm-size", vm_size="Standard_NC12") as article:
        article.install_plugin()
        node = article.wait_node(lambda n: gpu_count(n, "capacity") and n, "nvidia.com/gpu to appear")
        assert (gpu_count(node, "capacity"), gpu_count(node, "allocatable")) == ("1", "1")


def test_plugin_crashloop_shows_crashloopbackoff_with_the_nvml_error() -> None:
    with faulty_cluster("plugin-crashloop") as article:
        article.install_plugin()
        pods = article.wait_plugin_pods(
            lambda ps: waiting_reason(ps) == "CrashLoopBackOff" and ps, "the plugin pod to crash-loop"
        )
        status = pods[0]["status"]["containerStatuses"][0]
        assert status["lastState"]["terminated"]["exitCode"] == 1
        assert status["restartCount"] >= 1 and not status["ready"]
        name = pods[0]["metadata"]["name"]
        assert NVML_LINES[1] in article.log(name, PLUGIN_NAMESPACE)
        assert any(r == "BackOff" for _, r, _ in article.events(name, PLUGIN_NAMESPACE))
        ds = article.plain(
            article.apps.read_namespaced_daemon_set("nvidia-device-plugin-daemonset", PLUGIN_NAMESPACE)
        )
        assert ds["status"].get("numberReady", 0) == 0


def test_plugin_image_pull_shows_imagepullbackoff() -> None:
    with faulty_cluster("plugin-image-pull") as article:
        article.install_plugin()
        pods = article.wait_plugin_pods(
            lambda ps: waiting_reason(ps) == "ImagePullBackOff" and ps, "ImagePullBackOff on the plugin pod"
        )
        events = article.events(pods[0]["metadata"]["name"], PLUGIN_NAMESPACE)
        image = "mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11"
        assert ("Warning", "Failed", "Error: ErrImagePull") in events
        assert any(
            m.startswith(f'Failed to pull image "{image}": rpc error: code = NotFound') for _, _, m in events
        )
        assert pods[0]["status"]["phase"] == "Pending"


def test_gpu_pool_tainted_keeps_the_plugin_off_the_node() -> None:
    with faulty_cluster("gpu-pool-tainted") as article:
        assert {k: article.node()["spec"]["taints"][0][k] for k in GPU_TAINT} == GPU_TAINT
        article.install_plugin()
        ds = article.wait(
            article.apps.list_namespaced_daemon_set,
            lambda items: items and items[0].get("status", {}).get("observedGeneration") and items[0],
            timeout_s=10,
            describe="the DaemonSet's status",
            namespace=PLUGIN_NAMESPACE,
        )
        assert ds["status"]["desiredNumberScheduled"] == 0
        assert article.plugin_pods() == []
        assert gpu_count(article.node(), "capacity") is None


def test_node_not_ready_is_tainted_and_reports_why() -> None:
    with faulty_cluster("node-not-ready") as article:
        ready = condition(article.node(), "Ready")
        assert (ready["status"], ready["message"]) == (
            "False",
            "container runtime network not ready: NetworkReady=false",
        )
        assert any(t["key"] == "node.kubernetes.io/not-ready" for t in article.node()["spec"]["taints"])


def test_rollout_too_slow_makes_the_plugin_ready_only_after_the_delay() -> None:
    delay = SLOW_PULL_S
    with faulty_cluster("rollout-too-slow", fault_timing=FaultTiming(plugin_pull_delay_s=delay)) as article:
        article.install_plugin()
        article.wait_plugin_pods(running, "the plugin pod to run")
        pods = article.plugin_pods()
        pulled = [
            m for _, r, m in article.events(pods[0]["metadata"]["name"], PLUGIN_NAMESPACE) if r == "Pulled"
        ]
        seconds = float(pulled[0].split(" in ", 1)[1].split("s ", 1)[0])
        assert seconds >= delay
