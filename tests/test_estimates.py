"""One estimates type (``mrspipe.fit.Estimates``) for both fits; its covariance reaches ratios.

Ground truth for the ratio SD: many noisy frames of one spectrum (same truth) are fitted; the
spread of a ratio across the frames is its true SD, which the reported SD must match when the
covariance is propagated (Cr/PCr, two nearly identical spectra whose estimates anticorrelate,
is where independence is most wrong).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mrspipe.dynamic import add_ratios
from mrspipe.fit import Estimates, fit_spectra
from mrspipe.simulate import simulate_basis, simulate_spectra

CONC = {"NAA": 10.0, "Cr": 4.5, "PCr": 4.0, "PCho": 1.5, "Ins": 6.0, "Glu": 9.0, "Gln": 3.0}
N_FRAMES = 300


@pytest.fixture(scope="module")
def fitted():
    basis = simulate_basis(list(CONC), n_points=1024, dwell_time=2.5e-4)
    data, _ = simulate_spectra(
        basis,
        {k: np.full(N_FRAMES, v) for k, v in CONC.items()},
        lorentz_hz=5.0,
        gauss_hz=4.0,
        noise_sd=2.0,
        rng=11,
    )
    res = fit_spectra(data, basis, default_macromolecules=False)
    return res, res.to_estimates(np.arange(N_FRAMES) * 3.0)


def test_estimates_agree_with_the_fit_table(fitted) -> None:
    res, est = fitted
    assert isinstance(est, Estimates)
    assert est.names == res.names + res.sum_names
    table = res.table()
    wide = table.pivot(index="frame", columns="metabolite", values="estimate")[list(est.names)]
    np.testing.assert_allclose(est.estimates, wide.to_numpy(), rtol=1e-12)
    sd = table.pivot(index="frame", columns="metabolite", values="crlb_sd")[list(est.names)]
    np.testing.assert_allclose(est.crlb_sd, sd.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.sqrt(np.einsum("faa->fa", est.covariance)), est.crlb_sd)
    # the reported correlation of Glu and Gln (overlapping multiplets) is the one across frames
    glu, gln = est.names.index("Glu"), est.names.index("Gln")
    c = est.covariance
    reported = np.mean(c[:, glu, gln] / np.sqrt(c[:, glu, glu] * c[:, gln, gln]))
    empirical = np.corrcoef(est.estimates[:, glu], est.estimates[:, gln])[0, 1]
    assert reported < -0.5 and reported == pytest.approx(empirical, abs=0.1)
    np.testing.assert_allclose(est.frame_times, np.arange(N_FRAMES) * 3.0)


def test_covariance_table_has_each_pair_once(fitted) -> None:
    _, est = fitted
    cov = est.covariance_table(["Glu", "Glx", "tCr", "absent"])
    assert list(cov.columns) == ["frame", "metabolite_a", "metabolite_b", "covariance"]
    assert len(cov) == N_FRAMES * 3
    row = cov[(cov.frame == 5) & (cov.metabolite_a == "Glu") & (cov.metabolite_b == "Glx")]
    i, j = est.names.index("Glu"), est.names.index("Glx")
    assert row.covariance.iloc[0] == pytest.approx(est.covariance[5, i, j])


def test_ratio_sd_with_covariance_matches_the_spread(fitted) -> None:
    """Cr/PCr across frames of one truth: the propagated SD matches the empirical SD."""
    res, est = fitted
    frames = res.table()
    ratio = {"Cr/PCr": ("Cr", "PCr")}
    with_cov = add_ratios(frames, ratios=ratio, covariance=est.covariance_table(["Cr", "PCr"]))
    without = add_ratios(frames, ratios=ratio)
    r = with_cov[with_cov.metabolite == "Cr/PCr"]
    empirical = r.estimate.std(ddof=1)  # 300 frames: known to about +-4 %
    reported = float(np.sqrt((r.crlb_sd**2).mean()))
    naive = float(np.sqrt((without[without.metabolite == "Cr/PCr"].crlb_sd ** 2).mean()))
    assert reported == pytest.approx(empirical, rel=0.12)  # measured: 3 % high
    assert naive < 0.85 * empirical  # independence: measured 25 % low


def test_joint_fit_estimates_match_its_frame_table() -> None:
    from mrspipe.dynamic import design_matrix
    from mrspipe.fit import fit_dynamic

    names = ["NAA", "Cr", "PCr", "Glu", "Gln"]
    basis = simulate_basis(names, n_points=512, dwell_time=2.5e-4)
    n = 24
    t = (np.arange(n) - n // 2) * 3.0
    design = design_matrix(t, onset=0.0, duration=1.5 * n, regressors=("ramp",))
    conc = {k: np.full(n, CONC[k]) for k in names}
    conc["Glu"] = CONC["Glu"] * (1 + 0.1 * design["ramp"].to_numpy())
    data, _ = simulate_spectra(basis, conc, lorentz_hz=5.0, gauss_hz=4.0, noise_sd=0.5, rng=2)
    model = {"conc": {"kind": "design", "regressors": ["intercept", "ramp"]}}
    res = fit_dynamic(data, basis, design, model=model, default_macromolecules=False)
    est = res.to_estimates()
    frames = res.frame_table()
    wide = frames.pivot(index="frame", columns="metabolite", values="crlb_sd")[list(est.names)]
    np.testing.assert_allclose(est.crlb_sd, wide.to_numpy(), rtol=1e-10)
    values = frames.pivot(index="frame", columns="metabolite", values="estimate")
    np.testing.assert_allclose(est.estimates, values[list(est.names)].to_numpy(), rtol=1e-12)
    assert isinstance(est.covariance_table(["Glu", "Glx"]), pd.DataFrame)
