"""GPU discovery lines, one recogniser per log format seen in the wild.

Each recogniser looks at one log record and returns a GpuDiscovery or None. Formats:
  tf1        `Found device 0 with properties: name: Tesla K80 major: 3 minor: 7 ... pciBusID: ...
             totalMemory: ...` (the properties may continue on the following lines) and
             `Creating TensorFlow device (/device:GPU:0) -> (device: 0, name: ..., pci bus id: ...,
             compute capability: 3.7)`
  tf2.1      `Found device 0 with properties:` + `pciBusID: ... name: A100-SXM4-40GB computeCapability: 8.0`
             + `coreClock: ... deviceMemorySize: 39.59GiB ...` (TF 2.1-2.4)
  tf2        `Created device /job:.../device:GPU:0 with 38283 MB memory:  -> device: 0, name: ...,
             pci bus id: ..., compute capability: 8.0` (absl prefix, MIG names and a missing space
             before `compute capability` allowed)
  pytorch    `Using CUDA device 0: NVIDIA H200 (compute capability 9.0)`
  nvidia-smi `GPU 0: Tesla T4 (UUID: GPU-...)` from `nvidia-smi -L`
An emulated GPU says so in its name (`Tesla K80 (emulated)`): the marker is stripped from `name` and
sets `emulated=True`, so reports can never present an emulated device as real hardware.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

EMULATED_MARKER = "(emulated)"
_EMULATED = re.compile(r"\s*[(\[]emulated[)\]]", re.IGNORECASE)


@dataclass(frozen=True)
class GpuDiscovery:
    """One GPU as a workload reported it."""

    index: int
    name: str
    compute_capability: str | None  # "3.7"
    pci_bus_id: str | None
    memory: str | None  # as printed: "11.17GiB", "38283 MB", "39.59GiB"
    emulated: bool
    raw_line: str  # the record's text (continuation lines joined by "\n"), a substring of the log
    line_number: int  # 1-based line of the record's first line
    source_format: str  # "tf1", "tf2.1", "tf2", "pytorch", "nvidia-smi"
    uuid: str | None = None

    def merged_with(self, other: GpuDiscovery) -> GpuDiscovery:
        """Fill this record's missing facts from a later line about the same device (TF1 prints two)."""
        return replace(
            self,
            compute_capability=self.compute_capability or other.compute_capability,
            pci_bus_id=self.pci_bus_id or other.pci_bus_id,
            memory=self.memory or other.memory,
            uuid=self.uuid or other.uuid,
            emulated=self.emulated or other.emulated,
        )


def _clean_name(raw: str) -> tuple[str, bool]:
    emulated = bool(_EMULATED.search(raw))
    return _EMULATED.sub("", raw).strip(), emulated


def _make(
    fmt: str, record: str, line_number: int, index: str, name: str, **facts: str | None
) -> GpuDiscovery:
    clean, emulated = _clean_name(name)
    return GpuDiscovery(
        index=int(index),
        name=clean,
        compute_capability=facts.get("cc"),
        pci_bus_id=facts.get("pci"),
        memory=facts.get("memory"),
        emulated=emulated or EMULATED_MARKER in record.lower(),
        raw_line=record,
        line_number=line_number,
        source_format=fmt,
        uuid=facts.get("uuid"),
    )


# --- TF1 / TF2.1 "Found device N with properties:" (the properties may span the next lines) ---
FOUND_DEVICE = re.compile(r"Found device (?P<index>\d+) with properties:")
_TF1_PROPS = re.compile(
    r"name: (?P<name>.+?)\s+major: (?P<major>\d+)\s+minor: (?P<minor>\d+)"
    r"(?:.*?pciBusID:?\s*(?P<pci>[0-9a-fA-F:.]+))?(?:.*?totalMemory: (?P<memory>[\d.]+\s*[KMGT]i?B))?",
    re.DOTALL,
)
_TF21_PROPS = re.compile(
    r"pciBusID: (?P<pci>[0-9a-fA-F:.]+)\s+name: (?P<name>.+?)\s+computeCapability: (?P<cc>\d+\.\d+)"
    r"(?:.*?deviceMemorySize: (?P<memory>[\d.]+\s*[KMGT]i?B))?",
    re.DOTALL,
)


