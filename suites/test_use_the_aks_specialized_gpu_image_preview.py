"""Article section "Use the AKS specialized GPU image (preview)": the node image ships the plugin.

With --install-path node-image: no manual plugin DaemonSet may exist, and capacity is still
advertised. The UseGPUDedicatedVHD header behind this path was retired on 2025-01-10: on AKS that is
doc drift (see the aks tier); on the embedded cluster the retired image is emulated.
"""

INSTALL_PATH = "node-image"  # run only with --install-path node-image
ARTICLE_SECTION = "use-the-aks-specialized-gpu-image-preview"


def test_node_image_runs_the_plugin_without_a_daemonset(article, step):
    step.record(article.install_nvidia_device_plugin())
    step.record(article.confirm_that_gpus_are_schedulable())
