"""A loopback fake Azure Resource Manager for offline tests, the benchmark and the rehearsal.

`python -m gpuconf.azure.fakearm --kubeconfig PATH --port N` serves it; tests use
`running_fake_arm(FakeArmBehaviour(...))`.
"""

from gpuconf.azure.fakearm.server import FakeArm, FakeArmServer, running_fake_arm
from gpuconf.azure.fakearm.state import FakeArmBehaviour, FakeArmState, RecordedRequest

__all__ = [
    "FakeArm",
    "FakeArmBehaviour",
    "FakeArmServer",
    "FakeArmState",
    "RecordedRequest",
    "running_fake_arm",
]
