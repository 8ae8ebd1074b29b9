"""The emulated cluster's fault catalogue (see catalogue.py); `FAULTS[name].section` is the anchor."""

from gpuconf.emulator.faults.catalogue import FAULTS, Fault, FaultTiming, catalogue_lines, lookup
from gpuconf.emulator.faults.nodes import BLOCKING_FINALIZER, release_blocked_pods

__all__ = [
    "BLOCKING_FINALIZER",
    "FAULTS",
    "Fault",
    "FaultTiming",
    "catalogue_lines",
    "lookup",
    "release_blocked_pods",
]
