"""Fitting spectra simulated from the ISMRM 2016 fitting-challenge basis (shared data)."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import TRUTH, challenge_basis, simulate, truth_vector

from mrspipe.data import MRSData
from mrspipe.fit import fit_spectra
from mrspipe.quantify import fit_water, ratios, water_scaled

CHALLENGE_TRUTH = dict(
    TRUTH, PCho=0.6, Ala=0.5, Asp=2.0, Asc=1.0, Glc=1.0, Gly=0.5, PE=1.5, Mac=8.0, Ace=0.0
)


@pytest.fixture
def basis(shared_data):
    return challenge_basis(shared_data)


def test_challenge_basis_orientation(basis):
    # the text files are conjugated on reading: NAA appears at 2.01 ppm
    spec = np.abs(basis.spectrum()[basis.index("NAA")])
    assert abs(basis.ppm[np.argmax(spec)] - 2.01) < 0.02


def test_challenge_noise_free_and_moderate_snr(basis, rng):
    c = truth_vector(basis, CHALLENGE_TRUTH)
    n = 24
    clean = simulate(
        basis,
        np.tile(c, (2, 1)),
        lorentz_hz=[3.0, 6.0],
        gauss_hz=[4.0, 2.0],
        shift_hz=[1.5, -4.0],
        phase0=[0.4, -1.0],
    )
    res = fit_spectra(clean, basis)
    assert res.converged.all()
    np.testing.assert_allclose(res.estimates, np.tile(c, (2, 1)), rtol=1e-4, atol=2e-4)
    # LCModel's lipid components appended on request are fitted as ~0 here (in double
    # precision: single-precision FFTs leave ~2e-5 of the largest concentration, path-dependent)
    lip = fit_spectra(clean, basis, default_lipids=True, precision="double")
    assert lip.names[: len(c)] == basis.names and lip.names[len(c) :][0].startswith("Lip")
    np.testing.assert_allclose(lip.estimates[:, len(c) :], 0.0, atol=2e-4)
    # the lmfit reference path agrees within 1 % on Glu/tCr and Glx/tCr (one noisy frame)
    one = simulate(basis, c, shift_hz=2.0, phase0=0.3, noise_sd=1.0, rng=rng)
    fast, ref = fit_spectra(one, basis), fit_spectra(one, basis, backend="lmfit")
    for num in ["Glu", "Glx"]:
        a, _ = fast.combination([num, "tCr"])
        b, _ = ref.combination([num, "tCr"])
        np.testing.assert_allclose(a[:, 0] / a[:, 1], b[:, 0] / b[:, 1], rtol=0.01)
    noisy = simulate(
        basis,
        np.tile(c, (n, 1)),
        lorentz_hz=3.0,
        gauss_hz=4.0,
        shift_hz=rng.uniform(-5, 5, n),
        phase0=rng.uniform(-1, 1, n),
        noise_sd=0.5,
        rng=rng,
    )
    res = fit_spectra(noisy, basis)
    assert res.converged.all()
    out = ratios(res, reference="tCr", metabolites=["Glu", "Glx", "tNAA"])
    tcr = (res.weights_for("tCr")[: len(c)] * c).sum()
    for name, tol in [("Glu", 0.015), ("Glx", 0.015), ("tNAA", 0.03)]:
        true = (res.weights_for(name)[: len(c)] * c).sum() / tcr
        err = out[name]["ratio"] / true - 1
        rms = np.sqrt(np.mean(err**2))
        # accurate to the bench targets, and consistent with the propagated CRLB
        assert rms < tol, (name, rms)
        assert rms < 1.3 * np.mean(out[name]["sd"] / true) + 0.002, (name, rms)


def test_challenge_cr_water_scaling(shared_data, basis):
    """Cr = 10 mM with the README formula: water_conc 29697 mM, metabolite T2 160 ms."""
    path = (
        shared_data
        / "ismrm2016_fitting_challenge"
        / "Cr_water_scaling_text"
        / "Cr_10mM_test_water_scaling.txt"
    )
    cols = np.loadtxt(path)
    ws, water = cols[:, 0] - 1j * cols[:, 1], cols[:, 2] - 1j * cols[:, 3]
    kw = dict(dwell_time=2.5e-4, spectrometer_frequency=123.2, dims=("dyn",))
    res = fit_spectra(MRSData(fids=ws[None], **kw), basis)
    area = fit_water(MRSData(fids=water[None], **kw))
    tcr, _ = res.combination(["tCr"])
    mm = water_scaled(tcr, area, te=0.030, water_concentration=29697.0, metabolite_t2=0.160)
    # Why the data imply 10.83 mM and not 10 (README formula and constants): the fitted Cr
    # amplitude is exact, 10 * exp(-30/160) = 8.29 basis units (checked below), so the
    # metabolite side is right. The water FID's amplitude (its first point and the fitted
    # amplitude: 54 865) is 2 protons x 27 432 mM, 7.6 % below the stated water_conc of
    # 29 697 mM (= 55 510 mM x (0.6 x 0.78 x exp(-30/110) + 0.4 x 0.65 x exp(-30/80)), the
    # README's own tissue model): with those numbers 10 x 29 697 / 27 432 = 10.83 mM, which is
    # what the data imply; nothing in the stated acquisition (TR >> T1) accounts for 7.6 %.
    np.testing.assert_allclose(area[0], abs(water[0]), rtol=0.005)  # the FID's own amplitude
    np.testing.assert_allclose(mm[0, 0], 10.0 * 29697.0 / 27432.5, rtol=0.005)
    assert abs(tcr[0, 0] - 10.0 * np.exp(-30 / 160)) < 0.05


def test_acceptance_like_set_is_accurate_and_honest(basis, rng):
    """A 12-spectrum version of bench/bench_mismatch.py set 1 (challenge basis with its
    measured MM spectrum, random concentrations, Voigt lineshapes, three noise levels):
    no NaN SD in a sum, the MM spectrum never fitted as 0, every ratio error within 3.5 SD,
    and the RMS errors below the issue-13 targets (measured on 40 spectra: Glu 0.45 %,
    Glx 0.48 %, tNAA 0.26 %; targets 0.65 / 1.45 / 0.31 %, here with 1.5x slack for n = 12)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_mismatch import make_set

    data, conc = make_set(basis, 12, rng)
    res = fit_spectra(data, basis)
    assert res.converged.all()
    assert not any(np.isnan(v["crlb_sd"]).any() for v in res.sums.values())
    assert (res.estimates[:, res.names.index("Mac")] > 0).all() and not res.mm_at_bound.any()
    conc = np.concatenate([conc, np.zeros((12, len(res.names) - conc.shape[1]))], axis=1)
    out = ratios(res, reference="tCr", metabolites=["Glu", "Glx", "tNAA"])
    tcr = conc @ res.weights_for("tCr")
    for name, target in [("Glu", 0.65), ("Glx", 1.45), ("tNAA", 0.31)]:
        true = conc @ res.weights_for(name) / tcr
        err = out[name]["ratio"] - true
        assert np.all(np.abs(err) <= 3.5 * out[name]["sd"]), name
        assert 100 * np.sqrt(np.mean((err / true) ** 2)) < 1.5 * target, name
