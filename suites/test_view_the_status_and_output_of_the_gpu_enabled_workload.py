"""Article section "View the status and output of the GPU-enabled workload".

Checks: the Job reaches 1/1 (succeeded == 1, condition Complete); its pod shows Completed on a GPU
node; the logs name the GPU model of that node's VM size and the accuracy rises by the robust rule
(final >= 0.9, rise >= 0.5, last 10% above first 10%, last step = max_steps - 10).
"""

ARTICLE_SECTION = "view-the-status-and-output-of-the-gpu-enabled-workload"


def test_job_completes_and_logs_show_gpu_and_rising_accuracy(article, step):
    step.record(article.view_the_status_and_output())
