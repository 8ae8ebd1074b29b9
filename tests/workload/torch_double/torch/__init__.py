"""A test double of torch with CUDA: one visible H200, enough for the workload's GPU discovery only
(no tensors). It stands for "this machine has PyTorch and a real GPU" on a CPU-only machine."""

from types import SimpleNamespace


class cuda:  # noqa: N801  # torch.cuda is a module; a class with static methods has the same shape
    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def device_count() -> int:
        return 1

    @staticmethod
    def get_device_properties(index: int) -> SimpleNamespace:
        return SimpleNamespace(name="NVIDIA H200", major=9, minor=0, total_memory=150_109_978_624)