def parse_found_device(record: str, line_number: int) -> GpuDiscovery | None:
    head = FOUND_DEVICE.search(record)
    if head is None:
        return None
    props = record[head.end() :]
    if m := _TF1_PROPS.search(props):
        cc = f"{m['major']}.{m['minor']}"
        return _make(
            "tf1", record, line_number, head["index"], m["name"], cc=cc, pci=m["pci"], memory=m["memory"]
        )
    if m := _TF21_PROPS.search(props):
        return _make(
            "tf2.1",
            record,
            line_number,
            head["index"],
            m["name"],
            cc=m["cc"],
            pci=m["pci"],
            memory=m["memory"],
        )
    return None


# --- the "(device: N, name: X, pci bus id: Y, compute capability: Z)" tail TF1 and TF2 share ---
_DEVICE_TAIL = (
    r"device: (?P<index>\d+), name: (?P<name>.+?), pci bus id: (?P<pci>[0-9a-fA-F:.]+),\s*"
    r"compute capability: (?P<cc>\d+\.\d+)"
)
_TF1_CREATING = re.compile(
    r"Creating TensorFlow device \(/(?:job:[^)]*?/)?device:GPU:\d+(?: with (?P<memory>\d+ MB) memory)?\)"
    r" -> (?:physical GPU )?\(" + _DEVICE_TAIL
)
_TF2_CREATED = re.compile(
    r"Created device /job:\S+/device:GPU:\d+ with (?P<memory>\d+ MB) memory:?\s*->\s*" + _DEVICE_TAIL
)


def parse_tf1_creating(record: str, line_number: int) -> GpuDiscovery | None:
    if m := _TF1_CREATING.search(record):
        return _make(
            "tf1", record, line_number, m["index"], m["name"], cc=m["cc"], pci=m["pci"], memory=m["memory"]
        )
    return None


def parse_tf2_created(record: str, line_number: int) -> GpuDiscovery | None:
    if m := _TF2_CREATED.search(record):
        return _make(
            "tf2", record, line_number, m["index"], m["name"], cc=m["cc"], pci=m["pci"], memory=m["memory"]
        )
    return None


_PYTORCH = re.compile(
    r"Using CUDA device (?P<index>\d+): (?P<name>.+?) \(compute capability (?P<cc>\d+\.\d+)\)"
)


def parse_pytorch(record: str, line_number: int) -> GpuDiscovery | None:
    if m := _PYTORCH.search(record):
        return _make("pytorch", record, line_number, m["index"], m["name"], cc=m["cc"])
    return None


_NVIDIA_SMI = re.compile(r"^\s*GPU (?P<index>\d+): (?P<name>.+?) \(UUID: (?P<uuid>[^)]+)\)")


def parse_nvidia_smi(record: str, line_number: int) -> GpuDiscovery | None:
    if m := _NVIDIA_SMI.search(record):
        return _make("nvidia-smi", record, line_number, m["index"], m["name"], uuid=m["uuid"].strip())
    return None


Recogniser = Callable[[str, int], GpuDiscovery | None]

# Which recognisers each parser name accepts ("auto" accepts all).
RECOGNISERS: dict[str, tuple[Recogniser, ...]] = {
    "tf1": (parse_found_device, parse_tf1_creating),
    "tf2": (parse_found_device, parse_tf2_created),
    "pytorch": (parse_pytorch,),
    "nvidia-smi": (parse_nvidia_smi,),
    "vectoradd": (),
}
RECOGNISERS["auto"] = (
    parse_found_device,
    parse_tf1_creating,
    parse_tf2_created,
    parse_pytorch,
    parse_nvidia_smi,
)


def merge_by_index(found: list[GpuDiscovery]) -> list[GpuDiscovery]:
    """One GpuDiscovery per device index, in first-seen order, facts merged across its lines."""
    merged: dict[int, GpuDiscovery] = {}
    for discovery in found:
        earlier = merged.get(discovery.index)
        merged[discovery.index] = earlier.merged_with(discovery) if earlier else discovery
    return list(merged.values())
