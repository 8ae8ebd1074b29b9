"""Article section "Install NVIDIA device plugin": namespace gpu-resources and the plugin DaemonSet.

Checks: the namespace is Active; the DaemonSet fully rolled out (observedGeneration >= generation,
desired == updated == ready == available > 0) with a plugin pod Running on every GPU node.
"""

INSTALL_PATH = "daemonset"  # run only with --install-path daemonset
ARTICLE_SECTION = "install-nvidia-device-plugin"


def test_daemonset_rolls_out_on_every_gpu_node(article, step):
    step.record(article.install_nvidia_device_plugin())
