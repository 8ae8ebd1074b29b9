"""Ctrl-C (SIGINT) or a runner's SIGTERM during provisioning deletes everything created so far."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("provision_child.py")
REQUEST_TIMEOUT_S = 30.0  # child start-up (imports the Azure SDK) up to its GPU pool PUT
EXIT_TIMEOUT_S = 30.0  # teardown against the fake ARM takes well under a second


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_during_gpu_pool_creation_deletes_pool_cluster_and_group(fake_arm, signum):
    fake_arm.fake.behaviour.create_latency_for = {"pool": 3600.0}  # the GPU pool never finishes on its own
    env = {**os.environ, "GPUCONF_ARM_TOKEN": fake_arm.fake.behaviour.expected_token or ""}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), fake_arm.url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake_arm.fake.state.wait_for_request("PUT", "agentPool", REQUEST_TIMEOUT_S), (
            "child never got there"
        )
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=EXIT_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=EXIT_TIMEOUT_S)
    assert child.returncode != 0, stderr
    deletes = [r.kind for r in fake_arm.fake.state.requests_of("DELETE")]
    assert deletes == ["agentPool", "managedCluster", "resourceGroup"], stderr
    state = fake_arm.fake.state
    assert not state.groups and not state.clusters and not state.pools
    assert "provisioning stopped (KeyboardInterrupt): deleting what was created" in stderr
