"""The workloads' one error type, and the main() they share: print a WorkloadError as one line, exit 1."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping


class WorkloadError(RuntimeError):
    """Worded like the CUDA/TensorFlow error it stands for, or as an instruction to the user."""


Program = Callable[[list[str], Mapping[str, str], Callable[[str], None]], int]


def run_program(program: Program, argv: list[str] | None = None) -> int:
    """Run a workload program with this process's arguments and environment, its lines unbuffered
    (they are a pod's log, read while it runs)."""

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        return program(sys.argv[1:] if argv is None else argv, os.environ, out)
    except WorkloadError as failure:
        print(failure, file=sys.stderr, flush=True)
        return 1
