"""The robust "rising" rule: the article's non-monotone sample passes; flat, falling, truncated, gappy,
short and empty curves fail with the sentence that says why."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from gpuconf.checks.accuracy import check_rising, expected_last_step
from gpuconf.checks.logs import parse_training_log

# Keep hypothesis's cache out of the checkout (.hypothesis/ is not in .gitignore).
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "gpuconf-hypothesis")

ARTICLE_POINTS = parse_training_log(
    (Path(__file__).parent / "data" / "article_tf1_sample.log").read_text()
).accuracy


def curve(values: list[float]) -> list[tuple[int, float]]:
    return [(i * 10, v) for i, v in enumerate(values)]


def failed_rules(verdict) -> set[str]:
    return {r.rule for r in verdict.rules if not r.passed}


def test_article_sample_passes_although_not_monotone():
    values = [v for _, v in ARTICLE_POINTS]
    assert any(b < a for a, b in zip(values, values[1:], strict=False))  # the sample really dips
    verdict = check_rising(ARTICLE_POINTS, max_steps=500)
    assert verdict.passed, verdict.explain()
    assert verdict.explain() == "accuracy rose from 0.11 at step 0 to 0.95 at step 490 over 50 points"


def test_flat_curve_fails_with_the_rise_sentence():
    verdict = check_rising(curve([0.10] * 49 + [0.11]), max_steps=500)
    assert not verdict.passed
    assert (
        "accuracy did not rise: first 0.10 at step 0, final 0.11 at step 490 (needs >= 0.9 and a rise >= 0.5)"
        in verdict.failures
    )


def test_falling_curve_fails_rise_and_trend():
    verdict = check_rising(curve([0.95 - i * 0.015 for i in range(50)]), max_steps=500)
    assert failed_rules(verdict) == {"rise", "trend"}
    assert any(s.startswith("accuracy did not trend up: mean of the last 5 points") for s in verdict.failures)


def test_run_that_stops_early_fails_completeness_only():
    verdict = check_rising(ARTICLE_POINTS[:30], max_steps=500)
    assert failed_rules(verdict) == {"complete"}
    assert verdict.failures == [
        "training stopped early: last accuracy at step 290, expected step 490 for max_steps 500"
    ]


def test_run_past_its_limit_fails_completeness():
    verdict = check_rising(ARTICLE_POINTS, max_steps=300)
    assert failed_rules(verdict) == {"complete"}
    assert "ran past its limit" in verdict.failures[0]


def test_too_short_curve_fails():
    verdict = check_rising(curve([0.1, 0.5, 0.95]), max_steps=30)
    assert failed_rules(verdict) == {"enough"}
    assert verdict.failures == ["accuracy curve too short: 3 points (needs at least 10)"]


def test_empty_curve_fails_with_one_sentence():
    verdict = check_rising([], max_steps=500)
    assert not verdict.passed
    assert verdict.failures == [
        "no accuracy points found (expected 'Accuracy at step N: x' every 10 steps up to step 490)"
    ]


def test_gap_in_the_step_grid_fails():
    gappy = [p for p in ARTICLE_POINTS if p[0] not in (200, 210)]
    verdict = check_rising(gappy, max_steps=500)
    assert failed_rules(verdict) == {"grid"}
    assert verdict.failures == [
        "accuracy steps have gaps: missing steps 200, 210 (expected every 10 steps from 0)"
    ]


def test_repeated_step_fails_grid():
    repeated = ARTICLE_POINTS[:20] + ARTICLE_POINTS[19:]
    assert "repeated or out of order" in check_rising(repeated, max_steps=500).failures[0]


def test_value_out_of_range_fails():
    bad = ARTICLE_POINTS[:-1] + [(490, 1.5)]
    assert "range" in failed_rules(check_rising(bad, max_steps=500))


def test_max_steps_none_skips_completeness():
    verdict = check_rising(ARTICLE_POINTS[:30], max_steps=None)
    assert verdict.passed and "complete" not in {r.rule for r in verdict.rules}


@pytest.mark.parametrize(("max_steps", "last"), [(500, 490), (501, 500), (10, 0), (1, 0)])
def test_expected_last_step_follows_the_ten_step_grid(max_steps, last):
    assert expected_last_step(max_steps) == last


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="must be positive"):
        check_rising(ARTICLE_POINTS, max_steps=0)


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=10, max_size=80))
def test_property_a_curve_whose_tail_does_not_beat_its_head_never_passes(values):
    verdict = check_rising(curve(values), max_steps=len(values) * 10)
    size = -(-len(values) // 10)
    if sum(values[-size:]) / size <= sum(values[:size]) / size:
        assert not verdict.passed


@settings(max_examples=60, deadline=None, database=None)
@given(
    st.lists(st.floats(min_value=-0.02, max_value=0.02), min_size=20, max_size=80),
    st.floats(min_value=0.0, max_value=0.3),
)
def test_property_a_noisy_curve_rising_to_095_passes(noise, start):
    # A saturating rise from `start` to ~0.95 with small dips: the rule must not demand monotony.
    n = len(noise)
    values = [min(1.0, max(0.0, start + (0.95 - start) * min(1.0, 3 * i / n) + noise[i])) for i in range(n)]
    values[0], values[-1] = start, 0.95
    assert check_rising(curve(values), max_steps=n * 10).passed


@settings(max_examples=40, deadline=None, database=None)
@given(st.integers(min_value=10, max_value=49))
def test_property_any_truncation_of_the_article_sample_fails(keep):
    assert not check_rising(ARTICLE_POINTS[:keep], max_steps=500).passed
