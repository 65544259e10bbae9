"""Ratios with propagated uncertainty and water scaling against analytic cases."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import make_basis, simulate, truth_vector

from mrspipe.data import MRSData
from mrspipe.errors import ConfigError
from mrspipe.fit import fit_spectra
from mrspipe.quantify import (
    PURE_WATER_MM,
    fit_water,
    ratios,
    relaxation_factor,
    water_scaled,
)


def test_water_fit_is_one_line_without_macromolecules(rng, caplog):
    """The water reference is fitted as one Voigt line plus a constant baseline: LCModel's
    macromolecule/lipid components (appended to metabolite bases) are no part of it. They were
    (with a warning per session, "the basis has no macromolecule/lipid spectra"), and moved
    the water area of the shared spant phantom by -1.5 % and Osprey sub-01 by -0.6 %."""
    n, dwell, cf = 1024, 5e-4, 123.2
    t = np.arange(n) * dwell
    fid = 4.0e4 * np.exp(-np.pi * 6.0 * t - (np.pi * 4.0 * t) ** 2 / (4 * np.log(2)) + 0.2j)
    fid = fid + 300.0 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    water = MRSData(fids=fid[None], dwell_time=dwell, spectrometer_frequency=cf, dims=("dyn",))
    with caplog.at_level("WARNING", logger="mrspipe"):
        area = fit_water(water)
    assert "macromolecule" not in caplog.text
    from mrspipe.data import Basis

    one = Basis(
        names=("H2O",),
        fids=np.exp(2j * np.pi * (4.65 - water.ppm_reference) * cf * t)[None],
        dwell_time=dwell,
        spectrometer_frequency=cf,
        nucleus=water.nucleus,
        ppm_reference=water.ppm_reference,
    )
    ref = fit_spectra(
        water,
        one,
        ppm_range=(3.9, 5.4),
        baseline="poly",
        baseline_order=0,
        groups={},
        precision="double",
        default_macromolecules=False,
    )
    assert ref.names == ("H2O",)
    np.testing.assert_allclose(area, ref.estimates[:, 0], rtol=1e-9)


def test_ratios_with_propagated_sd(rng):
    basis = make_basis()
    c = truth_vector(basis)
    n = 150
    data = simulate(basis, np.tile(c, (n, 1)), noise_sd=2.0, rng=rng)
    res = fit_spectra(data, basis)
    out = ratios(res, reference="tCr", metabolites=["Glu", "Glx", "tNAA"])
    tcr = c[basis.index("Cr")] + c[basis.index("PCr")]
    for name, true in [
        ("Glu", c[basis.index("Glu")] / tcr),
        ("tNAA", (c[basis.index("NAA")] + c[basis.index("NAAG")]) / tcr),
    ]:
        r, sd = out[name]["ratio"], out[name]["sd"]
        assert abs(r.mean() / true - 1) < 0.01
        assert 0.8 < r.std() / sd.mean() < 1.2, name
    assert set(ratios(res, reference="tNAA")) >= {"Glu", "tCr", "Glx"}


def test_water_fit_and_scaling_analytic():
    n, dwell, cf = 1024, 5e-4, 123.2
    t = np.arange(n) * dwell
    amp = np.array([3.0e4, 5.0e4])
    fid = amp[:, None] * np.exp(-np.pi * 5.0 * t + 2j * np.pi * 1.5 * t + 0.3j)
    water = MRSData(fids=fid, dwell_time=dwell, spectrometer_frequency=cf, dims=("dyn",))
    area = fit_water(water)
    np.testing.assert_allclose(area, amp, rtol=1e-6)
    # pure tissue of known water content, fully relaxed metabolite: [M] = c/A * 2 * [H2O]_vis
    est = np.array([[6.0, 3.0]])
    te, tr = 0.03, 2.0
    mm = water_scaled(
        est,
        area[:1],
        te=te,
        tr=tr,
        water_concentration=40000.0,
        metabolite_t1=1.0,
        metabolite_t2=0.2,
    )
    r_m = np.exp(-te / 0.2) * (1 - np.exp(-tr / 1.0))
    np.testing.assert_allclose(mm, est / amp[0] * 2 * 40000.0 / r_m)
    # Gasparovic tissue correction: GM/WM/CSF
    frac = {"gm": 0.5, "wm": 0.3, "csf": 0.2}
    relax = {"gm": (1.5, 0.1), "wm": (1.0, 0.08), "csf": (4.0, 0.5)}
    dens = {"gm": 0.8, "wm": 0.7, "csf": 1.0}
    mm = water_scaled(
        est,
        1.0,
        te=te,
        tr=tr,
        fractions=frac,
        water_relaxation=relax,
        water_density=dens,
        metabolite_t1=1.0,
        metabolite_t2=0.2,
    )
    visible = sum(frac[k] * dens[k] * relaxation_factor(te, tr, *relax[k]) for k in frac)
    expected = est * 2 * PURE_WATER_MM * visible / (1 - 0.2) / r_m
    np.testing.assert_allclose(mm, expected)
    with pytest.raises(ConfigError):
        water_scaled(est, 1.0, te=te, fractions={"gm": 0.5, "wm": 0.2})
    with pytest.raises(ConfigError):
        water_scaled(est, 1.0, te=te, fractions={"gm": 0.5, "bone": 0.5})


def test_ratio_sd_delta_method_and_zero_numerator():
    """ratio_sd against the closed form, and its a = 0 limit (used by fits and time courses)."""
    from mrspipe.quantify import ratio_sd

    r, sd = ratio_sd(
        np.array([2.0, 0.0]),
        np.array([4.0, 5.0]),
        np.array([0.04, 0.09]),
        np.array([0.16, 0.16]),
        np.array([0.01, 0.0]),
    )
    assert r[0] == 0.5 and r[1] == 0.0
    expected = 0.5 * np.sqrt(0.04 / 4 + 0.16 / 16 - 2 * 0.01 / 8)
    assert sd[0] == pytest.approx(expected, rel=1e-12)
    assert sd[1] == pytest.approx(0.3 / 5, rel=1e-12)
    # a denominator at 0 (tCr at the bound): NaN, never inf
    r, sd = ratio_sd(np.array([2.0, 0.0]), np.zeros(2), np.ones(2), np.ones(2))
    assert np.isnan(r).all() and np.isnan(sd).all()


def test_time_course_ratios_use_the_same_propagation():
    import pandas as pd

    from mrspipe.dynamic import add_ratios
    from mrspipe.quantify import ratio_sd

    frames = pd.DataFrame(
        {
            "frame": [0, 1, 0, 1],
            "metabolite": ["Glx", "Glx", "tNAA", "tNAA"],
            "estimate": [12.0, 0.0, 10.0, 11.0],
            "crlb_sd": [0.6, 0.5, 0.2, 0.3],
        }
    )
    out = add_ratios(frames, ratios={"Glx/tNAA": ("Glx", "tNAA")})
    ratio = out[out["metabolite"] == "Glx/tNAA"].sort_values("frame")
    r, sd = ratio_sd(
        np.array([12.0, 0.0]),
        np.array([10.0, 11.0]),
        np.array([0.36, 0.25]),
        np.array([0.04, 0.09]),
    )
    np.testing.assert_allclose(ratio["estimate"], r)
    np.testing.assert_allclose(ratio["crlb_sd"], sd)
    assert np.isfinite(ratio["crlb_sd"]).all()
