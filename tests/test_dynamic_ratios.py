"""Ratio rows: the denominator and the covariance matched by frame, whatever the row order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mrspipe.dynamic import add_ratios
from mrspipe.uncertainty import ratio_sd


def test_ratios_match_frames_and_take_the_covariance_in_either_order():
    frames = pd.DataFrame(
        {
            "frame": [2, 0, 1, 0, 1, 2],
            "metabolite": ["Glx", "Glx", "Glx", "tNAA", "tNAA", "Other"],
            "estimate": [3.0, 2.0, 2.5, 10.0, 8.0, 1.0],
            "crlb_sd": [0.3, 0.2, 0.25, 0.5, 0.4, 0.1],
            "time_s": [20.0, 0.0, 10.0, 0.0, 10.0, 20.0],
        }
    )
    # given as (tNAA, Glx), frame 1 only: frame 0 has none (independent)
    cov = pd.DataFrame(
        {"frame": [1], "metabolite_a": ["tNAA"], "metabolite_b": ["Glx"], "covariance": [0.05]}
    )
    out = add_ratios(frames, ratios={"Glx/tNAA": ("Glx", "tNAA")}, covariance=cov)
    ratio = out[out["metabolite"] == "Glx/tNAA"]
    assert list(ratio["frame"]) == [2, 0, 1]  # the numerator's rows, in its order
    assert list(out.columns) == list(frames.columns)
    r, sd = ratio_sd(
        np.array([2.0, 2.5]), np.array([10.0, 8.0]), np.array([0.04, 0.0625]),
        np.array([0.25, 0.16]), np.array([0.0, 0.05]),
    )  # fmt: skip
    np.testing.assert_allclose(ratio["estimate"].to_numpy()[1:], r)
    np.testing.assert_allclose(ratio["crlb_sd"].to_numpy()[1:], sd)
    # frame 2 has no tNAA: its ratio is undefined, not taken from another frame
    assert ratio["estimate"].isna().to_numpy()[0] and ratio["crlb_sd"].isna().to_numpy()[0]
    np.testing.assert_array_equal(ratio["time_s"], [20.0, 0.0, 10.0])
