"""The container runtime of the emulated cluster: image catalogue, processes, logs."""
