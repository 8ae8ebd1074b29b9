"""Article section "Clean up resources": `kubectl delete jobs samples-tf-mnist-demo`.

Checks: the Job and its pods are gone.
"""

ARTICLE_SECTION = "clean-up-resources"


def test_deleting_the_job_removes_it_and_its_pods(article, step):
    step.record(article.clean_up_resources())
