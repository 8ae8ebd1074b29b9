"""The offline stand-in for the article's samples-tf-mnist-demo image (see gpuconf.workload.mnist)."""
