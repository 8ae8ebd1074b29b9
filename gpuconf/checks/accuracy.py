"""Does a training run's accuracy curve "rise"? `check_rising(points, max_steps=500) -> AccuracyVerdict`.

The article's own sample is NOT monotone (0.922 -> 0.9161 -> 0.9219), so "every point above the
last" would reject the reference run. The robust rule, every part of which must hold:
  enough     at least `min_points` points (a 10% window needs points to average)
  rise       final >= min_final and final - first >= min_rise
  trend      mean of the last 10% of points > mean of the first 10%
  grid       steps are 0, interval, 2*interval, ... with no gap, repeat or reordering
  complete   the last step is the last grid step below max_steps (490 for --max_steps 500): the run
             did not stop early, nor run past what it was asked
  range      every value is within [0, 1]
Each failed rule contributes one sentence to `AccuracyVerdict.failures`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_INTERVAL = 10  # the sample workload evaluates every 10 steps from step 0
DEFAULT_MIN_FINAL = 0.9
DEFAULT_MIN_RISE = 0.5
DEFAULT_MIN_POINTS = 10
WINDOW_SHARE = 0.1


@dataclass(frozen=True)
class RuleOutcome:
    rule: str  # "enough", "rise", "trend", "grid", "complete", "range"
    passed: bool
    explanation: str  # one sentence when failed, "" when passed


@dataclass(frozen=True)
class AccuracyVerdict:
    passed: bool
    rules: tuple[RuleOutcome, ...]
    points: tuple[tuple[int, float], ...]

    @property
    def failures(self) -> list[str]:
        """One sentence per failed rule."""
        return [r.explanation for r in self.rules if not r.passed]

    def explain(self) -> str:
        if self.passed:
            first, final = self.points[0], self.points[-1]
            return (
                f"accuracy rose from {first[1]:.2f} at step {first[0]} to {final[1]:.2f} at step {final[0]} "
                f"over {len(self.points)} points"
            )
        return "; ".join(self.failures)


def expected_last_step(max_steps: int, interval: int = DEFAULT_INTERVAL) -> int:
    """The last evaluated step for `--max_steps N`: the largest multiple of `interval` below N."""
    return ((max_steps - 1) // interval) * interval


def _window_means(values: list[float]) -> tuple[float, float, int]:
    size = max(1, math.ceil(len(values) * WINDOW_SHARE))
    return sum(values[:size]) / size, sum(values[-size:]) / size, size


def _grid_problem(steps: list[int], interval: int) -> str | None:
    expected = [i * interval for i in range(len(steps))]
    if steps == expected:
        return None
    if steps[0] != 0:
        return f"accuracy steps do not start at 0: the first is step {steps[0]}"
    seen: set[int] = set()
    for previous, step in zip(steps, steps[1:], strict=False):
        if step in seen or step <= previous:
            return f"accuracy steps are repeated or out of order: step {step} after step {previous}"
        seen.add(previous)
    off_grid = [s for s in steps if s % interval]
    if off_grid:
        shown = ", ".join(str(s) for s in off_grid[:5])
        return f"accuracy steps are off the {interval}-step grid: {shown}"
    missing = sorted(set(range(0, steps[-1] + 1, interval)) - set(steps))
    shown = ", ".join(str(s) for s in missing[:5]) + (" ..." if len(missing) > 5 else "")
    return f"accuracy steps have gaps: missing steps {shown} (expected every {interval} steps from 0)"


def check_rising(
    points: Sequence[tuple[int, float]],
    *,
    max_steps: int | None,
    interval: int = DEFAULT_INTERVAL,
    min_final: float = DEFAULT_MIN_FINAL,
    min_rise: float = DEFAULT_MIN_RISE,
    min_points: int = DEFAULT_MIN_POINTS,
) -> AccuracyVerdict:
    """Apply the rising rule to (step, accuracy) points in log order. `max_steps=None` skips `complete`."""
    if interval <= 0 or (max_steps is not None and max_steps <= 0):
        raise ValueError(f"interval ({interval}) and max_steps ({max_steps}) must be positive")
    pts = tuple((int(s), float(v)) for s, v in points)
    if not pts:
        up_to = f" up to step {expected_last_step(max_steps, interval)}" if max_steps else ""
        sentence = (
            f"no accuracy points found (expected 'Accuracy at step N: x' every {interval} steps{up_to})"
        )
        return AccuracyVerdict(False, (RuleOutcome("enough", False, sentence),), pts)

    steps = [s for s, _ in pts]
    values = [v for _, v in pts]
    (first_step, first), (final_step, final) = pts[0], pts[-1]
    rules: list[RuleOutcome] = []

    enough = len(pts) >= min_points
    rules.append(
        RuleOutcome(
            "enough",
            enough,
            "" if enough else f"accuracy curve too short: {len(pts)} points (needs at least {min_points})",
        )
    )

    rose = final >= min_final and final - first >= min_rise
    rules.append(
        RuleOutcome(
            "rise",
            rose,
            ""
            if rose
            else f"accuracy did not rise: first {first:.2f} at step {first_step}, final {final:.2f} at step "
            f"{final_step} (needs >= {min_final:g} and a rise >= {min_rise:g})",
        )
    )

    head, tail, size = _window_means(values)
    trending = tail > head
    rules.append(
        RuleOutcome(
            "trend",
            trending,
            ""
            if trending
            else f"accuracy did not trend up: mean of the last {size} points {tail:.2f} is not above "
            f"the mean of the first {size} points {head:.2f}",
        )
    )

    grid_problem = _grid_problem(steps, interval)
    rules.append(RuleOutcome("grid", grid_problem is None, grid_problem or ""))

    if max_steps is not None:
        want = expected_last_step(max_steps, interval)
        complete = final_step == want
        what = "stopped early" if final_step < want else "ran past its limit"
        sentence = (
            ""
            if complete
            else f"training {what}: last accuracy at step {final_step}, expected step {want} "
            f"for max_steps {max_steps}"
        )
        rules.append(RuleOutcome("complete", complete, sentence))

    bad = [(s, v) for s, v in pts if not 0.0 <= v <= 1.0]
    rules.append(
        RuleOutcome(
            "range",
            not bad,
            f"accuracy outside [0, 1]: {bad[0][1]} at step {bad[0][0]}" if bad else "",
        )
    )
    return AccuracyVerdict(all(r.passed for r in rules), tuple(rules), pts)
