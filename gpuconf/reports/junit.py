"""JUnit XML properties for a step, and reading verdicts back from a JUnit file.

The fixtures call `step_properties(result, run_info)` and append the pairs to the test item's
`user_properties` (`request.node.user_properties.extend(...)`), so every <testcase> in the JUnit
XML carries the run's facts (backend, emulated, versions, VM size, GPU model, device-plugin image)
and the step's (verdict, article section, timeline). CI gates read them with
`verdict_from_junit(path)`: a plain pass/fail reader would count doc-drift and unavailable as
skips and hide them.

Why user_properties and not the `record_property` fixture: with pytest's default junit_family
(xunit2) `record_property` emits a PytestWarning, which `filterwarnings = error` turns into a test
error; junitxml writes user_properties as <properties> in every family.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from gpuconf.reports.redact import redact
from gpuconf.reports.runinfo import RunInfo
from gpuconf.reports.verdicts import StepResult, Verdict, format_timeline

VERDICT_PROPERTY = "verdict"
TEST_ID_PROPERTY = "test_id"
_MAX_PROPERTY_CHARS = 4000  # keep single attributes readable in CI viewers


class JUnitReadError(ValueError):
    """A JUnit file that cannot be read or parsed (one-line message naming the path)."""


def step_properties(result: StepResult, run_info: RunInfo) -> list[tuple[str, str]]:
    """(name, value) pairs for one test case: run facts, then the step's own, then its extra properties.
    Values are redacted and trimmed; names are stable (CI dashboards key on them)."""
    pairs = [
        *run_info.junit_properties(),
        (TEST_ID_PROPERTY, result.test_id),
        ("article_section", result.article_section),
        (VERDICT_PROPERTY, result.verdict.value),
        ("duration_s", f"{result.duration_s:.3f}"),
        ("timeline", format_timeline(result.timeline)),
    ]
    if result.evidence:
        pairs.append(("evidence", " | ".join(result.evidence)))
    pairs += sorted(result.properties.items())
    return [(name, redact(value)[:_MAX_PROPERTY_CHARS]) for name, value in pairs]


def _case_id(case: ET.Element) -> str:
    classname, name = case.get("classname", ""), case.get("name", "")
    return f"{classname}::{name}" if classname else name


def _infer_verdict(case: ET.Element) -> Verdict:
    # Without a verdict property (a test that never reached the recording fixture), fall back to
    # what JUnit itself says: failure/error -> fail, skipped -> unavailable, else pass.
    if case.find("failure") is not None or case.find("error") is not None:
        return Verdict.FAIL
    if case.find("skipped") is not None:
        return Verdict.UNAVAILABLE
    return Verdict.PASS


def verdict_from_junit(path: Path | str) -> dict[str, Verdict]:
    """Test id -> verdict for every <testcase> in a JUnit XML file. The id is the `test_id` property
    when recorded, else "classname::name". A failure/error element always wins over a recorded
    pass (the test failed after recording it)."""
    source = Path(path)
    try:
        root = ET.parse(source).getroot()
    except (OSError, ET.ParseError) as exc:
        raise JUnitReadError(f"cannot read JUnit XML {source}: {exc}") from None
    verdicts: dict[str, Verdict] = {}
    for case in root.iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iterfind("properties/property")}
        inferred = _infer_verdict(case)
        recorded = props.get(VERDICT_PROPERTY)
        verdict = Verdict.parse(recorded) if recorded else inferred
        if inferred is Verdict.FAIL:
            verdict = Verdict.FAIL
        verdicts[props.get(TEST_ID_PROPERTY) or _case_id(case)] = verdict
    return verdicts
