"""Article section "Before you begin": a cluster with GPU nodes running Kubernetes 1.10 or later."""

ARTICLE_SECTION = "before-you-begin"


def test_kubernetes_is_1_10_or_later(article, step):
    step.record(article.before_you_begin())
