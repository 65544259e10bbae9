"""Soft ratio priors on the appended macromolecule/lipid components (mrspipe.fit.priors)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from fit_helpers import DEFAULT_NAMES, TRUTH, make_basis, simulate, truth_vector

from mrspipe.fit import fit_spectra
from mrspipe.fit.priors import RATIO_PRIORS, ratio_priors
from mrspipe.fit.problem import with_default_macromolecules

MM_RATIOS = {num[0]: r for num, den, r, _ in RATIO_PRIORS if den == ("MM09",)}


@pytest.fixture(scope="module")
def bases():
    """The analytic basis without ``Mac``, and the same with the appended components."""
    basis = make_basis([n for n in DEFAULT_NAMES if n != "Mac"])
    logging.disable(logging.WARNING)
    try:
        full, _ = with_default_macromolecules(basis)
    finally:
        logging.disable(logging.NOTSET)
    return basis, full


def _truth(full, mm09=3.0, **ratios):
    conc = truth_vector(full, {k: v for k, v in TRUTH.items() if k != "Mac"})
    conc[full.names.index("MM09")] = mm09
    for name, r in {**MM_RATIOS, **ratios}.items():
        conc[full.names.index(name)] = r * mm09
    return conc


def test_prior_rows_tie_only_appended_components():
    names = ("NAA", "MM09", "MM12", "MM14", "MM17", "MM20", "Lip09", "Lip13a", "Lip13b", "Lip20")
    pri = ratio_priors(names, names[1:])
    assert pri is not None and pri.labels[0] == "MM12/MM09" and len(pri.labels) == 6
    # (c_num - r c_den) / sd: MM12/MM09 = 0.3 +- 0.1
    np.testing.assert_allclose(pri.rows[0, :3], [0.0, -3.0, 10.0])
    # Lip20 / (Lip13a + Lip13b) = 0.15 +- 0.07
    np.testing.assert_allclose(pri.rows[5, 7:], [-0.15 / 0.07, -0.15 / 0.07, 1 / 0.07])
    # the family reference: members' sum over the sum of expected ratios (3.925 for MM)
    c = np.array([10.0, 2.0, 0.6, 1.5, 0.75, 3.0, 0, 0, 0, 0])
    np.testing.assert_allclose(c @ pri.reference[0], 2.0)
    assert ratio_priors(names, ()) is None  # a user's own MM spectra are not tied
    assert ratio_priors(("NAA", "MM09"), ("MM09",)) is None


def test_priors_do_not_bias_data_that_follow_them(bases):
    basis, full = bases
    conc = _truth(full)
    data = simulate(full, conc[None], lorentz_hz=2.0, gauss_hz=3.0)
    res = fit_spectra(data, basis, mm_priors=True, precision="double")
    assert res.names == full.names
    np.testing.assert_allclose(res.estimates[0], conc, rtol=1e-5, atol=1e-6 * conc.max())


def test_priors_fill_in_components_outside_the_band(bases):
    """Without data on MM09-MM17 (band 1.85-4.2 ppm) the priors alone set them from MM20."""
    basis, full = bases
    conc = _truth(full)
    data = simulate(full, conc[None], lorentz_hz=2.0, gauss_hz=3.0, noise_sd=0.02, rng=3)
    free = fit_spectra(data, basis, ppm_range=(1.85, 4.2), precision="double")
    tied = fit_spectra(data, basis, ppm_range=(1.85, 4.2), mm_priors=True, precision="double")
    i = {n: full.names.index(n) for n in ("MM09", "MM12", "MM14", "MM17", "MM20")}
    est = tied.estimates[0]
    # only the Gaussian tails reach into the band: nearly no information without the prior;
    # with it, MM09 follows from MM20 (ratio 1.5) and the others from MM09 (truth: 3.0 and
    # exactly the prior ratios)
    for name in ("MM09", "MM12", "MM14", "MM17"):
        if name != "MM17":  # 1.67 ppm: its upper tail is in the band
            assert free.crlb_sd[0, i[name]] > 20 * tied.crlb_sd[0, i[name]], name
        assert abs(est[i[name]] - conc[i[name]]) < 2.0 * tied.crlb_sd[0, i[name]], name
        # finite posterior SD: about the prior SD of the ratio times the family's amplitude
        assert 0 < tied.crlb_sd[0, i[name]] < est[i["MM09"]]
    # the metabolites are those of the free fit (the prior acts only where data are absent)
    glu = full.names.index("Glu")
    np.testing.assert_allclose(est[glu], free.estimates[0, glu], rtol=1e-3)


def test_priors_shrink_toward_the_ratio_and_cover(bases):
    """MM12 off its prior mean, noise that leaves MM12 about as uncertain as its prior: the
    priors lower its error and SD, and the z of Glu, NAA and MM12 stay honest."""
    basis, full = bases
    rng = np.random.default_rng(5)
    n = 48
    conc = np.array([_truth(full, MM12=0.3 + 0.1 * rng.standard_normal()) for _ in range(n)])
    data = simulate(full, conc, lorentz_hz=2.0, gauss_hz=3.0, noise_sd=8.0, rng=rng)
    free = fit_spectra(data, basis)
    tied = fit_spectra(data, basis, mm_priors=True)
    i12 = full.names.index("MM12")
    assert np.median(tied.crlb_sd[:, i12]) < np.median(free.crlb_sd[:, i12])
    for res in (free, tied):
        for name in ("Glu", "MM12", "NAA"):
            j = full.names.index(name)
            z = (res.estimates[:, j] - conc[:, j]) / res.crlb_sd[:, j]
            assert np.mean(np.abs(z) <= 2.5) >= 0.9, (name, z)
    err_free = np.sqrt(np.mean((free.estimates[:, i12] - conc[:, i12]) ** 2))
    err_tied = np.sqrt(np.mean((tied.estimates[:, i12] - conc[:, i12]) ** 2))
    assert err_tied < err_free


def test_priors_without_appended_components_warn(bases, caplog):
    """mm_priors with nothing appended (own MM spectra, or appending off): said, not silent."""
    basis, full = bases
    data = simulate(full, _truth(full)[None], lorentz_hz=2.0, gauss_hz=3.0)
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        own = fit_spectra(data, full, mm_priors=True)
    assert any("fitted without ratio priors" in r.getMessage() for r in caplog.records)
    plain = fit_spectra(data, full)
    np.testing.assert_array_equal(own.estimates, plain.estimates)
