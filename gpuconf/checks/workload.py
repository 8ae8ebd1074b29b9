"""One call for the article's last check: do the Job's logs prove the GPU was found AND training worked?

`assess_training_log(text, expected_gpu_model=..., max_steps=500)` combines the log parser, the
GPU-name match and the rising-accuracy rule, and returns the evidence lines and the problems as
sentences, ready for a StepResult and an assertion message. A discovery line alone is not enough:
old CUDA images print it and then die in cuBLAS.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuconf.checks.accuracy import AccuracyVerdict, check_rising
from gpuconf.checks.logs import TrainingLog, parse_training_log
from gpuconf.checks.vmsizes import gpu_name_matches


@dataclass(frozen=True)
class LogAssessment:
    log: TrainingLog
    accuracy: AccuracyVerdict
    evidence: list[str]  # what the log proves (discovery line, accuracy summary)
    problems: list[str]  # one sentence per reason the log does not pass

    @property
    def passed(self) -> bool:
        return not self.problems


def assess_training_log(
    text: str,
    *,
    expected_gpu_model: str | None,
    max_steps: int | None,
    parser: str = "auto",
) -> LogAssessment:
    """Judge a training Job's log. `expected_gpu_model=None` accepts any discovered GPU."""
    log = parse_training_log(text, parser)
    evidence: list[str] = []
    problems: list[str] = []
    if not log.discoveries:
        problems.append("no GPU discovery line in the log (the workload did not see a GPU)")
    for gpu in log.discoveries:
        label = f"GPU {gpu.index}: {gpu.name}" + (" (emulated)" if gpu.emulated else "")
        evidence.append(
            f"{label}, compute capability {gpu.compute_capability or '?'} (log line {gpu.line_number})"
        )
        if expected_gpu_model and not gpu_name_matches(expected_gpu_model, gpu.name):
            problems.append(f"GPU {gpu.index} is {gpu.name!r}, expected {expected_gpu_model!r}")
    problems += [f"known failure {f.describe()}" for f in log.failures]
    accuracy = check_rising(log.accuracy, max_steps=max_steps)
    if accuracy.passed:
        evidence.append(accuracy.explain())
    problems += accuracy.failures
    return LogAssessment(log, accuracy, evidence, problems)
