"""Beyond the article: capacity survives a device-plugin pod restart (the DaemonSet replaces the pod,
the plugin re-registers with the kubelet, capacity and allocatable come back to the VM size's count)."""

from gpuconf.backends.base import PLUGIN_RESTART
from gpuconf.beyond import capacity_survives_plugin_restart

INSTALL_PATH = "daemonset"  # the node-image path has no plugin pod to restart
ARTICLE_SECTION = "beyond-the-article"


def test_capacity_survives_a_device_plugin_restart(article, step, requires):
    requires(PLUGIN_RESTART)
    step.record(capacity_survives_plugin_restart(article))
