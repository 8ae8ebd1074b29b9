"""What one article step leaves behind for its test and the reports: evidence lines, a timeline,
JUnit properties and raw data. Apart from gpuconf.flow so the report plugin can name it without
importing the official client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepOutcome:
    evidence: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
