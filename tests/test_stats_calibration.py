"""A small run of bench/stats_calibration.py: every reported test holds its level under H0.

The bench runs >= 1000 null studies per scenario; here fewer, with limits that a correct test
passes with probability > 0.999 and a test at twice its nominal level fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.stats_calibration import run_frames, run_glm, run_paired
from mrspipe.stats import StatsOptions


def test_crossover_tests_hold_their_level_and_adjusted_estimate_is_unbiased():
    rng = np.random.default_rng(11)
    res = run_paired(200, rng, StatsOptions(permutations=100))
    for key in (
        "paired",
        "paired_perm",
        "paired_M",
        "interaction",
        "interaction_perm",
        "unbalanced",
        "unbalanced_perm",
    ):
        assert 0.01 <= res[key] <= 0.10, (key, res[key])
    # 16 AB / 10 BA, period effect 3 pp: adjusted estimate unbiased, plain one off by -0.69
    assert abs(res["unbalanced_est"]) < 3.5 * res["unbalanced_est_se"]
    assert res["unbalanced_plain_est"] == pytest.approx(
        -3 * 6 / 26, abs=4 * res["unbalanced_plain_est_se"]
    )


@pytest.mark.slow
def test_frame_lmm_holds_its_level_with_ar1_frames():
    res = run_frames(40, np.random.default_rng(12), StatsOptions(permutations=100))
    # 40 studies: P(>= 8 rejections | 0.05) ~ 0.005; the random-intercept-only model
    # GO-MARK used rejects far more often on these data (see docs/methods/statistics.md)
    for key in ("frame_lmm", "frame_lmm_sex", "frame_lmm_M", "frame_lmm_perm"):
        assert res[key] <= 7 / 40, (key, res[key])


def test_session_glm_holds_its_level_with_ar1_frames():
    res = run_glm(1000, np.random.default_rng(13))
    for phi in (0.3, 0.6):
        assert 0.025 <= res[f"glm_ar1_phi{phi}"] <= 0.075, res
        assert res[f"glm_ols_phi{phi}"] > 0.1  # the OLS GLM it replaces does not
