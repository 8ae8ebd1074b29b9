"""Run by test_interrupt.py in a subprocess: provision against a fake ARM URL, then wait.

Usage: python provision_child.py ARM_URL. Exits 0 after a clean provision + teardown; a signal
during provisioning must leave nothing behind in the fake ARM.
"""

from __future__ import annotations

import os
import sys

from gpuconf.azure.settings import resolve
from gpuconf.backends.aks import AksBackend

FAST = {
    "poll_interval_s": 0.01,
    "retry_backoff_s": 0.01,
    "progress_every_s": 0.05,
    "operation_timeout_s": 120.0,
}


def main(url: str) -> int:
    settings = resolve({"aks_arm_endpoint": url, "aks_subscription": "00000000-0000-0000-0000-000000000000"},
                       os.environ, **FAST)  # fmt: skip
    backend = AksBackend(settings)
    backend.provision()
    backend.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
