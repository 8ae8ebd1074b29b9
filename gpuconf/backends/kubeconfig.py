"""Backend `kubeconfig`: any existing cluster the user points at. It creates nothing and deletes nothing
but the Kubernetes objects the suite itself applies (the suites track and remove those)."""

from __future__ import annotations

from gpuconf.backends.base import PLUGIN_RESTART, RUNS_CONTAINERS, Backend, ClusterHandle
from gpuconf.kubeconfig_check import validate_kubeconfig
from gpuconf.settings import SuiteSettings


class KubeconfigBackend(Backend):
    name = "kubeconfig"

    def __init__(self, options: SuiteSettings) -> None:
        super().__init__(options)
        self.settings = options

    def provision(self) -> ClusterHandle:
        assert self.settings.kubeconfig is not None  # settings.build() insists on it
        validate_kubeconfig(self.settings.kubeconfig)
        # We cannot know whether its GPUs are physical; an existing cluster is assumed real.
        return ClusterHandle(
            backend=self.name,
            kubeconfig=self.settings.kubeconfig,
            capabilities=frozenset({RUNS_CONTAINERS, PLUGIN_RESTART}),
            properties={"gpu": "real (assumed: an existing cluster)"},
        )

    def teardown(self) -> None:
        """Nothing to do: the cluster is the user's."""
