"""Lipid components with a phase of their own (``lipid_phase``; issue 12, Osprey's sub-01).

Truth: the analytic basis without ``Mac`` (so LCModel's MM/lipid components are appended), the
data made of the same basis plus the appended components, the lipids turned by a phase of their
own (out-of-voxel lipid). Checks: the NNLS with sign-free coefficients is the bounded least
squares solution; an out-of-phase lipid is recovered (phase, amplitude) with the metabolites
unbiased, where the in-phase nonnegative model is biased; ``'auto'`` keeps in-phase and
lipid-free spectra exactly as before and frees the phase only on evidence; a band without the
lipid region never frees it; the covariance has no NaN.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from fit_helpers import DEFAULT_NAMES, TRUTH, make_basis, simulate
from scipy.optimize import lsq_linear

from mrspipe.fit import fit_spectra
from mrspipe.fit.linear import nnls_normal
from mrspipe.fit.lipids import ROTATED_SUFFIX, out_of_phase
from mrspipe.fit.problem import with_default_macromolecules
from mrspipe.quantify import ratios

NAMES = ["Glu", "Gln", "Glx", "GABA", "tNAA", "Ins", "tCho"]
#: appended components in the data (amplitudes in the basis' proton units)
COMPONENTS = {"MM09": 3.0, "MM12": 1.0, "MM14": 2.2, "MM17": 1.1, "MM20": 3.0}
LIPIDS = {"Lip09": 2.0, "Lip13a": 5.0, "Lip13b": 5.0}


def _data(phase: float, *, lipid: float = 1.0, noise_sd: float = 0.0, n: int = 1, rng=None):
    """Spectra of the MM-free analytic basis + appended components, lipids turned by ``phase``."""
    basis = make_basis(tuple(n for n in DEFAULT_NAMES if n != "Mac"))
    full, _ = with_default_macromolecules(basis)
    fids = np.array(full.fids)
    rows = [full.names.index(k) for k in LIPIDS]
    fids[rows] *= np.exp(1j * phase)
    truth = dict(TRUTH, **COMPONENTS, **{k: lipid * v for k, v in LIPIDS.items()})
    conc = np.array([truth.get(k, 0.0) for k in full.names])
    data = simulate(
        dataclasses.replace(full, fids=fids),
        np.tile(conc, (n, 1)),
        lorentz_hz=3.0,
        gauss_hz=4.0,
        phase0=0.3,
        noise_sd=noise_sd,
        rng=rng,
    )
    return data, basis


def _truth_ratio(name: str) -> float:
    members = {"Glx": ("Glu", "Gln"), "tNAA": ("NAA", "NAAG"), "tCho": ("GPC", "PCh")}
    tcr = TRUTH["Cr"] + TRUTH["PCr"]
    return sum(TRUTH[m] for m in members.get(name, (name,))) / tcr


def _ratios(res) -> dict[str, np.ndarray]:
    got = ratios(res, reference="tCr", metabolites=NAMES)
    return {k: np.asarray(got[k]["ratio"]) for k in NAMES}


def test_nnls_with_free_coefficients_is_the_bounded_least_squares_solution(rng):
    n_f, n_rows, n = 6, 40, 7
    a = rng.normal(size=(n_f, n_rows, n))
    y = rng.normal(size=(n_f, n_rows)) - 0.5 * a[:, :, 0]  # some coefficients want < 0
    free = np.zeros(n, bool)
    free[[1, 4]] = True
    gram = a.transpose(0, 2, 1) @ a
    rhs = np.einsum("frn,fr->fn", a, y)
    x, passive = nnls_normal(gram, rhs, free=free)
    assert passive[:, free].all()
    lower = np.where(free, -np.inf, 0.0)
    for f in range(n_f):  # reference solver, one problem at a time
        ref = lsq_linear(a[f], y[f], bounds=(lower, np.inf), method="bvls", tol=1e-12).x
        np.testing.assert_allclose(x[f], ref, atol=1e-9)
    assert (x[:, free] < 0).any()  # the free ones did use their sign
    assert (x[:, ~free] >= 0).all()


@pytest.mark.parametrize("phase", [1.6, 2.4, np.pi])
def test_out_of_phase_lipid_is_recovered_and_the_metabolites_unbiased(phase):
    """Noise-free, the data follow the free model exactly: every ratio exact, the lipid's
    complex amplitude and phase recovered; the in-phase nonnegative model is biased."""
    data, basis = _data(phase)
    res = fit_spectra(data, basis, lipid_phase="free", precision="double")
    got = _ratios(res)
    for name in NAMES:
        np.testing.assert_allclose(got[name], _truth_ratio(name), rtol=2e-3, err_msg=name)
    for name, amp in LIPIDS.items():
        a = res.estimates[0, res.names.index(name)]
        b = res.estimates[0, res.names.index(name + ROTATED_SUFFIX)]
        np.testing.assert_allclose(a + 1j * b, amp * np.exp(1j * phase), atol=0.02 * amp)
    found = out_of_phase(res.names, res._basis_fids, res.estimates, res.covariance)
    assert found is not None
    assert abs(np.angle(np.exp(1j * (found.phase[0] - phase)))) < 0.01
    assert np.isfinite(res.covariance).all() and np.isfinite(res.crlb_sd).all()
    assert not res.at_bound[0, [res.names.index(n) for n in LIPIDS]].any()
    old = _ratios(fit_spectra(data, basis, lipid_phase="metabolites", precision="double"))
    worst = max(abs(old[k][0] / _truth_ratio(k) - 1) for k in ("Glu", "Gln", "GABA", "tNAA"))
    assert worst > 0.05  # what the previous default made of it


def test_auto_frees_the_phase_of_an_out_of_phase_lipid_and_warns(rng, caplog):
    data, basis = _data(2.4, noise_sd=1.0, n=4, rng=rng)
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        res = fit_spectra(data, basis)  # the default: lipid_phase='auto'
    assert res.options["lipid_phase"] == "free"
    test = res.options["lipid_phase_test"]
    assert test["p"] < 1e-3 and abs(test["phase_rad"] - 2.4) < 0.2
    assert "out-of-voxel lipid" in caplog.text
    qc = res.qc_table()
    assert qc["lipid_out_of_phase"].all()
    # the 90-degree parts are rows of the estimates table: the sidecars say what they are
    assert set(res.table()["metabolite"]) >= {n + ROTATED_SUFFIX for n in LIPIDS}
    from mrspipe.commands.fit import FITS_SIDECAR
    from mrspipe.io.derivative_tables import _DESCRIPTIONS

    assert ROTATED_SUFFIX in FITS_SIDECAR["metabolite"]["Description"]
    assert ROTATED_SUFFIX in _DESCRIPTIONS["metabolite"][0]
    np.testing.assert_allclose(qc["lipid_phase_rad"], 2.4, atol=0.2)
    free = _ratios(res)
    old = _ratios(fit_spectra(data, basis, lipid_phase="metabolites"))
    for name in ("Glu", "Glx", "tNAA", "Ins"):
        err_free = np.abs(free[name] / _truth_ratio(name) - 1).max()
        err_old = np.abs(old[name] / _truth_ratio(name) - 1).max()
        assert err_free < 0.02, (name, err_free)
        assert err_free <= err_old + 0.005, (name, err_free, err_old)


@pytest.mark.parametrize("lipid", [0.0, 1.0])
def test_auto_leaves_in_phase_and_lipid_free_spectra_as_they_were(lipid, rng):
    data, basis = _data(0.0, lipid=lipid, noise_sd=1.0, n=4, rng=rng)
    auto = fit_spectra(data, basis)
    assert auto.options["lipid_phase"] == "metabolites"
    assert auto.options["lipid_phase_test"]["p"] > 1e-3
    assert not any(n.endswith(ROTATED_SUFFIX) for n in auto.names)
    qc = auto.qc_table()
    assert not qc["lipid_out_of_phase"].any() and qc["lipid_phase_rad"].isna().all()
    before = fit_spectra(data, basis, lipid_phase="metabolites")
    np.testing.assert_array_equal(auto.estimates, before.estimates)
    # and the free model itself does not move them beyond a fraction of their SD
    free_fit = fit_spectra(data, basis, lipid_phase="free")
    if lipid:  # the free fit finds the in-phase lipid in phase (not flagged)
        assert not free_fit.lipid_out_of_phase.any()
        np.testing.assert_allclose(free_fit.lipid_phase_rad, 0.0, atol=0.1)
    free = ratios(free_fit, reference="tCr", metabolites=NAMES)
    old = ratios(before, reference="tCr", metabolites=NAMES)
    for name in ("Glu", "Glx", "tNAA", "Ins", "tCho"):
        shift = np.abs(free[name]["ratio"] - old[name]["ratio"]) / old[name]["sd"]
        assert shift.max() < 0.5, (name, shift)


def test_a_band_without_the_lipid_region_keeps_the_lipids_in_phase():
    data, basis = _data(2.4)
    res = fit_spectra(data, basis, ppm_range=(1.8, 4.2))
    assert res.options["lipid_phase"] == "metabolites"
    assert not any(n.endswith(ROTATED_SUFFIX) for n in res.names)


def test_a_basis_with_its_own_macromolecules_gets_no_lipid_pair(rng):
    basis = make_basis()  # has Mac: nothing is appended
    data = simulate(basis, np.array([TRUTH.get(n, 0.0) for n in basis.names]), noise_sd=0.5)
    res = fit_spectra(data, basis, lipid_phase="free")
    assert res.names == basis.names
    assert "lipid_phase_test" not in fit_spectra(data, basis).options


def test_unknown_lipid_phase_is_refused():
    from mrspipe.errors import ConfigError

    data, basis = _data(0.0)
    with pytest.raises(ConfigError, match="lipid_phase"):
        fit_spectra(data, basis, lipid_phase="sideways")


def test_a_broad_off_resonance_lipid_gets_its_own_lineshape():
    """Sub-01's lipid is a 43 Hz line at 1.1 ppm, not an LCModel component: with the phase
    free the lipid components get a lineshape group of their own (shift and widths) and
    follow it; the metabolites are then within a few % of truth, far better than in phase."""
    data, basis = _data(0.0, lipid=0.0)
    t = data.time_s
    naa_area = TRUTH["NAA"] * 3.0  # the analytic basis: one proton = 1 at t = 0
    offset = (1.15 - 4.65) * data.spectrometer_frequency
    line = 0.4 * naa_area * np.exp(2.5j + (-np.pi * 43.0 + 2j * np.pi * offset) * t)
    data = data.with_fids(data.fids + line * np.exp(0.3j))  # the frames' phase0 of 0.3 rad
    res = fit_spectra(data, basis, precision="double")
    assert res.options["lipid_phase"] == "free" and "lipids" in res.group_names
    assert res.lipid_out_of_phase.all()
    got = _ratios(res)
    old = _ratios(fit_spectra(data, basis, lipid_phase="metabolites", precision="double"))
    errors = {k: [abs(r[k][0] / _truth_ratio(k) - 1) for r in (got, old)] for k in NAMES}
    # measured: every ratio within 0.3 % (GABA) and 0.1 % (the rest) of truth; in phase
    # Glu 1.2 %, Gln 9.5 %, GABA 20 %, tNAA 2.4 % off
    for name, (err, _) in errors.items():
        assert err < 0.01, (name, err)
    assert errors["Gln"][1] > 0.05 and errors["GABA"][1] > 0.1


def test_auto_tests_the_lipids_appended_to_a_basis_with_its_own_macromolecules():
    """``default_lipids=True`` on a basis with its own MM appends the lipids only; 'auto' must
    test them too (it fitted the mean with ``groups={}``, which counts as user groups, so no
    lipid was appended there and an out-of-phase lipid was kept in phase)."""
    basis = make_basis(DEFAULT_NAMES)  # with its own Mac
    full, _ = with_default_macromolecules(basis, lipids=True)
    fids = np.array(full.fids)
    fids[[full.names.index(k) for k in LIPIDS]] *= np.exp(2.4j)
    truth = dict(TRUTH, **LIPIDS)
    conc = np.array([truth.get(k, 0.0) for k in full.names])
    data = simulate(
        dataclasses.replace(full, fids=fids),
        np.tile(conc, (2, 1)),
        lorentz_hz=3.0,
        gauss_hz=4.0,
        phase0=0.3,
        noise_sd=1.0,
        rng=5,
    )
    res = fit_spectra(data, basis, default_lipids=True)
    assert res.options["lipid_phase"] == "free"
    assert abs(res.options["lipid_phase_test"]["phase_rad"] - 2.4) < 0.2
    assert all(n + ROTATED_SUFFIX in res.names for n in LIPIDS)


def test_mm_priors_tie_the_complex_amplitudes_of_free_lipids(rng):
    """mm_priors with a free lipid phase: the lipid ratios tie both parts (c_ref the modulus);
    tying the in-phase parts alone forced a lipid turned by 2.4 rad (in-phase parts < 0)
    towards 0: Glu -6 %, Gln -10 %, GABA +50 % (1-2 % without the priors)."""
    from mrspipe.fit.priors import ratio_priors

    names = ["NAA", "MM09", "MM12", "Lip09", "Lip13a", "Lip13b", "Lip20"]
    names += [n + ROTATED_SUFFIX for n in LIPIDS]
    priors = ratio_priors(names, names[1:])
    assert "Lip09/Lip13a+Lip13b" in priors.labels and "Lip20/Lip13a+Lip13b" not in priors.labels
    k, k90 = (
        priors.labels.index("Lip09/Lip13a+Lip13b"),
        priors.labels.index("Lip09_90/Lip13a_90+Lip13b_90"),
    )
    assert priors.partner[k] == k90 and priors.partner[k90] == k
    lip = {"Lip09": 0.267 * 10.0, "Lip13a": 5.0, "Lip13b": 5.0}  # at the prior's ratio
    conc = np.zeros((1, len(names)))  # a lipid turned by 2.4 rad: in-phase parts negative
    for n, v in lip.items():
        conc[0, names.index(n)] = np.cos(2.4) * v
        conc[0, names.index(n + ROTATED_SUFFIX)] = np.sin(2.4) * v
    rows = priors.penalty(conc, np.ones(1), np.full(1, 1e-3))[0]
    np.testing.assert_allclose(rows[[k, k90]] @ conc[0], 0.0, atol=1e-12)  # truth costs 0
    assert np.abs(rows[k]).max() < 10  # c_ref from the modulus, not the floor
    data, basis = _data(2.4, noise_sd=1.0, n=4, rng=rng)
    res = fit_spectra(data, basis, mm_priors=True)
    assert res.options["lipid_phase"] == "free"
    got = _ratios(res)
    for name in ("Glu", "Gln", "GABA", "tNAA"):
        assert abs(got[name].mean() / _truth_ratio(name) - 1) < 0.04, name


def test_free_with_no_lipid_appended_warns_and_records_what_was_fitted(rng, caplog):
    data, basis = _data(0.0, noise_sd=1.0, n=1, rng=rng)
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        res = fit_spectra(data, basis, lipid_phase="free", default_macromolecules=False)
    assert "no lipid component was appended" in caplog.text
    assert res.options["lipid_phase"] == "metabolites"
    assert not any(n.endswith(ROTATED_SUFFIX) for n in res.names)
