"""Article section "Confirm that GPUs are schedulable": `kubectl describe node` shows nvidia.com/gpu.

Checks, one test per GPU node: Capacity and Allocatable both show nvidia.com/gpu equal to the GPU
count of its VM size (1 on the article's Standard_NC6).
"""

ARTICLE_SECTION = "confirm-that-gpus-are-schedulable"


def test_capacity_and_allocatable_show_nvidia_gpu(article, step, gpu_node):
    step.record(article.gpus_schedulable_on(gpu_node))
