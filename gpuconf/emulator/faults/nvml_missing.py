"""`python -m gpuconf.emulator.faults.nvml_missing`: the device plugin on a node without a driver.

What k8s-device-plugin 1.11 does when NVML cannot be loaded (no NVIDIA driver on the node, or the
container runtime does not inject it): it prints why and exits 1, so the kubelet restarts it into
CrashLoopBackOff. The plugin-crashloop fault runs this in place of the plugin.
"""

from __future__ import annotations

import sys

EXIT_CODE = 1
LINES = (
    "Loading NVML",
    "Failed to initialize NVML: could not load NVML library.",
    "If this is a GPU node, did you set the docker default runtime to `nvidia`?",
    "You can check the prerequisites at: https://github.com/NVIDIA/k8s-device-plugin#prerequisites",
    "You can learn how to set the runtime at: https://github.com/NVIDIA/k8s-device-plugin#quick-start",
)


def main() -> int:
    for line in LINES:
        print(line, file=sys.stderr)
    return EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
