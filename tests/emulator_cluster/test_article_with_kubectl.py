"""A new user follows the article with real kubectl against `python -m gpuconf.emulator serve`.

Every step's outcome is the article's; stopping the server (SIGTERM) ends every process it
started and removes its sockets and temporary directory.
"""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator_cluster.clusterkit import (
    DAEMONSET_MANIFEST,
    JOB_MANIFEST,
    JOB_TIMEOUT_S,
    ROLLOUT_TIMEOUT_S,
    STATE_TIMEOUT_S,
)
from tests.emulator_cluster.kubectl import Kubectl

SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 30.0
NODE = "aks-nodepool1-28993262-0"


def children_of(pid: int) -> list[int]:
    """Direct children of a process, from /proc (each container is a child of the server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    kubeconfig = tmp_path / "kubeconfig"
    server = subprocess.Popen(
        [sys.executable, "-m", "gpuconf.emulator", "serve", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        # The server prints one line containing "ready" once it answers; wait for it, bounded.
        with selectors.DefaultSelector() as selector:
            selector.register(server.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=SERVER_START_TIMEOUT_S):
                raise AssertionError(f"serve printed nothing within {SERVER_START_TIMEOUT_S}s")
            line = server.stdout.readline()
        assert "ready" in line, (
            f"serve failed to start: {line}{server.stdout.read() if server.poll() else ''}"
        )
        yield server, kubeconfig
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(SERVER_STOP_TIMEOUT_S)
        if server.stdout is not None:
            server.stdout.close()


def test_article_steps_give_the_articles_outcomes_and_sigterm_cleans_up(
    served: tuple[subprocess.Popen, Path],
) -> None:
    server, kubeconfig = served
    kubectl = Kubectl(kubeconfig)

    # create-an-aks-cluster: one Ready NC6 node named like the article's.
    nodes = kubectl.json("get", "nodes")["items"]
    assert [n["metadata"]["name"] for n in nodes] == [NODE]
    assert nodes[0]["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "Standard_NC6"
    assert "nvidia.com/gpu" not in nodes[0]["status"]["capacity"], "no GPU before the device plugin"

    # install-nvidia-device-plugin
    assert "namespace/gpu-resources created" in kubectl.out("create", "namespace", "gpu-resources")
    assert "created" in kubectl.out("apply", "-f", str(DAEMONSET_MANIFEST))
    rollout = kubectl.run(
        "rollout",
        "status",
        "-n",
        "gpu-resources",
        "daemonset/nvidia-device-plugin-daemonset",
        f"--timeout={ROLLOUT_TIMEOUT_S:g}s",
        timeout=ROLLOUT_TIMEOUT_S + 30,
    )
    assert "successfully rolled out" in rollout.stdout
    plugin_pods = kubectl.json("get", "pods", "-n", "gpu-resources")["items"]
    assert [p["status"]["phase"] for p in plugin_pods] == ["Running"]

    # confirm-that-gpus-are-schedulable
    kubectl.wait(
        f"node/{NODE}", "jsonpath={.status.allocatable.nvidia\\.com/gpu}=1", timeout_s=STATE_TIMEOUT_S
    )
    describe = kubectl.out("describe", "node", NODE)
    capacity = describe.split("Capacity:")[1].split("Allocatable:")[0]
    allocatable = describe.split("Allocatable:")[1].split("System Info:")[0]
    assert re.search(r"nvidia\.com/gpu:\s+1\n", capacity), capacity
    assert re.search(r"nvidia\.com/gpu:\s+1\n", allocatable), allocatable
    assert re.search(r"cpu:\s+5916m", allocatable)

    # run-a-gpu-enabled-workload + view-the-status-and-output
    kubectl.run("apply", "-f", str(JOB_MANIFEST))
    kubectl.wait("job/samples-tf-mnist-demo", "condition=complete", timeout_s=JOB_TIMEOUT_S)
    jobs_table = kubectl.out("get", "jobs", "samples-tf-mnist-demo")
    assert re.search(r"samples-tf-mnist-demo\s+(Complete\s+)?1/1", jobs_table), jobs_table
    pods_table = kubectl.out("get", "pods", "--selector", "app=samples-tf-mnist-demo")
    assert re.search(r"samples-tf-mnist-demo-\w{5}\s+0/1\s+Completed\s+0", pods_table), pods_table
    pod_name = pods_table.splitlines()[1].split()[0]
    logs = kubectl.out("logs", pod_name)
    assert "Found device 0 with properties" in logs and "Tesla K80" in logs, logs[:2000]
    accuracies = [float(x) for x in re.findall(r"Accuracy at step \d+: ([0-9.]+)", logs)]
    assert len(accuracies) >= 10 and accuracies[-1] > accuracies[0] + 0.5 and accuracies[-1] >= 0.9, (
        accuracies
    )

    # clean-up-resources
    assert 'job.batch "samples-tf-mnist-demo" deleted' in kubectl.out(
        "delete", "jobs", "samples-tf-mnist-demo"
    )
    kubectl.run(
        "wait",
        "--for=delete",
        "pod",
        "--selector",
        "app=samples-tf-mnist-demo",
        f"--timeout={STATE_TIMEOUT_S:g}s",
        timeout=STATE_TIMEOUT_S + 30,
    )
    assert kubectl.json("get", "jobs")["items"] == []
    assert kubectl.json("get", "pods", "--selector", "app=samples-tf-mnist-demo")["items"] == []

    # Teardown: the plugin container is a child process with the node's socket dir on its command line.
    plugins = [
        p
        for p in children_of(server.pid)
        if b"gpuconf.deviceplugin" in Path(f"/proc/{p}/cmdline").read_bytes()
    ]
    assert len(plugins) == 1, "the DaemonSet's plugin runs as a child process"
    argv = Path(f"/proc/{plugins[0]}/cmdline").read_bytes().split(b"\0")
    socket_dir = Path(argv[argv.index(b"--socket-dir") + 1].decode())
    root = Path("/", *socket_dir.parts[1:3])  # /tmp/gcXXXXXXXX
    assert (socket_dir / "kubelet.sock").is_socket()
    server.send_signal(signal.SIGTERM)
    assert server.wait(SERVER_STOP_TIMEOUT_S) == 0
    assert not alive(plugins[0]), "SIGTERM to serve must end the plugin container"
    assert not root.exists(), f"{root} (sockets, logs) must be removed"
