"""Keep hypothesis' caches out of the checkout: it writes `.hypothesis/` to the working directory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "gpuconf-hypothesis"))
