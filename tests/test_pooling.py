"""Neighbour responses pooled across sessions (mrspipe.dynamic.pooling) against simulated truth.

Frames are drawn from the frame fitter's error model (Gaussian, with Glu anti-correlated with
Gln and GABA as their overlapping spectra make it), so the truth of every session's Glu % change
is known exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mrspipe.dynamic import add_ratios
from mrspipe.dynamic.pooling import dersimonian_laird, pool_neighbours, response_design

NAMES = ("Glu", "Gln", "GABA", "tCr")
MEAN = np.array([10.0, 4.0, 1.5, 8.0])
SD = np.array([0.30, 0.35, 0.25, 0.10])
CORR = np.array(
    [[1.0, -0.6, -0.35, 0.0], [-0.6, 1.0, 0.1, 0.0], [-0.35, 0.1, 1.0, 0.0], [0, 0, 0, 1.0]]
)
TIMES = np.arange(40) * 48.0 - 480.0  # s from the onset
WINDOWS = ((None, 0.0), (0.0, None))


def _study(rng, n_sessions=24, gln_change=0.0, gln_sd=0.0):
    """Timecourses, covariance and the true Glu window % change of every session."""
    cov = CORR * np.outer(SD, SD)
    # Glx = Glu + Gln: its covariances follow
    A = np.vstack([np.eye(4), [1, 1, 0, 0]])
    full = A @ cov @ A.T
    names = [*NAMES, "Glx"]
    r = np.where(TIMES >= 0, 1 - np.exp(-np.maximum(TIMES, 0) / 300.0), 0.0)
    tcs, covs, truth = [], [], {}
    for i in range(n_sessions):
        pid, sid = f"sub-{i // 2:02d}", f"ses-{i % 2 + 1}"
        true = np.tile(MEAN, (TIMES.size, 1))
        pct = 8.0 + rng.normal(0, 1.5)
        true[:, 0] *= 1 + pct / 100 * r
        true[:, 1] *= 1 + (gln_change + gln_sd * rng.standard_normal()) / 100 * r
        noisy = true + rng.multivariate_normal(np.zeros(4), cov, TIMES.size)
        values = np.column_stack([noisy, noisy[:, 0] + noisy[:, 1]])
        post = TIMES >= 0
        truth[(pid, sid)] = 100 * (true[post, 0].mean() / true[~post, 0].mean() - 1)
        frames = np.repeat(np.arange(TIMES.size), len(names))
        tc = pd.DataFrame(
            {
                "participant_id": pid,
                "session_id": sid,
                "condition": "placebo",
                "sex": "F",
                "frame": frames,
                "time_s": TIMES[frames],
                "metabolite": np.tile(names, TIMES.size),
                "estimate": values.ravel(),
                "crlb_sd": np.tile(np.sqrt(np.diag(full)), TIMES.size),
            }
        )
        pairs = [(a, b) for a in range(5) for b in range(a + 1, 5)]
        cv = pd.DataFrame(
            [
                (pid, sid, f, names[a], names[b], full[a, b])
                for f in range(TIMES.size)
                for a, b in pairs
            ],
            columns=[
                "participant_id",
                "session_id",
                "frame",
                "metabolite_a",
                "metabolite_b",
                "covariance",
            ],
        )
        tcs.append(add_ratios(tc, ratios={"Glu/tCr": ("Glu", "tCr")}, covariance=cv))
        covs.append(cv)
    return pd.concat(tcs, ignore_index=True), pd.concat(covs, ignore_index=True), truth


def _errors(responses, truth, metabolite="Glu"):
    glu = responses[responses["metabolite"] == metabolite].set_index(
        ["participant_id", "session_id"]
    )
    t = pd.Series(truth)
    return (glu["percent_change"] - t.loc[glu.index].to_numpy()).to_numpy(), glu[
        "percent_change_se"
    ].to_numpy()


def _run(tc, cv, **kw):
    windows = {k: WINDOWS for k in tc.groupby(["participant_id", "session_id"]).groups}
    return pool_neighbours(
        tc,
        cv,
        metabolites=("Gln", "GABA"),
        windows=windows,
        ratios={"Glu/tCr": ("Glu", "tCr")},
        **kw,
    )


def _free(tc):
    from mrspipe.dynamic import window_responses

    return window_responses(tc, baseline_window=WINDOWS[0], response_window=WINDOWS[1])


def test_design_and_dersimonian_laird():
    X = response_design(np.array([-10.0, 0.0, 500.0, 900.0]), (0.0, 600.0))
    assert X.tolist() == [[1, 0], [1, 1], [1, 1], [1, 0]]
    # homogeneous: tau 0, mean the inverse-variance mean
    mu, tau2, mu_var = dersimonian_laird(np.array([1.0, 1.0, 1.0]), np.array([1.0, 1.0, 2.0]))
    assert (mu, tau2) == (1.0, 0.0) and mu_var == pytest.approx(1 / 2.5)
    # spread far beyond the sampling variance: tau^2 near the spread's variance
    rng = np.random.default_rng(0)
    b = rng.normal(0, 3.0, 400)
    assert np.sqrt(dersimonian_laird(b, np.full(400, 0.01))[1]) == pytest.approx(3.0, rel=0.1)


@pytest.mark.parametrize("gln_change", [0.0, 10.0])
def test_pooling_lowers_the_glu_error_without_bias(gln_change):
    rng = np.random.default_rng(7)
    err_free, err_pool = [], []
    z = []
    for _ in range(6):
        tc, cv, truth = _study(rng, gln_change=gln_change)
        adj_tc, resp, summary = _run(tc, cv)
        e, se = _errors(resp, truth)
        err_pool.append(e)
        z.append(e / se)
        err_free.append(_errors(_free(tc), truth)[0])
    e_free, e_pool = np.concatenate(err_free), np.concatenate(err_pool)
    rmse_free, rmse_pool = np.sqrt((e_free**2).mean()), np.sqrt((e_pool**2).mean())
    # conditioning on known neighbours would give about 0.7 of the noise (measured: 0.72)
    assert rmse_pool < 0.8 * rmse_free
    assert abs(e_pool.mean()) < 3 * e_pool.std() / np.sqrt(e_pool.size)
    # honest standard errors: z-scores of unit spread
    assert 0.85 < np.concatenate(z).std() < 1.15
    # the pooled Gln response is the simulated one (4 mM x 10 % x the window mean of the
    # response curve, 0.645): 0.26 mM, or 0
    gln = summary[summary["metabolite"] == "Gln"]
    assert len(gln) == 1 and gln["n_sessions"].iloc[0] == 24
    assert gln["mu"].iloc[0] == pytest.approx(0.4 * gln_change * 0.0645, abs=0.08)


def test_heterogeneous_neighbours_cost_nothing_and_stay_unbiased_with_honest_se():
    rng = np.random.default_rng(3)
    errs, zs, frees = [], [], []
    for _ in range(6):
        tc, cv, truth = _study(rng, gln_change=5.0, gln_sd=15.0)
        frees.append((tc, truth))
        _, resp, summary = _run(tc, cv)
        e, se = _errors(resp, truth)
        errs.append(e)
        zs.append(e / se)
    e = np.concatenate(errs)
    assert abs(e.mean()) < 3 * e.std() / np.sqrt(e.size)
    # Gln changes by 5 +- 15 %: little shrinkage, no loss (measured 0.97 of the free RMSE)
    e_free = np.concatenate([_errors(_free(t), tr)[0] for t, tr in frees])
    assert np.sqrt((e**2).mean()) < 1.03 * np.sqrt((e_free**2).mean())
    assert 0.85 < np.concatenate(zs).std() < 1.15
    assert (summary.loc[summary["metabolite"] == "Gln", "tau"] > 0).all()


def test_ratios_and_sums_follow_and_pooled_rows_keep_their_estimates():
    rng = np.random.default_rng(1)
    tc, cv, _ = _study(rng)
    adj, resp, _ = _run(tc, cv)
    key = ["participant_id", "session_id", "frame"]
    wide = adj.pivot_table(index=key, columns="metabolite", values="estimate")
    before = tc.pivot_table(index=key, columns="metabolite", values="estimate")
    np.testing.assert_allclose(wide["Glu/tCr"], wide["Glu"] / wide["tCr"], rtol=1e-12)
    np.testing.assert_array_equal(wide["Gln"], before["Gln"])
    np.testing.assert_array_equal(wide["GABA"], before["GABA"])
    assert not np.allclose(wide["Glu"], before["Glu"])
    assert set(resp["metabolite"]) == set(tc["metabolite"])
    assert len(adj) == len(tc)


def test_too_few_sessions_are_left_as_fitted(caplog):
    rng = np.random.default_rng(2)
    tc, cv, _ = _study(rng, n_sessions=4)
    adj, resp, summary = _run(tc, cv, min_sessions=6)
    assert summary.empty
    assert "at least 6 needed" in caplog.text
    pd.testing.assert_frame_equal(
        resp.reset_index(drop=True), _free(tc).reset_index(drop=True), check_like=True
    )
