"""Whether a process exists, for code that holds only its pid (the emulator's lifeline, the run sweep)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while `pid` names a process, also one of another user's (signal 0 checks, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists; someone else's
    return True
