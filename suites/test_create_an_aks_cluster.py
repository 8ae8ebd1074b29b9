"""Article section "Create an AKS cluster": `az aks create --node-vm-size Standard_NC6 --node-count 1`.

Checks: every node Ready; GPU nodes of the VM size asked for (label node.kubernetes.io/instance-type).
The article's VM size is retired on today's Azure: that is reported as doc drift, not hidden.
"""

ARTICLE_SECTION = "create-an-aks-cluster"


def test_nodes_are_ready_with_the_gpu_vm_size(article, step):
    step.record(article.create_an_aks_cluster())
