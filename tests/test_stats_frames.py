"""Frame-level linear mixed model (``frame_lmm``): exactness against statsmodels, bookkeeping."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bench.stats_calibration import CONDS, simulate_frames
from mrspipe.stats import StatsOptions
from mrspipe.stats.frames import fit_frame_model, frame_cells, frame_rows


def _periods(tc: pd.DataFrame) -> pd.DataFrame:
    keys = tc.drop_duplicates(["participant_id", "session_id"])
    keys = keys[["participant_id", "session_id", "condition"]]
    return keys.assign(period=keys["session_id"].str[-1].astype(int))


def test_sufficient_statistics_fit_equals_frame_by_frame_mixedlm(rng):
    """The cell-mean REML is the frame-level REML: same fixed effects, SEs and variance
    components as statsmodels MixedLM fitted to every frame."""
    import statsmodels.formula.api as smf

    tc = simulate_frames(rng, n_ab=5, n_ba=4, n_base=5, n_resp=8, phi=0.0)
    cells = frame_cells(
        tc,
        "Glx/tNAA",
        CONDS,
        baseline_window=(None, 0.0),
        response_window=(0.0, None),
        periods=_periods(tc),
    )
    model = fit_frame_model(cells, with_sex=False)
    d = tc.assign(
        c=np.where(tc["condition"] == CONDS[0], 0.5, -0.5),
        t=np.where(tc["time_s"] > 0, 0.5, -0.5),
        per=np.where(tc["session_id"] == "ses-2", 0.5, -0.5),
        sess=tc["participant_id"] + tc["session_id"],
    )
    vc = {"s": "0 + C(sess)", "w": "0 + C(sess):t", "z": "0 + t"}
    md = smf.mixedlm(
        "estimate ~ c * t + per * t", d, groups="participant_id", re_formula="1", vc_formula=vc
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = md.fit(reml=True, method="lbfgs")
    names = ["Intercept", "c", "t", "c:t", "per", "t:per" if "t:per" in fit.fe_params else "per:t"]
    np.testing.assert_allclose(model.beta, fit.fe_params[names], rtol=1e-4, atol=1e-7)
    se = np.sqrt(np.diag(model.covariance))
    np.testing.assert_allclose(se, fit.bse[names], rtol=2e-3)
    assert model.variances["residual"] == pytest.approx(fit.scale, rel=1e-3)
    assert model.variances["participant"] == pytest.approx(
        float(fit.cov_re.iloc[0, 0]), rel=1e-2, abs=1e-7
    )


def test_rows_units_df_and_incomplete_participant(rng):
    tc = simulate_frames(rng, effect=-0.02)
    tc = tc[~((tc["participant_id"] == "sub-03") & (tc["condition"] == CONDS[0]))]
    rows = pd.DataFrame(
        frame_rows(
            tc,
            "Glx/tNAA",
            CONDS,
            StatsOptions(permutations=200),
            baseline_window=(None, 0.0),
            response_window=(0.0, None),
            periods=_periods(tc),
        )
    )
    got = rows.set_index(["subgroup", "term"])
    assert set(got.index) == {
        ("all", "condition:time"),
        ("all", "condition:time:sex"),
        ("M", "condition:time"),
        ("F", "condition:time"),
    }
    ct = got.loc[("all", "condition:time")]
    assert ct["n"] == 25 and ct["ci_low"] < -0.02 < ct["ci_high"]
    # Satterthwaite df about the number of participants, not the ~1800 frames
    assert 15 < ct["df"] < 40 and ct["test"].startswith("F(1, ")
    assert 0 < ct["p_perm"] <= 1
    # sessions whose infusion ended at 600 s contribute only frames before it
    end = {
        (p, s): 600.0
        for p, s in tc[["participant_id", "session_id"]].drop_duplicates().itertuples(index=False)
    }
    cells = frame_cells(
        tc,
        "Glx/tNAA",
        CONDS,
        baseline_window=(None, 0.0),
        response_window=(0.0, None),
        durations=end,
    )
    n_resp = int(np.sum(np.linspace(60, 2400, 24) < 600.0))
    assert (cells["n_ar"] == n_resp).all() and (cells["n_bb"] == 12).all()
