"""Article section "Run a GPU-enabled workload": a pod asking for nvidia.com/gpu: 1.

One test per workload (the article's samples-tf-mnist-demo Job, the CUDA vectorAdd sample pod, an
`nvidia-smi -L` pod; see gpuconf.workloads) on each GPU VM size. Checks: the workload is created and
its pod is scheduled onto a GPU node of that size.
"""

from gpuconf.workload_steps import run_a_gpu_enabled_workload

ARTICLE_SECTION = "run-a-gpu-enabled-workload"


def test_workload_is_scheduled_on_a_gpu_node(article, step, workload_case):
    step.record(run_a_gpu_enabled_workload(article, workload_case))
