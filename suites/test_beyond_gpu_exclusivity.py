"""Beyond the article: a GPU is exclusive. A second pod asking for a busy GPU stays Pending with
`Insufficient nvidia.com/gpu` until the first pod finishes, then runs."""

from gpuconf.beyond import gpu_exclusivity

ARTICLE_SECTION = "beyond-the-article"


def test_a_busy_gpu_is_not_shared_and_the_second_pod_waits(article, step):
    step.record(gpu_exclusivity(article))
