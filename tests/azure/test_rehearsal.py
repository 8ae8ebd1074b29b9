"""The offline rehearsal: AKS provisioning through the fake ARM hands out the embedded cluster's
kubeconfig, and the official Kubernetes client reaches that cluster through it."""

from __future__ import annotations

CLIENT_TIMEOUT_S = 10


def test_provisioned_kubeconfig_reaches_the_embedded_cluster(fake_arm, backend_for):
    from kubernetes import client, config

    from gpuconf.emulator.cluster import running_cluster  # imported here: the emulator is heavy

    with running_cluster(nodes=1, vm_size="Standard_NC4as_T4_v3") as cluster:
        fake_arm.fake.behaviour.kubeconfig = cluster.kubeconfig.read_bytes()
        expected_nodes = cluster.node_names
        backend = backend_for()
        handle = backend.provision()
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(handle.kubeconfig)))
        try:
            nodes = api.list_node(_request_timeout=CLIENT_TIMEOUT_S).items
        finally:
            api.api_client.close()
        backend.teardown()
    assert [n.metadata.name for n in nodes] == expected_nodes
    # The node is the emulated one of the asked size (GPU capacity appears only once the article's
    # device plugin is installed, which is the suites' business, not provisioning's).
    assert nodes[0].metadata.labels["node.kubernetes.io/instance-type"] == "Standard_NC4as_T4_v3"
    assert not fake_arm.fake.state.groups


LISTEN_TIMEOUT_S = 30.0  # interpreter start-up plus aiohttp import


def test_fakearm_entry_point_serves_the_given_kubeconfig_until_sigterm(tmp_path, progress):
    import queue
    import re
    import signal
    import subprocess
    import sys
    import threading

    from gpuconf.azure.settings import resolve
    from gpuconf.backends.aks import AksBackend

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n# rehearsal\n")
    command = [sys.executable, "-m", "gpuconf.azure.fakearm", "--kubeconfig", str(kubeconfig), "--port", "0",
               "--token", "rehearsal", "--in-progress-polls", "1"]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as server:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=lambda: [lines.put(line) for line in server.stdout or []], daemon=True
        ).start()
        try:
            match = re.search(r"http://127\.0\.0\.1:\d+", lines.get(timeout=LISTEN_TIMEOUT_S))
            assert match, "the fake ARM did not print its URL"
            fast = {"poll_interval_s": 0.005, "retry_backoff_s": 0.005, "progress_every_s": 0.05}
            values = {
                "aks_arm_endpoint": match.group(0),
                "aks_subscription": "00000000-0000-0000-0000-000000000000",
            }
            backend = AksBackend(
                resolve(values, {"GPUCONF_ARM_TOKEN": "rehearsal"}, **fast), progress=progress
            )
            handle = backend.provision()
            assert handle.kubeconfig.read_text() == kubeconfig.read_text()
            backend.teardown()
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=LISTEN_TIMEOUT_S) == 0
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(timeout=LISTEN_TIMEOUT_S)
