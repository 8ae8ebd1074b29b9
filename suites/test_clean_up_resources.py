"""Article section "Clean up resources": `kubectl delete jobs samples-tf-mnist-demo` (and the pods of
the other workloads).

Checks, per workload: the Job or Pod and its pods are gone.
"""

from gpuconf.workload_steps import clean_up_resources

ARTICLE_SECTION = "clean-up-resources"


def test_deleting_the_workload_removes_it_and_its_pods(article, step, workload_case):
    step.record(clean_up_resources(article, workload_case))
