"""The cluster's user kubeconfig on disk: mode 0600 inside a private (0700) temp dir, removed at the end.

It holds a credential, so it is never logged, never put in a report, and never written anywhere a
report collector would pick it up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


class PrivateKubeconfig:
    def __init__(self) -> None:
        self._dir: Path | None = None

    @property
    def path(self) -> Path | None:
        return self._dir / "kubeconfig" if self._dir is not None else None

    def write(self, content: bytes) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="gpuconf-aks-"))  # mkdtemp creates it 0700
        path = self._dir / "kubeconfig"
        # O_EXCL + 0600 at creation: the secret is never readable by others, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        return path

    def remove(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
