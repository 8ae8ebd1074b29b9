"""The workload's one error type: main() prints its message as one line and exits 1."""


class WorkloadError(RuntimeError):
    """Worded like the CUDA/TensorFlow error it stands for, or as an instruction to the user."""
