"""One call per workload for the article's last check: do the logs prove the GPU was used AND worked?

`assess_workload_log(parser, text, expected_gpu_model=..., gpus=1, max_steps=500)` picks the rule
for the workload's log format and returns the evidence lines and the problems as sentences, ready for
a StepResult and an assertion message:
  training logs (tf1, tf2, pytorch)  a discovery line naming the expected GPU AND a rising accuracy
                                     curve (a discovery line alone is not enough: old CUDA images
                                     print it and then die in cuBLAS)
  vectoradd                          `[Vector addition of N elements]` ... `Test PASSED` ... `Done`
  nvidia-smi                         exactly the allocated number of GPUs listed, each the expected
                                     model, each with a UUID
Known failure signatures (checks.failures) are problems in every format.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuconf.checks.accuracy import AccuracyVerdict, check_rising
from gpuconf.checks.discovery import GpuDiscovery
from gpuconf.checks.logs import (
    DeviceListing,
    TrainingLog,
    VectorAddLog,
    WorkloadLog,
    parse_training_log,
    parse_workload_log,
)
from gpuconf.checks.vmsizes import gpu_name_matches


@dataclass(frozen=True)
class LogAssessment:
    log: WorkloadLog
    evidence: list[str]  # what the log proves (discovery line, accuracy summary, PASSED line)
    problems: list[str]  # one sentence per reason the log does not pass
    accuracy: AccuracyVerdict | None = None  # training logs only

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def accuracy_points(self) -> list[tuple[int, float]]:
        return self.log.accuracy if isinstance(self.log, TrainingLog) else []


def _discovery_evidence(
    gpus: list[GpuDiscovery], expected_gpu_model: str | None
) -> tuple[list[str], list[str]]:
    evidence, problems = [], []
    for gpu in gpus:
        label = f"GPU {gpu.index}: {gpu.name}" + (" (emulated)" if gpu.emulated else "")
        details = f"compute capability {gpu.compute_capability}" if gpu.compute_capability else ""
        if gpu.uuid:
            details = ", ".join(filter(None, [details, gpu.uuid]))
        evidence.append(f"{label}" + (f", {details}" if details else "") + f" (log line {gpu.line_number})")
        if expected_gpu_model and not gpu_name_matches(expected_gpu_model, gpu.name):
            problems.append(f"GPU {gpu.index} is {gpu.name!r}, expected {expected_gpu_model!r}")
    return evidence, problems


def assess_training_log(
    text: str,
    *,
    expected_gpu_model: str | None,
    max_steps: int | None,
    parser: str = "auto",
) -> LogAssessment:
    """Judge a training Job's log. `expected_gpu_model=None` accepts any discovered GPU."""
    log = parse_training_log(text, parser)
    evidence, problems = _discovery_evidence(log.discoveries, expected_gpu_model)
    if not log.discoveries:
        problems.insert(0, "no GPU discovery line in the log (the workload did not see a GPU)")
    problems += [f"known failure {f.describe()}" for f in log.failures]
    accuracy = check_rising(log.accuracy, max_steps=max_steps)
    if accuracy.passed:
        evidence.append(accuracy.explain())
    problems += accuracy.failures
    return LogAssessment(log, evidence, problems, accuracy)


def assess_vectoradd_log(text: str) -> LogAssessment:
    log = parse_workload_log(text, "vectoradd")
    assert isinstance(log, VectorAddLog)
    problems = [f"known failure {f.describe()}" for f in log.failures]
    if log.elements is None:
        problems.append("no `[Vector addition of N elements]` header: the sample did not start")
    if not log.passed and not log.failures:
        problems.append("no `Test PASSED` line: the GPU's result was not verified")
    if log.passed and not log.done:
        problems.append("`Test PASSED` but no final `Done` line: the sample did not finish")
    evidence = [f"vector addition of {log.elements} elements: Test PASSED, Done"] if not problems else []
    return LogAssessment(log, evidence, problems)


def assess_device_listing(text: str, *, expected_gpu_model: str | None, gpus: int) -> LogAssessment:
    log = parse_workload_log(text, "nvidia-smi")
    assert isinstance(log, DeviceListing)
    evidence, problems = _discovery_evidence(log.discoveries, expected_gpu_model)
    problems += [f"known failure {f.describe()}" for f in log.failures]
    if len(log.discoveries) != gpus:
        problems.insert(0, f"nvidia-smi -L lists {len(log.discoveries)} GPU(s), but the pod was given {gpus}")
    problems += [f"GPU {g.index} ({g.name}) is listed without a UUID" for g in log.discoveries if not g.uuid]
    return LogAssessment(log, evidence, problems)


TRAINING_PARSERS = ("auto", "tf1", "tf2", "pytorch")


def assess_workload_log(
    parser: str,
    text: str,
    *,
    expected_gpu_model: str | None,
    gpus: int = 1,
    max_steps: int | None = None,
) -> LogAssessment:
    """The rule for the workload whose log format is `parser` (see the module docstring)."""
    if parser == "vectoradd":
        return assess_vectoradd_log(text)
    if parser == "nvidia-smi":
        return assess_device_listing(text, expected_gpu_model=expected_gpu_model, gpus=gpus)
    if parser in TRAINING_PARSERS:
        return assess_training_log(
            text, expected_gpu_model=expected_gpu_model, max_steps=max_steps, parser=parser
        )
    raise ValueError(f"no assessment rule for log parser {parser!r}")
