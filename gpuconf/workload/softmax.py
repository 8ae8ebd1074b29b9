"""Softmax regression trained by minibatch SGD, in numpy (CPU) and in PyTorch (CUDA).

Both run the same algorithm (batch 100, learning rate 0.5, weights initialised from the seed) so the
accuracy curve has the same shape on either device: ~0.1 before training, >0.9 within a few hundred
steps, like the article's MNIST sample.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Protocol

import numpy as np

from gpuconf.workload.digits import CLASSES, Split

BATCH = 100
LEARNING_RATE = 0.5
INIT_SCALE = 0.01


class Trainer(Protocol):
    def train_step(self) -> None: ...
    def accuracy(self) -> float: ...


class NumpyTrainer:
    def __init__(self, data: Split, seed: int, learn: bool = True) -> None:
        self.data = data
        self.rng = np.random.default_rng(seed + 1)
        self.weights = self.rng.normal(0.0, INIT_SCALE, (data.train_x.shape[1], CLASSES))
        self.bias = np.zeros(CLASSES)
        self.learning_rate = LEARNING_RATE if learn else 0.0

    def train_step(self) -> None:
        batch = self.rng.integers(0, len(self.data.train_y), BATCH)
        x, y = self.data.train_x[batch], self.data.train_y[batch]
        logits = x @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        probs[np.arange(BATCH), y] -= 1.0  # d(cross-entropy)/d(logits)
        self.weights -= self.learning_rate * (x.T @ probs) / BATCH
        self.bias -= self.learning_rate * probs.mean(axis=0)

    def accuracy(self) -> float:
        predicted = np.argmax(self.data.test_x @ self.weights + self.bias, axis=1)
        return float(np.mean(predicted == self.data.test_y))


class TorchTrainer:
    """The same model on a CUDA device; sampling and initial weights come from the same numpy seed."""

    def __init__(self, torch: ModuleType, data: Split, seed: int, device: str, learn: bool = True) -> None:
        self.torch = torch
        self.rng = np.random.default_rng(seed + 1)
        self.train_y_count = len(data.train_y)

        def put(array: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(array)).to(device)

        self.train_x, self.train_y = put(data.train_x.astype(np.float32)), put(data.train_y)
        self.test_x, self.test_y = put(data.test_x.astype(np.float32)), put(data.test_y)
        initial = self.rng.normal(0.0, INIT_SCALE, (data.train_x.shape[1], CLASSES)).astype(np.float32)
        self.weights = put(initial)
        self.bias = torch.zeros(CLASSES, device=device)
        self.learning_rate = LEARNING_RATE if learn else 0.0

    def train_step(self) -> None:
        torch = self.torch
        batch = torch.from_numpy(self.rng.integers(0, self.train_y_count, BATCH)).to(self.train_x.device)
        x, y = self.train_x[batch], self.train_y[batch]
        probs = torch.softmax(x @ self.weights + self.bias, dim=1)
        probs[torch.arange(BATCH, device=x.device), y] -= 1.0
        self.weights -= self.learning_rate * (x.T @ probs) / BATCH
        self.bias -= self.learning_rate * probs.mean(dim=0)

    def accuracy(self) -> float:
        predicted = (self.test_x @ self.weights + self.bias).argmax(dim=1)
        return float((predicted == self.test_y).float().mean().item())
