"""CRLB honesty: over many noise realisations the SD of the estimates matches the mean CRLB."""

from __future__ import annotations

import numpy as np
from fit_helpers import make_basis, simulate, truth_vector

from mrspipe.fit import fit_spectra
from mrspipe.fit.crlb import canonical, hac_meat, sum_weights


def test_crlb_matches_scatter_of_estimates(rng):
    basis = make_basis()
    c = truth_vector(basis)
    n = 200
    data = simulate(
        basis,
        np.tile(c, (n, 1)),
        lorentz_hz=3.0,
        gauss_hz=4.0,
        shift_hz=1.0,
        phase0=0.2,
        noise_sd=2.0,
        rng=rng,
    )
    res = fit_spectra(data, basis)
    assert res.converged.all()
    # noise SD from the residual: the spectral SD of white time-domain noise is sd * sqrt(N)
    np.testing.assert_allclose(np.median(res.noise_sd), 2.0 * np.sqrt(basis.n_points), rtol=0.05)
    for name in ["NAA", "Ins", "Glu", "Gln", "tNAA", "tCr", "tCho", "Glx"]:
        vals, cov = res.combination([name])
        est, crlb = vals[:, 0], np.sqrt(cov[:, 0, 0])
        true = (res.weights_for(name) * c).sum()
        ratio = est.std(ddof=1) / crlb.mean()
        assert 0.8 < ratio < 1.2, (name, ratio)
        coverage = np.mean(np.abs(est - true) < 2.5 * crlb)
        assert coverage >= 0.85, (name, coverage)


def test_sum_aliases_and_weights():
    names = ("NAA", "NAAG", "Cr", "PCr", "GPC", "PCh", "Glu", "Gln", "Scyllo", "Mac")
    sums, w = sum_weights(names)
    assert sums == ("tNAA", "tCr", "tCho", "Glx")
    assert w[sums.index("tCho")].tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]
    assert canonical("PCh") == "PCho" and canonical("Scyllo") == "sIns"
    # a sum with a missing member is absent, not partial (issue 15): no tNAA without NAAG
    only_cr = sum_weights(("Cr", "NAA", "Glu"))
    assert only_cr[0] == () and only_cr[1].shape == (0, 3)


def test_covariance_has_no_nan_at_any_data_scale(rng):
    """The no-information test is relative within a parameter block: scaling the data (and
    so the concentrations) by 1e3 or 1e5 once flagged every concentration and put NaN in every
    sum."""
    basis = make_basis()
    c = truth_vector(basis)
    data = simulate(basis, np.tile(c, (3, 1)), noise_sd=0.5, rng=rng)
    ref = fit_spectra(data, basis, precision="double")
    for scale in (1e3, 1e5):
        res = fit_spectra(data.with_fids(data.fids * scale), basis, precision="double")
        assert np.isfinite(res.covariance).all()
        for total in res.sums.values():
            assert np.isfinite(total["crlb_sd"]).all()
        np.testing.assert_allclose(res.crlb_sd / scale, ref.crlb_sd, rtol=1e-3, atol=1e-9)


def test_metabolite_without_information_has_infinite_sd_and_finite_sums(rng):
    """A basis spectrum that is zero over the fit band: SD +inf (not NaN), no covariance, and
    the sums it belongs to are computed from their other (finite) members."""
    basis = make_basis()
    fids = basis.fids.copy()
    fids[basis.index("NAAG")] = 0.0
    import dataclasses

    empty = dataclasses.replace(basis, fids=fids)
    c = truth_vector(basis)
    c[basis.index("NAAG")] = 0.0
    res = fit_spectra(simulate(basis, np.tile(c, (2, 1)), noise_sd=0.5, rng=rng), empty)
    i = basis.index("NAAG")
    assert np.isposinf(res.crlb_sd[:, i]).all() and not np.isnan(res.covariance).any()
    assert (res.at_bound[:, i]).all()
    tnaa = res.sums["tNAA"]["crlb_sd"]
    np.testing.assert_allclose(tnaa, res.crlb_sd[:, basis.index("NAA")], rtol=1e-9)


def test_sd_inflation_is_one_for_white_noise_and_grows_under_mismatch(rng):
    """A correct model leaves white noise: SD factor 1 (up to chance). Data holding three
    metabolites the basis lacks leave a structured residual: the SDs grow."""
    basis = make_basis()
    c = truth_vector(basis)
    n = 40
    res = fit_spectra(simulate(basis, np.tile(c, (n, 1)), noise_sd=1.0, rng=rng), basis)
    assert np.mean(res.sd_inflation) < 1.1 and np.median(res.sd_inflation) == 1.0
    full = make_basis(tuple(basis.names) + ("Ala", "Asp", "PE"))
    cf = np.concatenate([c, [1.5, 2.5, 2.0]])
    data = simulate(full, np.tile(cf, (n, 1)), noise_sd=0.1, rng=rng)
    res = fit_spectra(data, basis)
    assert np.median(res.sd_inflation) > 1.5


def test_hac_meat_uses_each_frames_own_window(rng):
    # meat = sum_k S_k S_k^T / w with S_k the sum of the scores g = J e over the w points from
    # k (windows inside the band; real and imaginary parts separately), here by a loop; frames
    # with different windows in one call equal each frame alone
    n_f, n_p, n_k = 3, 4, 40
    jw = rng.normal(size=(n_f, n_p, 2 * n_k))
    resid = rng.normal(size=(n_f, 2 * n_k))
    windows = np.array([2, 5, 9])
    meat = hac_meat(jw, resid, windows)
    for f, w in enumerate(windows):
        g = (jw[f] * resid[f]).reshape(n_p, n_k, 2)
        ref = np.zeros((n_p, n_p))
        for part in range(2):
            s = np.stack([g[:, k : k + w, part].sum(axis=1) for k in range(n_k - w + 1)])
            ref += s.T @ s / w
        np.testing.assert_allclose(meat[f], ref, rtol=1e-12)
        np.testing.assert_allclose(hac_meat(jw[f : f + 1], resid[f : f + 1], int(w))[0], ref)
