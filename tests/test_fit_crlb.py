"""CRLB honesty: over many noise realisations the SD of the estimates matches the mean CRLB."""

from __future__ import annotations

import numpy as np
from fit_helpers import make_basis, simulate, truth_vector

from mrspipe.fit import fit_spectra
from mrspipe.fit.crlb import canonical, sum_weights


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
    only_cr = sum_weights(("Cr", "NAA"))
    assert only_cr[0] == ("tNAA", "tCr")
