"""`fake_nvml`: the pynvml double in place of the real module, here and in every process we start."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

DOUBLE_DIR = Path(__file__).resolve().parent / "nvml_double"


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(DOUBLE_DIR))
    # Containers inherit the emulator's environment, so their `import pynvml` finds the double too.
    inherited = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(DOUBLE_DIR), inherited) if p))
    real = sys.modules.pop("pynvml", None)
    module = importlib.import_module("pynvml")
    assert module.__file__ == str(DOUBLE_DIR / "pynvml.py")
    yield module
    sys.modules.pop("pynvml", None)
    if real is not None:
        sys.modules["pynvml"] = real
