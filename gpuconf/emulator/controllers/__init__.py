"""kube-scheduler and the controllers of the emulated cluster, all writing through ClusterAPI."""
