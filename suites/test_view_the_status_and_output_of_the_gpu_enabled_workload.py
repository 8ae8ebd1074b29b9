"""Article section "View the status and output of the GPU-enabled workload".

Checks, per workload: the Job reaches 1/1 (succeeded == 1, condition Complete) or the Pod Succeeded;
its pod shows Completed on a GPU node; its log passes the workload's rule: for the article's Job a
discovery line naming the GPU model of that node's VM size and accuracy rising by the robust rule
(final >= 0.9, rise >= 0.5, last 10% above first 10%, last step = max_steps - 10); for vectorAdd
`Test PASSED`; for `nvidia-smi -L` exactly the allocated GPU(s), of that model, with UUIDs.
"""

from gpuconf.workload_steps import view_the_status_and_output

ARTICLE_SECTION = "view-the-status-and-output-of-the-gpu-enabled-workload"


def test_workload_completes_and_its_logs_prove_the_gpu(article, step, workload_case):
    step.record(view_the_status_and_output(article, workload_case))
