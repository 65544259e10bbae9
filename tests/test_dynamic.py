"""Dynamic analysis: onsets, time-course tables, windows, regressors, GLM, linewidth nuisance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mrspipe.dynamic import (
    RESPONSE_COLUMNS,
    TIMECOURSE_COLUMNS,
    boxcar,
    design_matrix,
    drift,
    exponential,
    fit_glm,
    glm_timecourses,
    hrf,
    hrf_boxcar,
    infusion_event,
    infusion_onset,
    linewidth_correction,
    percent_change_timecourses,
    ramp,
    session_timecourses,
    window_responses,
)
from mrspipe.errors import ConfigError, StudyLayoutError

# ---------------------------------------------------------------- events and tables


def test_infusion_onset_picks_infusion_event():
    ev = pd.DataFrame(
        {
            "onset": [0.0, 600.0, 3000.0],
            "duration": [600.0, 2400.0, 10.0],
            "trial_type": ["rest", "ketamine_infusion", "infusion_end"],
        }
    )
    assert infusion_event(ev) == (600.0, 2400.0)
    assert infusion_onset(ev, trial_type="END") == 3000.0
    assert infusion_onset(ev.drop(columns="trial_type").iloc[::-1]) == 0.0  # first event
    with pytest.raises(StudyLayoutError, match="trial_type containing 'bolus'"):
        infusion_onset(ev, trial_type="bolus", source="sub-01_events.tsv")
    with pytest.raises(StudyLayoutError, match="sub-01_events.tsv"):
        infusion_onset(ev.iloc[:0], source="sub-01_events.tsv")
    with pytest.raises(StudyLayoutError, match="onset"):
        infusion_onset(ev.drop(columns="onset"))
    nodur = ev.drop(columns="duration")
    assert np.isnan(infusion_event(nodur)[1])


def _frames(values: dict[str, list[float]], sds: dict[str, list[float]], times) -> pd.DataFrame:
    rows = [
        (i, t, met, v, s)
        for met in values
        for i, (t, v, s) in enumerate(zip(times, values[met], sds[met], strict=True))
    ]
    return pd.DataFrame(rows, columns=["frame", "time_s", "metabolite", "estimate", "crlb_sd"])


def test_session_timecourses_relative_time_and_ratio_uncertainty():
    times = [100.0, 200.0, 300.0]
    frames = _frames(
        {"Glx": [12.0, 13.0, 14.0], "tNAA": [10.0, 10.0, 10.0]},
        {"Glx": [0.6, 0.6, 0.7], "tNAA": [0.2, 0.3, 0.2]},
        times,
    )
    ev = pd.DataFrame({"onset": [150.0], "duration": [2400.0], "trial_type": ["infusion"]})
    sess = {"participant_id": "sub-01", "session_id": "ses-2", "condition": "placebo", "sex": "f"}
    tc = session_timecourses(frames, sess, events=ev, ratios={"Glx/tNAA": ("Glx", "tNAA")})
    assert tuple(tc.columns) == TIMECOURSE_COLUMNS
    assert set(tc["sex"]) == {"F"}
    ratio = tc[tc["metabolite"] == "Glx/tNAA"].sort_values("frame")
    np.testing.assert_allclose(ratio["time_s"], [-50.0, 50.0, 150.0])
    np.testing.assert_allclose(ratio["estimate"], [1.2, 1.3, 1.4])
    expect = np.array([1.2, 1.3, 1.4]) * np.sqrt(
        (np.array([0.6, 0.6, 0.7]) / [12, 13, 14]) ** 2 + (np.array([0.2, 0.3, 0.2]) / 10) ** 2
    )
    np.testing.assert_allclose(ratio["crlb_sd"], expect, rtol=1e-12)
    # a positive covariance shrinks the ratio's uncertainty: cov term -2 cov/(a b)
    cov = pd.DataFrame(
        {"frame": [0, 1, 2], "metabolite_a": "tNAA", "metabolite_b": "Glx", "covariance": 0.05}
    )
    tc2 = session_timecourses(
        frames, sess, onset=150.0, ratios={"Glx/tNAA": ("Glx", "tNAA")}, covariance=cov
    )
    r2 = tc2[tc2["metabolite"] == "Glx/tNAA"].sort_values("frame")
    rel = (expect / [1.2, 1.3, 1.4]) ** 2 - 2 * 0.05 / (np.array([12, 13, 14]) * 10)
    np.testing.assert_allclose(r2["crlb_sd"], np.array([1.2, 1.3, 1.4]) * np.sqrt(rel))
    # frame_times instead of time_s; unknown sex -> NaN; both onset and events -> error
    tc3 = session_timecourses(
        frames.drop(columns="time_s"), {**sess, "sex": "n/a"}, onset=0.0, frame_times=[5, 6, 7]
    )
    assert tc3["sex"].isna().all()
    assert sorted(tc3["time_s"].unique()) == [5.0, 6.0, 7.0]
    assert set(tc3["metabolite"]) == {"Glx", "tNAA", "Glx/tNAA"}  # other ratios lack inputs
    with pytest.raises(ConfigError, match="exactly one"):
        session_timecourses(frames, sess, onset=1.0, events=ev)


def _handmade_timecourses() -> pd.DataFrame:
    rows = []
    for pid, cond, vals, sds in [
        ("sub-01", "placebo", [10.0, 12.0, 13.0, 15.0], [1.0, 1.0, 1.0, 1.0]),
        ("sub-01", "naltrexone", [20.0, 20.0, 21.0, 23.0], [1.0, 2.0, 1.0, 2.0]),
    ]:
        for frame, (t, v, s) in enumerate(zip([-20.0, -10.0, 0.0, 10.0], vals, sds, strict=True)):
            rows.append((pid, f"ses-{cond}", cond, "M", frame, t, "Glu", v, s))
    return pd.DataFrame(rows, columns=list(TIMECOURSE_COLUMNS))


def test_window_responses_exact():
    tc = _handmade_timecourses()
    res = window_responses(tc)
    assert tuple(res.columns[:8]) == RESPONSE_COLUMNS
    res = res.set_index("condition")
    assert res.loc["placebo", "baseline"] == 11.0 and res.loc["placebo", "response"] == 14.0
    assert res.loc["placebo", "percent_change"] == pytest.approx(100 * 3 / 11, rel=1e-12)
    assert res.loc["placebo", "n_baseline"] == 2 and res.loc["placebo", "n_response"] == 2
    assert res.loc["placebo", "baseline_se"] == pytest.approx(np.sqrt(2) / 2)
    # inverse-variance weights 1/sd^2: (21*1 + 23/4) / 1.25 = 21.4
    ivw = window_responses(tc, weighting="inverse_variance").set_index("condition")
    assert ivw.loc["naltrexone", "response"] == pytest.approx(21.4, rel=1e-12)
    assert ivw.loc["naltrexone", "response_se"] == pytest.approx(1 / np.sqrt(1.25))
    assert ivw.loc["naltrexone", "percent_change"] == pytest.approx(7.0, rel=1e-12)
    # configurable windows, half-open [start, end)
    win = window_responses(tc, baseline_window=(-10, 0), response_window=(10, 20))
    win = win.set_index("condition")
    assert win.loc["placebo", "baseline"] == 12.0 and win.loc["placebo", "response"] == 15.0
    with pytest.raises(ConfigError, match="response window"):
        window_responses(tc, response_window=(100, 200))
    with pytest.raises(ConfigError, match="weighting"):
        window_responses(tc, weighting="median")
    with pytest.raises(ConfigError, match="before its end"):
        window_responses(tc, baseline_window=(0, -10))
    # one session without baseline frames -> NaN, the other still computed
    short = tc[~((tc["condition"] == "placebo") & (tc["time_s"] < 0))]
    part = window_responses(short).set_index("condition")
    assert np.isnan(part.loc["placebo", "percent_change"])
    assert part.loc["naltrexone", "percent_change"] == pytest.approx(100 * (22 / 20 - 1))


def test_percent_change_timecourses_exact():
    tc = _handmade_timecourses()
    pc = percent_change_timecourses(tc)
    plc = pc[pc["condition"] == "placebo"].sort_values("frame")
    np.testing.assert_allclose(plc["percent_change"], 100 * (np.array([10, 12, 13, 15]) / 11 - 1))
    np.testing.assert_allclose(plc["percent_change_sd"], 100 / 11)


# ---------------------------------------------------------------- regressors (analytic)

FINE = np.arange(-100.0, 400.0, 0.01)


def test_boxcar_integral_and_frame_average():
    b = boxcar(FINE, onset=10.0, duration=40.0)
    assert b.sum() * 0.01 == pytest.approx(40.0, abs=0.011)
    assert b[np.searchsorted(FINE, 9.99)] == 0 and b[np.searchsorted(FINE, 10.0)] == 1
    # a 20-s frame centred on the onset overlaps the boxcar by half
    avg = boxcar(np.array([10.0, 30.0, 50.0, 100.0]), onset=10, duration=40, frame_duration=20)
    np.testing.assert_allclose(avg, [0.5, 1.0, 0.5, 0.0], atol=1e-12)


def test_ramp_and_exponential_values():
    r = ramp(np.array([-5.0, 0.0, 600.0, 1200.0, 3000.0]), duration=1200.0)
    np.testing.assert_allclose(r, [0, 0, 0.5, 1.0, 1.0])
    # frame averaging equals the numerical mean over the frame
    centres = np.array([-10.0, 5.0, 600.0, 1195.0, 1300.0])
    exact = ramp(centres, duration=1200.0, frame_duration=30.0)
    sub = centres[:, None] + np.linspace(-15, 15, 30001)[None, :]
    np.testing.assert_allclose(exact, ramp(sub, duration=1200.0).mean(axis=1), atol=1e-4)
    tau = 300.0
    e = exponential(np.array([-1.0, 0.0, tau, 10 * tau]), tau=tau)
    np.testing.assert_allclose(e, [0, 0, 1 - np.exp(-1), 1 - np.exp(-10)], rtol=1e-12)
    # boxcar-driven: decays with the same tau after the end
    e2 = exponential(np.array([1000.0, 1000.0 + tau]), tau=tau, duration=1000.0)
    np.testing.assert_allclose(e2[1] / e2[0], np.exp(-1), rtol=1e-12)
    exact = exponential(centres, tau=tau, frame_duration=30.0)
    np.testing.assert_allclose(exact, exponential(sub, tau=tau).mean(axis=1), atol=1e-4)


def test_hrf_shape_and_convolution():
    t = np.arange(0, 40, 0.001)
    h = hrf(t)
    assert 4.5 <= t[np.argmax(h)] <= 5.5  # canonical peak ~5 s
    assert h.min() < 0 and 12.0 <= t[np.argmin(h)] <= 17.0  # undershoot ~15 s
    assert h.sum() * 0.001 == pytest.approx(1.0, abs=2e-3)
    # analytic boxcar*HRF equals the numerical convolution on a fine grid
    dt = 0.01
    grid = np.arange(0, 120, dt)
    num = np.convolve(boxcar(grid, onset=10, duration=30), hrf(grid))[: grid.size] * dt
    ana = hrf_boxcar(grid, onset=10, duration=30)
    np.testing.assert_allclose(ana, num, atol=3e-3)
    assert ana[np.searchsorted(grid, 38.0)] == pytest.approx(1.0, abs=0.01)  # plateau


def test_design_matrix_and_bad_designs():
    times = np.arange(-300.0, 2400.0, 60.0)
    x = design_matrix(
        times,
        duration=1200.0,
        regressors=["ramp", {"kind": "exponential", "tau": 300.0}],
        drift_order=2,
        nuisance={"fwhm_hz": 7 + 0.1 * np.sin(times / 100)},
    )
    assert list(x.columns) == ["intercept", "ramp", "exponential", "drift1", "drift2", "fwhm_hz"]
    assert x.loc[times < 0, "fwhm_hz"].mean() == pytest.approx(0.0, abs=1e-12)
    d = drift(times, order=2)
    np.testing.assert_allclose(d[[0, -1], 0], [-1, 1])
    with pytest.raises(ConfigError, match="collinear"):
        design_matrix(times, duration=1200.0, regressors=["ramp", {"kind": "ramp", "name": "r2"}])
    with pytest.raises(ConfigError, match="constant"):
        design_matrix(times, onset=-1e4, duration=1e6, regressors=["boxcar"])
    with pytest.raises(ConfigError, match="regressors for"):
        design_matrix(times[:4], duration=1200.0, regressors=["ramp"], drift_order=3)
    with pytest.raises(ConfigError, match="kind"):
        design_matrix(times, regressors=["gaussian"])
    with pytest.raises(ConfigError, match="finite duration"):
        design_matrix(times, regressors=["ramp"])
    with pytest.raises(ConfigError, match="bad options"):
        design_matrix(times, duration=100.0, regressors=[{"kind": "boxcar", "tau": 3.0}])


# ---------------------------------------------------------------- GLM


def test_glm_recovers_betas_with_calibrated_errors(rng):
    times = np.arange(-600.0, 2400.0, 60.0)  # 50 frames
    x = design_matrix(times, duration=1200.0, regressors=["ramp"], drift_order=1)
    truth = np.array([10.0, 0.8, -0.3])
    n_series = 2000
    sd = rng.uniform(0.2, 0.6, size=(n_series, times.size))
    y = x.to_numpy() @ truth + sd * rng.standard_normal((n_series, times.size))
    res = fit_glm(y, x, sd=sd)
    assert res.beta.shape == (n_series, 3) and res.names == ("intercept", "ramp", "drift1")
    # unbiased: mean over series within 4 standard errors of that mean
    assert np.all(np.abs(res.beta.mean(0) - truth) < 4 * res.se.mean(0) / np.sqrt(n_series))
    z = (res.beta - truth) / res.se
    crit = sps.t.ppf(0.975, res.df)[:, None]
    coverage = np.mean(np.abs(z) < crit, axis=0)
    assert np.all((coverage > 0.93) & (coverage < 0.97)), coverage  # 95 % CI, 2000 series
    known = fit_glm(y, x, sd=sd, scale="known")
    cov_known = np.mean(np.abs((known.beta - truth) / known.se) < 1.96, axis=0)
    assert np.all((cov_known > 0.93) & (cov_known < 0.97)), cov_known
    # weighting helps: WLS beats OLS in spread when sd varies over frames
    ols = fit_glm(y, x)
    assert res.beta[:, 1].std() < ols.beta[:, 1].std()
    assert res.percent[0, 1] == pytest.approx(100 * res.beta[0, 1] / res.beta[0, 0])
    # delta-method % SE is calibrated too
    zp = (res.percent[:, 1] - 8.0) / res.percent_se[:, 1]
    assert 0.93 < np.mean(np.abs(zp) < crit[:, 0]) < 0.97
    # NaN frames are dropped per series
    y2 = y[:3].copy()
    y2[0, :5] = np.nan
    res2 = fit_glm(y2, x, noise="ols")
    assert res2.df.tolist() == [42.0, 47.0, 47.0]  # 50 frames - 3 regressors (- 5 NaN)
    # AR(1) costs a degree of freedom, also for a course with missing frames (gaps)
    ar = fit_glm(y2, x)
    assert ar.df.tolist() == [41.0, 46.0, 46.0] and np.all(ar.ar1 != 0)


def _session_table(rng, *, glu_pct=5.0, lw_effect=0.0, noise=0.05):
    """One session, Glu and tNAA, ramp response and a narrowing line, in the tidy layout."""
    times = np.arange(-600.0, 2400.0, 30.0)
    r = ramp(times, duration=1200.0)
    fwhm = 7.0 - 0.6 * r + 0.25 * rng.standard_normal(times.size)  # BOLD narrowing + jitter
    glu = 10.0 * (1 + glu_pct / 100 * r) * (1 + lw_effect * (fwhm - 7.0))
    glu = glu + noise * rng.standard_normal(times.size)
    naa = 12.0 + noise * rng.standard_normal(times.size)
    rows = [
        ("sub-01", "ses-1", "placebo", "F", i, t, met, v, noise, fw)
        for met, vals in (("Glu", glu), ("tNAA", naa))
        for i, (t, v, fw) in enumerate(zip(times, vals, fwhm, strict=True))
    ]
    return pd.DataFrame(rows, columns=[*TIMECOURSE_COLUMNS, "fwhm_hz"]), times, fwhm


def test_glm_timecourses_table(rng):
    tc, _, _ = _session_table(rng, glu_pct=6.0)
    out = glm_timecourses(tc, duration=1200.0).set_index(["metabolite", "term"])
    glu = out.loc[("Glu", "ramp")]
    assert abs(glu["percent"] - 6.0) < 3 * glu["percent_se"]
    assert glu["p_value"] < 1e-6
    assert out.loc[("tNAA", "ramp"), "p_value"] > 1e-3
    w = glm_timecourses(tc, duration=1200.0, weighted=True).set_index(["metabolite", "term"])
    assert w.loc[("Glu", "ramp"), "percent"] == pytest.approx(glu["percent"], rel=1e-9)  # equal sd
    with pytest.raises(ConfigError, match="nuisance columns"):
        glm_timecourses(tc, duration=1200.0, nuisance=("snr",))


def test_linewidth_only_change_is_not_a_glutamate_response(rng):
    # Glu truly constant; its estimate rises 4 % per Hz of narrowing (fit bias), line narrows
    tc, times, fwhm = _session_table(rng, glu_pct=0.0, lw_effect=-0.04, noise=0.02)
    naive = glm_timecourses(tc, duration=1200.0).set_index(["metabolite", "term"])
    assert naive.loc[("Glu", "ramp"), "percent"] > 1.5  # looks like a ~2.4 % rise
    assert naive.loc[("Glu", "ramp"), "p_value"] < 1e-6
    fixed = glm_timecourses(tc, duration=1200.0, nuisance=("fwhm_hz",))
    fixed = fixed.set_index(["metabolite", "term"])
    ramp_row = fixed.loc[("Glu", "ramp")]
    assert abs(ramp_row["percent"]) < 3 * ramp_row["percent_se"] and ramp_row["p_value"] > 0.01
    assert fixed.loc[("Glu", "fwhm_hz"), "estimate"] == pytest.approx(-0.4, rel=0.1)
    # the array helper: slope found and removed, corrected series shows no ramp
    glu = tc[tc["metabolite"] == "Glu"].sort_values("frame")["estimate"].to_numpy()
    design = design_matrix(times, duration=1200.0, regressors=["ramp"])
    corr = linewidth_correction(glu, fwhm, design, baseline_mask=times < 0)
    assert corr.slope == pytest.approx(-0.4, rel=0.1) and corr.p_value < 1e-6
    after = fit_glm(corr.corrected, design)
    assert abs(after.beta[1]) < 3 * after.se[1]


def test_infusion_event_exact_trial_type_and_blocks():
    """``heat`` is not ``pre_heat``; back-to-back heat blocks are one event (the pain layout)."""
    ev = pd.DataFrame(
        {
            "onset": [120.0, 240.0, 600.0, 720.0, 840.0, 1000.0],
            "duration": [120.0, 120.0, 120.0, 120.0, 120.0, 60.0],
            "trial_type": ["pre_heat", "pre_heat", "heat", "heat", "post_heat", "heat"],
            "pain_rating": [0, 1, 3, 5, 6, 2],
        }
    )
    assert infusion_event(ev, trial_type="heat") == (600.0, 240.0)
    assert infusion_event(ev, trial_type="HEAT") == (600.0, 240.0)
    assert infusion_event(ev, trial_type="post") == (840.0, 120.0)  # a substring still works
