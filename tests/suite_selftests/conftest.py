"""Self-tests of the conformance suite (see suite_selftest_lib.py): each runs the real `pytest` on
suites/ in a child process from the repository root; the expensive runs start together, once."""

from suite_selftest_lib import suite_runs

__all__ = ["suite_runs"]
