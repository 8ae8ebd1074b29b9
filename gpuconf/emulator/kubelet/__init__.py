"""The emulated kubelet: node registration and heartbeats, device manager, pod workers."""
