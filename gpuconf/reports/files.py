"""Atomic, redacted file writes shared by every report writer.

A report is read while the run is still going (CI tails summary.md) and after a crash, so a
reader must never see half a file: write a temporary sibling, then rename it over the target
(rename is atomic on POSIX and on Windows for files on the same volume).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gpuconf.reports.redact import redact


class ReportDirError(OSError):
    """A reports directory or file cannot be created or written (one-line message naming the path)."""


def ensure_dir(path: Path | str) -> Path:
    """Create `path` (and parents); raise ReportDirError naming it when that is impossible."""
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportDirError(f"cannot create reports directory {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ReportDirError(f"reports directory {directory} is not writable")
    return directory


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file + rename; creates the parent directory."""
    target = Path(path)
    ensure_dir(target.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ReportDirError(f"cannot write report file {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp_name, target)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise ReportDirError(f"cannot write report file {target}: {exc.strerror or exc}") from None
    return target


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Redact `text`, then write it atomically as UTF-8. The only way report text reaches disk."""
    return write_bytes_atomic(path, redact(text).encode("utf-8"))
