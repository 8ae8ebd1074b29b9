"""summary.md (for people) and summary.json (for tools) of a conformance run.

`write_summary(results, run_info, out_dir, drift=())` writes both atomically, redacted. The JSON
schema is stable: additive changes only, a breaking change bumps SCHEMA_VERSION.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconf.checks.article import ARTICLE_TITLE, section_rank
from gpuconf.checks.drift import DriftFinding
from gpuconf.reports.files import ensure_dir, write_text_atomic
from gpuconf.reports.runinfo import RunInfo
from gpuconf.reports.verdicts import StepResult, Verdict, overall_verdict

SCHEMA_VERSION = 1
REAL_GPU_BANNER = "EMULATED cluster, REAL GPU"
EMULATED_BANNER = "EMULATED cluster — not real hardware"
_MAX_EVIDENCE_IN_TABLE = 3


@dataclass(frozen=True)
class SummaryFiles:
    markdown: Path
    json: Path


def in_article_order(results: Sequence[StepResult]) -> list[StepResult]:
    """Steps sorted by their article section (stable within a section; unknown sections last)."""
    return sorted(results, key=lambda r: section_rank(r.article_section))


def summary_data(
    results: Sequence[StepResult], run_info: RunInfo, drift: Sequence[DriftFinding] = ()
) -> dict[str, Any]:
    """The summary as plain data: what summary.json holds."""
    ordered = in_article_order(results)
    overall = overall_verdict([r.verdict for r in ordered])
    return {
        "schema_version": SCHEMA_VERSION,
        "article": ARTICLE_TITLE,
        "run": run_info.to_dict(),
        "overall": overall.value if overall else None,
        "totals": {v.value: sum(1 for r in ordered if r.verdict is v) for v in Verdict},
        "steps": [r.to_dict() for r in ordered],
        "doc_drift": [f.to_dict() for f in drift],
        "unavailable": [
            {"test_id": r.test_id, "reason": "; ".join(r.evidence) or "no reason recorded"}
            for r in ordered
            if r.verdict is Verdict.UNAVAILABLE
        ],
    }


def _cell(text: str) -> str:
    """Make text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ").strip()


def _header(run: RunInfo) -> list[str]:
    lines = [f"# GPU conformance: {ARTICLE_TITLE}", ""]
    if run.emulated and run.extra.get("gpu") == "real":
        lines += [
            f"> **{REAL_GPU_BANNER}.** The Kubernetes control plane and kubelet are emulated; the GPUs, "
            "the NVML device plugin and the CUDA workload are real.",
            "",
        ]
    elif run.emulated:
        lines += [
            f"> **{EMULATED_BANNER}.** Results prove the suite and the cluster's behaviour, not a GPU.",
            "",
        ]
    facts = [
        ("Backend", run.backend + (" (emulated)" if run.emulated else "")),
        ("Kubernetes version", run.kubernetes_version),
        ("Kubelet version", run.kubelet_version),
        ("VM size", run.vm_size),
        ("GPU model", run.gpu_model),
        ("Device-plugin image", run.device_plugin_image),
        ("Started", run.started_at),
        *sorted(run.extra.items()),
    ]
    lines += [f"- **{name}:** {value or 'unknown'}" for name, value in facts]
    return lines + [""]


def _steps_table(ordered: Sequence[StepResult]) -> list[str]:
    lines = [
        "## Steps (article order)",
        "",
        "| Section | Test | Verdict | Evidence | Duration |",
        "|---|---|---|---|---|",
    ]
    for r in ordered:
        evidence = r.evidence[:_MAX_EVIDENCE_IN_TABLE]
        more = len(r.evidence) - len(evidence)
        shown = "<br>".join(_cell(e) for e in evidence) + (f"<br>(+{more} more)" if more > 0 else "")
        lines.append(
            f"| `{r.article_section}` | {_cell(r.title)} | **{r.verdict.value.upper()}** | {shown} | "
            f"{r.duration_s:.1f}s |"
        )
    if not ordered:
        lines.append("| | (no steps ran) | | | |")
    return lines + [""]


def render_markdown(
    results: Sequence[StepResult], run_info: RunInfo, drift: Sequence[DriftFinding] = ()
) -> str:
    ordered = in_article_order(results)
    overall = overall_verdict([r.verdict for r in ordered])
    lines = _header(run_info)
    lines += [f"**Overall: {overall.value.upper() if overall else 'NO STEPS'}**", ""]
    lines += _steps_table(ordered)
    lines += ["## Doc drift", ""]
    lines += [f"- `{f.article_section}` {_cell(f.message)} (source: {_cell(f.source)})" for f in drift] or [
        "- none found"
    ]
    unavailable = [r for r in ordered if r.verdict is Verdict.UNAVAILABLE]
    lines += ["", "## Unavailable", ""]
    lines += [
        f"- {r.test_id}: {_cell('; '.join(r.evidence) or 'no reason recorded')}" for r in unavailable
    ] or ["- none"]
    return "\n".join(lines) + "\n"


def write_summary(
    results: Sequence[StepResult],
    run_info: RunInfo,
    out_dir: Path | str,
    drift: Sequence[DriftFinding] = (),
) -> SummaryFiles:
    """Write summary.md and summary.json into out_dir (created if needed); ReportDirError if unwritable."""
    directory = ensure_dir(out_dir)
    markdown = write_text_atomic(directory / "summary.md", render_markdown(results, run_info, drift))
    data = json.dumps(summary_data(results, run_info, drift), indent=2, sort_keys=True, ensure_ascii=False)
    return SummaryFiles(markdown, write_text_atomic(directory / "summary.json", data + "\n"))
