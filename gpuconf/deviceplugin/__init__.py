"""A fake (or NVML-backed) NVIDIA device plugin speaking the real kubelet v1beta1 gRPC API.

    python -m gpuconf.deviceplugin --mode fake --devices 2 --product "Tesla K80"
    python -m gpuconf.deviceplugin --mode nvml --list      # print what it would advertise, exit

In-process (the emulated cluster runs one per node in a single event loop):

    await run_plugin(PluginConfig(socket_dir=Path(d), devices=2, product="Tesla T4"), stop)

or keep a handle for health control: `plugin = DevicePlugin(config); await plugin.run(stop)`.

Flipping a device's health while it runs (for tests and fault injection), either way works:
  * in-process: `plugin.set_health(device_id, healthy=False)` (and `True` to recover);
  * control file: write JSON `{"unhealthy": ["GPU-<uuid>", 1]}` (device IDs or indexes) to the
    --health-file path (CLI default `<socket-dir>/gpuconf-health.json`); it is watched by the shared
    stat poller (every 100 ms), so a change reaches kubelet within ~0.1 s. Removing the file, or an empty
    list, makes every device healthy again. A malformed file is logged and ignored.
Every change sends the full device list on each open ListAndWatch stream; kubelet then drops the
Unhealthy device from allocatable (capacity stays).

In nvml mode, GPUCONF_NVML_HIDE=<index|uuid>[,...] leaves those GPUs out (installed but not
advertised: the emulator's `--hide-gpu` fault on real hardware).

Allocate answers like NVIDIA's default strategy (NVIDIA_VISIBLE_DEVICES=<ids>) and adds what a
workload needs to report the GPU it got: GPUCONF_GPU_COUNT, and GPUCONF_GPU_{PRODUCT,
COMPUTE_CAPABILITY, MEMORY_GIB, MEMORY_CLOCK_GHZ, PCI_BUS_ID, UUID, EMULATED} for the first device,
repeated as GPUCONF_GPU_<i>_* for every allocated device i. EMULATED is "1" in fake mode, "0" in
nvml mode. Unknown or unhealthy IDs are rejected with INVALID_ARGUMENT.
"""

from gpuconf.deviceplugin.config import ConfigError, PluginConfig
from gpuconf.deviceplugin.plugin import DevicePlugin, run_plugin

__all__ = ["ConfigError", "DevicePlugin", "PluginConfig", "run_plugin"]
