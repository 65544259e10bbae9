"""Sliding-window frames share transients: window SEs count it; windows end with the infusion."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mrspipe.dynamic import (
    TIMECOURSE_COLUMNS,
    glm_timecourses,
    sliding_window_correlation,
    window_responses,
)


def _sliding_course(rng, n_sessions, *, n_trans=400, window=32, step=4, sd=1.0):
    """Frames = sliding means of iid transients (level 10); returns timecourses and the SD."""
    trans = 10.0 + sd * rng.standard_normal((n_sessions, n_trans))
    starts = np.arange(0, n_trans - window + 1, step)
    csum = np.concatenate([np.zeros((n_sessions, 1)), np.cumsum(trans, axis=1)], axis=1)
    frames = (csum[:, starts + window] - csum[:, starts]) / window
    times = (starts + window / 2 - n_trans / 2) * 3.0  # TR 3 s, onset mid-scan
    rows = {
        "participant_id": np.repeat([f"sub-{i:03d}" for i in range(n_sessions)], starts.size),
        "session_id": "ses-1",
        "condition": "placebo",
        "sex": "F",
        "frame": np.tile(np.arange(starts.size), n_sessions),
        "time_s": np.tile(times, n_sessions),
        "metabolite": "Glu",
        "estimate": frames.ravel(),
        "crlb_sd": sd / np.sqrt(window),
    }
    return pd.DataFrame(rows)[list(TIMECOURSE_COLUMNS)]


def test_sliding_window_standard_errors_are_calibrated(rng):
    tc = _sliding_course(rng, 400)
    naive = window_responses(tc)
    honest = window_responses(tc, sliding=(32, 4))
    spread = honest["response"].std()  # the true SD of a response-window mean
    assert honest["response_se"].iloc[0] == pytest.approx(spread, rel=0.12)
    # treating overlapping frames as independent understates the SE by ~sqrt(window/step)
    assert naive["response_se"].iloc[0] < 0.45 * spread
    assert honest["percent_change_se"].iloc[0] == pytest.approx(
        honest["percent_change"].std(), rel=0.12
    )
    rho = sliding_window_correlation(32, 4)
    assert rho[0] == 1.0 and rho[-1] == 0.0 and rho[1] == pytest.approx(28 / 32)


def test_glm_until_infusion_end_leaves_out_the_washout(rng):
    times = np.arange(-600.0, 3600.0, 60.0)
    ramp_up = np.clip(times / 2400.0, 0, 1)
    level = 10.0 * (1 + 0.05 * np.where(times < 2400.0, ramp_up, 0.0))  # washout: back to 10
    y = level + 0.02 * rng.standard_normal(times.size)
    tc = pd.DataFrame(
        {
            "participant_id": "sub-01",
            "session_id": "ses-1",
            "condition": "placebo",
            "sex": "F",
            "frame": np.arange(times.size),
            "time_s": times,
            "metabolite": "Glu",
            "estimate": y,
            "crlb_sd": 0.02,
        }
    )
    bounded = glm_timecourses(tc, duration=2400.0, until=2400.0).set_index("term")
    everything = glm_timecourses(tc, duration=2400.0).set_index("term")
    assert bounded.loc["ramp", "percent"] == pytest.approx(5.0, abs=0.3)
    assert everything.loc["ramp", "percent"] < 4.0  # the washout read as part of the plateau


def test_open_response_window_ends_with_the_infusion():
    from mrspipe.dynamic.options import Windows
    from mrspipe.pipeline.session import bounded_windows

    default = Windows()
    assert bounded_windows(default, 2400.0).response == (0.0, 2400.0)
    assert bounded_windows(default, math.nan).response == (0.0, None)  # no duration recorded
    configured = Windows(response=(600.0, 1800.0))
    assert bounded_windows(configured, 2400.0).response == (600.0, 1800.0)  # configured: kept
    assert "end of the infusion" in default.describe("response")


def test_a_frame_left_out_is_a_gap_not_a_neighbour() -> None:
    """NaN frames are not averaged or counted; the overlap counts frame numbers, not positions."""
    tc = pd.DataFrame(
        {
            "participant_id": "sub-01",
            "session_id": "ses-1",
            "condition": "placebo",
            "sex": "F",
            "frame": np.arange(6),
            "time_s": [-30.0, -20.0, 0.0, 10.0, 20.0, 30.0],
            "metabolite": "Glu",
            "estimate": [10.0, 10.0, 11.0, np.nan, 13.0, 12.0],
            "crlb_sd": [1.0, 1.0, 1.0, np.nan, 2.0, 3.0],
        }
    )
    window, step = 4, 2  # rho = 1, 0.5, 0 at lags 0, 1, 2
    out = window_responses(tc, sliding=(window, step)).iloc[0]
    assert (out["n_baseline"], out["n_response"]) == (2, 3)
    assert out["response"] == pytest.approx(12.0)
    # response frames 2, 4, 5: only 4 and 5 are neighbours (lag 1); 2 and 4 are lag 2 apart
    var = 1.0 + 4.0 + 9.0 + 2 * 0.5 * (2.0 * 3.0)
    assert out["response_se"] == pytest.approx(math.sqrt(var) / 3)
    assert out["baseline_se"] == pytest.approx(math.sqrt(1 + 1 + 2 * 0.5) / 2)
