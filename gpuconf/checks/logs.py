"""Parse GPU workload logs into typed results: `parse_workload_log(text, parser="auto")`.

Results:
  TrainingLog    (parsers tf1, tf2, pytorch): GPU discoveries, `Accuracy at step N: x` points,
                 `Adding run metadata for N` steps, datasets downloaded, known failures.
  DeviceListing  (parser nvidia-smi): the GPUs `nvidia-smi -L` listed.
  VectorAddLog   (parser vectoradd): the CUDA vectorAdd sample's element count and PASSED/FAILED.
All share `discoveries`, `failures` (KnownFailure, by signature name, see checks.failures) and
`errors` (one readable line per failure). "auto" picks the result type from what the log contains
and accepts every discovery format. Bad parser names raise ValueError with one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gpuconf.checks.discovery import FOUND_DEVICE, RECOGNISERS, GpuDiscovery, merge_by_index
from gpuconf.checks.failures import KnownFailure, find_failures

PARSERS = ("auto", "tf1", "tf2", "pytorch", "nvidia-smi", "vectoradd")

_ACCURACY = re.compile(r"Accuracy at step (?P<step>\d+): (?P<value>[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)")
_RUN_METADATA = re.compile(r"Adding run metadata for (?P<step>\d+)")
_DOWNLOADED = re.compile(r"Successfully downloaded (?P<file>\S+) (?P<bytes>\d+) bytes")
# A property continuation line of a multi-line `Found device N with properties:` record.
_CONTINUATION = re.compile(r"^\s*(?:name|pciBusID|totalMemory|coreClock|major)\b")
_MAX_CONTINUATION_LINES = 4
_VECTORADD_HEADER = re.compile(r"\[Vector addition of (?P<n>\d+) elements\]")
_NVIDIA_SMI_LINE = re.compile(r"^\s*GPU \d+: .+\(UUID: ", re.MULTILINE)


@dataclass
class WorkloadLog:
    parser: str  # the parser that produced this result ("tf1", ... never "auto")
    discoveries: list[GpuDiscovery] = field(default_factory=list)
    failures: list[KnownFailure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def failure_names(self) -> list[str]:
        """Distinct failure signature names, in order of first appearance."""
        return list(dict.fromkeys(f.name for f in self.failures))

    @property
    def emulated(self) -> bool:
        return any(d.emulated for d in self.discoveries)


@dataclass
class TrainingLog(WorkloadLog):
    accuracy: list[tuple[int, float]] = field(default_factory=list)  # (step, value) in log order
    run_metadata_steps: list[int] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)  # dataset files the workload downloaded


@dataclass
class DeviceListing(WorkloadLog):
    """`nvidia-smi -L` output: the listed GPUs are its `discoveries` (index, name, uuid)."""


@dataclass
class VectorAddLog(WorkloadLog):
    elements: int | None = None
    passed: bool = False  # `Test PASSED` printed and no failure signature seen
    done: bool = False  # `Done` printed (the sample's last line)


def _records(lines: list[str]) -> list[tuple[int, str]]:
    """(1-based line number, record text): a `Found device` line absorbs its property lines."""
    records: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        start, text = i, lines[i]
        if FOUND_DEVICE.search(text):
            taken = 0
            while (
                taken < _MAX_CONTINUATION_LINES and i + 1 < len(lines) and _CONTINUATION.match(lines[i + 1])
            ):
                i += 1
                taken += 1
                text += "\n" + lines[i]
        records.append((start + 1, text))
        i += 1
    return records


def _discoveries(lines: list[str], parser: str) -> list[GpuDiscovery]:
    found: list[GpuDiscovery] = []
    recognisers = RECOGNISERS[parser]
    for number, record in _records(lines):
        for recognise in recognisers:
            if (discovery := recognise(record, number)) is not None:
                found.append(discovery)
                break
    return merge_by_index(found)


def _detect(text: str) -> str:
    if _VECTORADD_HEADER.search(text) or "Failed to allocate device vector" in text:
        return "vectoradd"
    if _NVIDIA_SMI_LINE.search(text) and "Accuracy at step" not in text:
        return "nvidia-smi"
    if "Using CUDA device" in text or "PyTorch" in text:
        return "pytorch"
    if "Created device /job:" in text:
        return "tf2"
    return "tf1"


def parse_workload_log(text: str, parser: str = "auto") -> WorkloadLog:
    """Parse a workload's log. Returns TrainingLog, DeviceListing or VectorAddLog (see module doc)."""
    if parser not in PARSERS:
        raise ValueError(f"unknown log parser {parser!r}; expected one of: {', '.join(PARSERS)}")
    lines = text.splitlines()
    kind = _detect(text) if parser == "auto" else parser
    discoveries = _discoveries(lines, parser)
    failures = find_failures(lines)
    errors = [f.describe() for f in failures]
    if kind == "nvidia-smi":
        return DeviceListing(kind, discoveries, failures, errors)
    if kind == "vectoradd":
        header = _VECTORADD_HEADER.search(text)
        passed = any(line.strip() == "Test PASSED" for line in lines) and not failures
        done = any(line.strip() == "Done" for line in lines)
        elements = int(header["n"]) if header else None
        return VectorAddLog(kind, discoveries, failures, errors, elements=elements, passed=passed, done=done)
    return TrainingLog(
        kind,
        discoveries,
        failures,
        errors,
        accuracy=[(int(m["step"]), float(m["value"])) for m in _ACCURACY.finditer(text)],
        run_metadata_steps=[int(m["step"]) for m in _RUN_METADATA.finditer(text)],
        downloads=[m["file"] for m in _DOWNLOADED.finditer(text)],
    )


def parse_training_log(text: str, parser: str = "auto") -> TrainingLog:
    """Like parse_workload_log, for callers that need a TrainingLog (raises ValueError otherwise)."""
    result = parse_workload_log(text, parser)
    if not isinstance(result, TrainingLog):
        raise ValueError(f"log looks like {result.parser!r} output, not a training log")
    return result
