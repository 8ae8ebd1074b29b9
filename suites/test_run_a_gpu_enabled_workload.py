"""Article section "Run a GPU-enabled workload": the samples-tf-mnist-demo Job with nvidia.com/gpu: 1.

Checks: the Job is created and its pod is scheduled onto a GPU node.
"""

ARTICLE_SECTION = "run-a-gpu-enabled-workload"


def test_mnist_job_is_scheduled_on_a_gpu_node(article, step):
    step.record(article.run_a_gpu_enabled_workload())
