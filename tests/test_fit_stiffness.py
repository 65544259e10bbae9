"""Baseline stiffness chosen by an F-test (``baseline_stiffness="ftest"``)."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import make_basis, simulate, truth_vector

from mrspipe.errors import ConfigError
from mrspipe.fit import fit_spectra
from mrspipe.fit.stiffness import DOF_PER_PPM, choose_dof
from mrspipe.quantify import ratios

NAMES = ["Glu", "Glx", "tNAA", "Ins"]


@pytest.fixture(scope="module")
def basis():
    return make_basis()


def _humps(data, scale):
    fids = data.fids.reshape(-1, data.n_points).copy()
    t = np.arange(data.n_points) * data.dwell_time
    for ppm, fwhm, frac in ((1.3, 120.0, 0.05), (2.3, 80.0, 0.03), (3.6, 100.0, 0.03)):
        f = (ppm - 4.65) * data.spectrometer_frequency
        fids += (
            scale * frac * np.exp(2j * np.pi * f * t - (np.pi * fwhm * t) ** 2 / (4 * np.log(2)))
        )
    return data.with_fids(fids)


def _bias(res, conc):
    got = ratios(res, reference="tCr", metabolites=NAMES)
    tcr = conc @ res.weights_for("tCr")
    return {
        m: float(np.mean(got[m]["ratio"]) / (conc @ res.weights_for(m) / tcr) - 1) for m in NAMES
    }


def test_choose_dof_is_an_f_test():
    """Costs of nested fits: the stiffest candidate not worse at 0.1 % is kept."""
    n, span = 1000, 4.0
    dofs = [d * span for d in DOF_PER_PPM]
    model = {d: 20.0 + d for d in dofs}
    flat = {d: 1000.0 - 0.5 * (d - dofs[0]) for d in dofs}  # chance-sized improvements
    chosen, p = choose_dof(lambda d: (flat[d], model[d]), span, n)
    assert chosen == dofs[0] and p[dofs[0]] > 0.1
    steep = {d: 1000.0 * (1.0 + (dofs[-1] - d) / 50.0) for d in dofs}  # large improvements
    chosen, p = choose_dof(lambda d: (steep[d], model[d]), span, n)
    assert chosen == dofs[-1] and p[dofs[0]] < 1e-3


def test_ftest_keeps_the_default_without_humps_and_frees_it_with_them(basis):
    conc = truth_vector(basis)
    data = simulate(basis, np.tile(conc, (4, 1)), noise_sd=0.05, rng=4)
    span = 4.0
    plain = fit_spectra(data, basis, baseline_stiffness="ftest")
    assert plain.options["baseline_dof"] == pytest.approx(DOF_PER_PPM[0] * span, rel=0.01)
    lumpy = _humps(data, np.abs(data.fids[0, :4]).mean())
    fixed = _bias(fit_spectra(lumpy, basis), conc)
    res = fit_spectra(lumpy, basis, baseline_stiffness="ftest")
    chosen = _bias(res, conc)
    assert res.options["baseline_dof"] > DOF_PER_PPM[0] * span * 1.5
    assert abs(fixed["Glu"]) > 0.02  # the stiff default leaves the humps to the metabolites
    for m in NAMES:
        assert abs(chosen[m]) < 0.5 * abs(fixed[m]) + 0.003, (m, chosen[m], fixed[m])


def test_unknown_stiffness_rule(basis):
    data = simulate(basis, truth_vector(basis)[None])
    with pytest.raises(ConfigError, match="baseline_stiffness"):
        fit_spectra(data, basis, baseline_stiffness="aic")
