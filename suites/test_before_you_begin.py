"""Article section "Before you begin": a cluster with GPU nodes running Kubernetes 1.10 or later."""

import re

from gpuconf.flow import StepOutcome

ARTICLE_SECTION = "before-you-begin"


def test_kubernetes_is_1_10_or_later(article, step):
    version = article.kube.server_version()
    match = re.match(r"v?(\d+)\.(\d+)", version)
    assert match, f"the API server reports an unparsable version {version!r}"
    assert (int(match[1]), int(match[2])) >= (1, 10), f"Kubernetes {version} is older than the article's 1.10"

    step.record(StepOutcome(evidence=[f"server version {version} >= 1.10"]))
