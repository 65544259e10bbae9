"""Gap-aware AR(1) GLM: missing frames are gaps (corr = phi^|t_i - t_j|), not neighbours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, signal
from scipy import optimize as sopt
from scipy import stats as sps

from mrspipe.design import design_matrix
from mrspipe.dynamic import fit_glm, glm_timecourses
from mrspipe.dynamic.ar1 import (
    _log_det_gaps,
    ar1_reml,
    frame_gaps,
    prais_winsten,
    prais_winsten_design,
)


def _ar1_cov(t: np.ndarray, phi: float) -> np.ndarray:
    """AR(1) covariance of frames ``t`` in units of the innovation variance."""
    return phi ** np.abs(t[:, None] - t[None, :]) / (1 - phi**2)


@pytest.mark.parametrize("phi", [-0.4, 0.3, 0.6, 0.9])
def test_gap_whitening_is_the_cholesky_whitening_of_the_observed_frames(rng, phi):
    n = 30
    frame = np.sort(rng.choice(45, size=n, replace=False)) + 3  # absent numbers are gaps too
    valid = np.ones((1, n), bool)
    valid[0, [0, 1, 7, 12, 13, 14, 22]] = False  # NaN frames, the first ones included
    gaps = frame_gaps(valid, frame)
    obs = np.flatnonzero(valid[0])
    # the transform is linear: its matrix column by column
    eye = np.zeros((n, 1, n))
    eye[np.arange(n), 0, np.arange(n)] = 1.0
    phis = np.full(1, phi)
    w = np.stack([prais_winsten(e, phis, gaps=gaps)[0] for e in eye], axis=1)  # (n, n)
    assert np.all(w[~valid[0]] == 0) and np.all(w[:, ~valid[0]] == 0)
    chol = np.linalg.cholesky(_ar1_cov(frame[obs].astype(float), phi))
    np.testing.assert_allclose(w[np.ix_(obs, obs)], linalg.inv(chol), atol=1e-10, rtol=0)
    # the design is whitened the same way
    x = rng.standard_normal((n, 3))
    xw = prais_winsten_design(x, phis, gaps=gaps)[0]
    np.testing.assert_allclose(
        xw[obs], linalg.solve_triangular(chol, x[obs], lower=True), atol=1e-10
    )
    # log |W|^2 = -log det(covariance)
    logw2 = np.log(1 - phi**2) + _log_det_gaps(phis, gaps[1])[0]
    assert logw2 == pytest.approx(
        -np.linalg.slogdet(_ar1_cov(frame[obs].astype(float), phi))[1], abs=1e-10
    )


def test_no_gap_is_prais_winsten(rng):
    y = rng.standard_normal((4, 20))
    phi = np.array([0.0, 0.3, -0.5, 0.8])
    gaps = frame_gaps(np.ones((4, 20), bool), np.arange(5, 25))
    ref = np.empty_like(y)
    ref[:, 0] = np.sqrt(1 - phi**2) * y[:, 0]
    ref[:, 1:] = y[:, 1:] - phi[:, None] * y[:, :-1]
    assert np.array_equal(prais_winsten(y, phi, gaps=gaps), ref)
    assert np.array_equal(prais_winsten(y, phi), ref)
    with pytest.raises(ValueError, match="increasing"):
        frame_gaps(np.ones((1, 3), bool), np.array([0, 2, 2]))


def test_reml_with_gaps_is_the_dense_reml_optimum(rng):
    n = 40
    t = np.arange(n)
    x = design_matrix(t * 30.0 - 300.0, duration=600.0, regressors=["boxcar"]).to_numpy()
    valid = rng.random((6, n)) > 0.2
    valid[:, 10:15] = False
    e = signal.lfilter([1.0], [1.0, -0.5], rng.standard_normal((6, n)), axis=1)
    y = x @ [10.0, 1.0] + e
    est = ar1_reml(np.where(valid, y, 0.0), x, gaps=frame_gaps(valid))

    def crit(phi: float, i: int) -> float:
        obs = valid[i]
        v = _ar1_cov(t[obs].astype(float), phi)
        vi = np.linalg.inv(v)
        xo, yo = x[obs], y[i, obs]
        a = xo.T @ vi @ xo
        b = np.linalg.solve(a, xo.T @ vi @ yo)
        r = yo - xo @ b
        p = x.shape[1]
        logdet = np.linalg.slogdet(v)[1] + np.linalg.slogdet(a)[1]
        return float((obs.sum() - p) * np.log(r @ vi @ r) + logdet)

    for i in range(6):
        res = sopt.minimize_scalar(crit, bounds=(-0.9, 0.98), args=(i,), method="bounded")
        assert est[i] == pytest.approx(res.x, abs=3e-3)


def _simulate(rng, n_series, n, phis, frac):
    """AR(1) series with a baseline/response block design and missing frames (NaN)."""
    times = (np.arange(n) - n // 3) * 30.0
    design = design_matrix(times, duration=np.inf, regressors=["boxcar"])
    truth = np.array([10.0, 0.5])
    phi = rng.choice(phis, n_series)
    innov = rng.standard_normal((n_series, n))
    e = np.empty((n_series, n))
    e[:, 0] = innov[:, 0] / np.sqrt(1 - phi**2)
    for val in np.unique(phi):  # lfilter per phi value (a few), not per frame
        rows = phi == val
        e[rows] = signal.lfilter([1.0], [1.0, -val], innov[rows], axis=1, zi=val * e[rows, :1])[0]
        e[rows, 0] = innov[rows, 0] / np.sqrt(1 - val**2)
    y = design.to_numpy() @ truth + e
    miss = rng.random((n_series, n)) < rng.uniform(*frac, (n_series, 1))
    start = rng.integers(0, n - 4, n_series)
    block = (np.arange(n) >= start[:, None]) & (np.arange(n) < start[:, None] + 4)
    y[miss | block] = np.nan
    return y, design, truth, phi


def test_gap_aware_glm_is_unbiased_calibrated_and_recovers_phi(rng):
    n_series, n = 2000, 48
    y, design, truth, phi = _simulate(rng, n_series, n, [0.3, 0.45, 0.6], (0.05, 0.12))
    frac = np.isnan(y).mean()
    assert 0.1 < frac < 0.2
    res = fit_glm(y, design)
    slope, se = res.beta[:, 1], res.se[:, 1]
    # (a) unbiased: the mean slope within 4 of its standard errors of the truth
    assert abs(slope.mean() - truth[1]) < 4 * slope.std() / np.sqrt(n_series)
    # (b) 95 % intervals cover the truth ~95 % of the time (2000 series: 0.93-0.97)
    crit = sps.t.ppf(0.975, res.df_term[:, 1])
    coverage = np.mean(np.abs(slope - truth[1]) < crit * se)
    assert 0.93 < coverage < 0.97, coverage
    # the SE is honest: the spread of the estimates matches the mean reported variance
    assert np.std(slope) == pytest.approx(np.sqrt(np.mean(se**2)), rel=0.1)
    # independent frames (the old fallback for courses with missing frames) under-cover
    ols = fit_glm(y, design, noise="ols")
    cov_ols = np.mean(np.abs(ols.beta[:, 1] - truth[1]) < sps.t.ppf(0.975, ols.df) * ols.se[:, 1])
    assert cov_ols < 0.9, cov_ols
    # (c) phi recovered: per true value, the mean estimate within 0.05 (REML, n ~ 40 frames)
    for val in np.unique(phi):
        assert res.ar1[phi == val].mean() == pytest.approx(val, abs=0.05)
    assert np.all(res.df == (~np.isnan(y)).sum(1) - 3)


def test_glm_timecourses_takes_the_lag_from_frame_numbers(rng):
    n = 40
    times = (np.arange(n) - 10) * 30.0
    e = signal.lfilter([1.0], [1.0, -0.5], rng.standard_normal((2, n)), axis=1)
    est = 10 + 0.5 * (times >= 0) + e
    rows = [
        ("01", "a", "x", "F", f, times[f], met, est[i, f], 0.1)
        for i, met in enumerate(["Glu", "tNAA"])
        for f in range(n)
    ]
    cols = "participant_id session_id condition sex frame time_s metabolite estimate crlb_sd"
    table = pd.DataFrame(rows, columns=cols.split())
    gone = table["frame"].isin([5, 6, 20])
    kw = {"regressors": ["boxcar"], "duration": np.inf}
    nan_rows = glm_timecourses(table.assign(estimate=table["estimate"].where(~gone)), **kw)
    absent = glm_timecourses(table[~gone], **kw)  # rows gone: the frame numbers say where
    cols_num = ["estimate", "se", "ar1"]
    np.testing.assert_allclose(absent[cols_num], nan_rows[cols_num], rtol=1e-12, atol=1e-12)
    # Satterthwaite's df: a numerical derivative (step 1e-4) of sums with or without zero rows
    np.testing.assert_allclose(absent["df"], nan_rows["df"], rtol=1e-9, atol=0)
    assert set(absent["noise"]) == {"ar1"}
    x = design_matrix(times, duration=np.inf, regressors=["boxcar"])
    y = np.where(np.isin(np.arange(n), [5, 6, 20]), np.nan, est)
    direct = fit_glm(y, x)
    np.testing.assert_allclose(absent["estimate"], direct.beta.ravel(), rtol=1e-12, atol=1e-12)
    # positions would be wrong: treating the 37 rows as consecutive gives another fit
    packed = fit_glm(
        est[:, ~np.isin(np.arange(n), [5, 6, 20])], x[~np.isin(np.arange(n), [5, 6, 20])]
    )
    assert not np.allclose(packed.ar1, direct.ar1, rtol=0, atol=1e-6)
