"""The four verdicts and the per-step result every report is built from.

Two verdicts are not enough for a document under test: `doc-drift` says "the article's instruction
no longer works on today's platform" (retired VM size, retired header) and `unavailable` says "the
infrastructure to check this is missing" (no Azure credentials, no Docker). Neither is a cluster
failure, and neither may be silent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    DOC_DRIFT = "doc-drift"
    UNAVAILABLE = "unavailable"

    @classmethod
    def parse(cls, text: str) -> Verdict:
        """Verdict from its string value ("pass", "doc-drift", ...); one-line error otherwise."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(v.value for v in cls)
            raise ValueError(f"unknown verdict {text!r}; expected one of: {known}") from None


# Worst first: the overall verdict of a run is the worst of its steps.
VERDICT_SEVERITY: tuple[Verdict, ...] = (Verdict.FAIL, Verdict.UNAVAILABLE, Verdict.DOC_DRIFT, Verdict.PASS)


def overall_verdict(verdicts: Sequence[Verdict]) -> Verdict | None:
    """The worst verdict present (fail > unavailable > doc-drift > pass); None for an empty run."""
    for verdict in VERDICT_SEVERITY:
        if verdict in verdicts:
            return verdict
    return None


@dataclass
class StepResult:
    """What one conformance test found for one article step."""

    test_id: str
    article_section: str  # the article's anchor, e.g. "install-nvidia-device-plugin"
    title: str
    verdict: Verdict
    evidence: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    timeline: list[tuple[float, str]] = field(
        default_factory=list
    )  # (seconds since step start, what happened)
    properties: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "article_section": self.article_section,
            "title": self.title,
            "verdict": self.verdict.value,
            "evidence": list(self.evidence),
            "duration_s": round(self.duration_s, 3),
            "timeline": [[round(t, 3), what] for t, what in self.timeline],
            "properties": dict(self.properties),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepResult:
        return cls(
            test_id=str(data["test_id"]),
            article_section=str(data["article_section"]),
            title=str(data["title"]),
            verdict=Verdict.parse(str(data["verdict"])),
            evidence=[str(e) for e in data.get("evidence", [])],
            duration_s=float(data.get("duration_s", 0.0)),
            timeline=[(float(t), str(what)) for t, what in data.get("timeline", [])],
            properties={str(k): str(v) for k, v in data.get("properties", {}).items()},
        )


def format_timeline(timeline: Sequence[tuple[float, str]], limit: int = 40) -> str:
    """Compact one-line form: "0.0s namespace created; 1.2s daemonset 1/1 ready" (last `limit` entries)."""
    shown = list(timeline)[-limit:]
    skipped = len(timeline) - len(shown)
    text = "; ".join(f"{t:.1f}s {what}" for t, what in shown)
    return f"({skipped} earlier) {text}" if skipped else text
