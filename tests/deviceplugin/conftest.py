"""Short socket directories: unix socket paths must stay under 107 bytes, pytest's tmp_path may not."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gc", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
