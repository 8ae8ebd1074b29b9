"""Article section "Install NVIDIA device plugin": namespace gpu-resources and the plugin DaemonSet.

Checks: the namespace is Active; the DaemonSet fully rolled out (observedGeneration >= generation,
desired == updated == ready == available > 0) with a plugin pod Running on every GPU node; and, one
test per GPU node, the plugin pod on that node Running and ready (or why there is none: a taint the
DaemonSet does not tolerate, a crash loop, an image that cannot be pulled).
"""

INSTALL_PATH = "daemonset"  # run only with --install-path daemonset
ARTICLE_SECTION = "install-nvidia-device-plugin"


def test_daemonset_rolls_out_on_every_gpu_node(article, step):
    step.record(article.install_nvidia_device_plugin())


def test_device_plugin_pod_runs_on_the_gpu_node(article, step, gpu_node):
    step.record(article.device_plugin_runs_on(gpu_node))
