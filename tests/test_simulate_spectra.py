"""simulate_spectra: closed forms, broadcasting over frames, noise, truth; macromolecules."""

from __future__ import annotations

import numpy as np
import pytest

from mrspipe.data import Basis
from mrspipe.errors import SimulationError
from mrspipe.simulate import macromolecule_basis, simulate_basis, simulate_spectra
from mrspipe.spectral import to_spectrum


@pytest.fixture(scope="module")
def singlet():
    return simulate_basis(["sIns"], sequence="pulse-acquire", n_points=1024)


@pytest.fixture(scope="module")
def basis():
    return simulate_basis(["NAA", "Cr", "Glu"], n_points=1024)


def test_voigt_shift_phase_closed_form(singlet):
    t = singlet.time_s
    data, truth = simulate_spectra(
        singlet, {"sIns": 2.0}, lorentz_hz=3.0, gauss_hz=5.0, shift_hz=4.0, phase0=0.3
    )
    nu = (3.34 - 4.65) * 123.2 + 4.0
    expected = (
        12.0
        * np.exp(2j * np.pi * nu * t - np.pi * 3.0 * t + 0.3j)
        * np.exp(-((np.pi * 5.0 * t) ** 2) / (4 * np.log(2)))
    )
    np.testing.assert_allclose(data.fids, expected, atol=1e-9)
    assert data.dims == () and data.echo_time is None
    assert truth["concentrations"].tolist() == [2.0]


def test_lorentzian_spectrum_fwhm():
    fine = simulate_basis(["sIns"], sequence="pulse-acquire", n_points=8192)  # 0.49 Hz bins
    data, _ = simulate_spectra(fine, {"sIns": 1.0}, lorentz_hz=6.0, gauss_hz=0.0)
    spec = to_spectrum(data.fids).real
    half = spec > spec.max() / 2
    fwhm = half.sum() * (data.freq_hz[1] - data.freq_hz[0])
    assert fwhm == pytest.approx(6.0, abs=data.freq_hz[1] - data.freq_hz[0])


def test_frames_broadcast_and_match_single_calls(basis, rng):
    n = 5
    conc = {"NAA": np.linspace(10, 12, n), "Glu": 9.0}
    kwargs = {
        "lorentz_hz": rng.uniform(2, 6, n),
        "gauss_hz": 3.0,
        "shift_hz": rng.normal(0, 2, n),
        "phase0": rng.normal(0, 0.2, n),
    }
    data, truth = simulate_spectra(basis, conc, **kwargs)
    assert data.fids.shape == (n, 1024) and data.dims == ("dyn",)
    assert truth["lorentz_hz"].shape == (n,) and truth["gauss_hz"].shape == (n,)
    for k in (0, 3):
        one, _ = simulate_spectra(
            basis,
            {"NAA": conc["NAA"][k], "Glu": 9.0},
            lorentz_hz=kwargs["lorentz_hz"][k],
            gauss_hz=3.0,
            shift_hz=kwargs["shift_hz"][k],
            phase0=kwargs["phase0"][k],
        )
        np.testing.assert_allclose(data.fids[k], one.fids, atol=1e-9)
    np.testing.assert_allclose(truth["concentrations"][:, basis.index("Cr")], 0.0)


def test_linear_in_concentrations(basis):
    a, _ = simulate_spectra(basis, np.array([1.0, 2.0, 3.0]))
    b, _ = simulate_spectra(basis, np.array([2.0, 4.0, 6.0]))
    np.testing.assert_allclose(b.fids, 2 * a.fids, atol=1e-9)


def test_noise_sd_and_reproducibility(basis):
    clean, _ = simulate_spectra(basis, {"NAA": 10.0}, lorentz_hz=np.full(200, 4.0))
    noisy, truth = simulate_spectra(
        basis, {"NAA": 10.0}, lorentz_hz=np.full(200, 4.0), noise_sd=0.5, rng=7
    )
    again, _ = simulate_spectra(
        basis, {"NAA": 10.0}, lorentz_hz=np.full(200, 4.0), noise_sd=0.5, rng=7
    )
    resid = noisy.fids - clean.fids
    assert resid.real.std() == pytest.approx(0.5, rel=0.02)  # 204800 samples: 0.3 % sd
    assert resid.imag.std() == pytest.approx(0.5, rel=0.02)
    np.testing.assert_array_equal(noisy.fids, again.fids)
    assert truth["noise_sd"] == 0.5


def test_constant_baseline_adds_exactly(basis):
    a, _ = simulate_spectra(basis, {"NAA": 10.0})
    b, truth = simulate_spectra(basis, {"NAA": 10.0}, baseline=np.array([5.0 + 1j]))
    np.testing.assert_allclose(to_spectrum(b.fids) - to_spectrum(a.fids), 5.0 + 1j, atol=1e-8)
    assert truth["baseline"].shape == (1,)


def test_first_order_phase_is_a_delay(singlet):
    a, _ = simulate_spectra(singlet, {"sIns": 1.0}, lorentz_hz=3.0)
    b, _ = simulate_spectra(singlet, {"sIns": 1.0}, lorentz_hz=3.0, phase1=2e-4)
    ratio = to_spectrum(b.fids) / to_spectrum(a.fids)
    np.testing.assert_allclose(
        np.angle(ratio), np.angle(np.exp(2j * np.pi * a.freq_hz * 2e-4)), atol=1e-9
    )


def test_residual_water_near_465_ppm(basis):
    data, truth = simulate_spectra(basis, {"NAA": 1.0}, water=500.0, rng=3)
    spec = np.abs(to_spectrum(data.fids))
    assert abs(data.ppm[np.argmax(spec)] - 4.65) < 0.15
    assert set(truth["water"]) >= {"amplitude", "ppm", "weights", "lorentz_hz", "phase"}
    assert truth["water"]["weights"].sum() == pytest.approx(1.0)


def test_macromolecules_add_broad_components(basis):
    a, _ = simulate_spectra(basis, {"NAA": 0.0})
    b, truth = simulate_spectra(basis, {"NAA": 0.0}, macromolecules={"MM09": 2.0})
    mm = macromolecule_basis(["MM09"], n_points=1024)
    expected = (
        2.0
        * mm.fids[0]
        * np.exp(-np.pi * 4 * a.time_s - (np.pi * 4 * a.time_s) ** 2 / (4 * np.log(2)))
    )
    np.testing.assert_allclose(b.fids - a.fids, expected, atol=1e-9)
    assert truth["macromolecules"]["MM09"] == 2.0


def test_macromolecule_gaussian_width_and_position():
    mm = macromolecule_basis(["MM12"], n_points=4096, dwell_time=2.5e-4)
    spec = to_spectrum(mm.fids[0]).real
    assert abs(mm.ppm[np.argmax(spec)] - 1.21) < 0.005
    above = mm.ppm[spec > spec.max() / 2]
    assert above.max() - above.min() == pytest.approx(0.15, abs=0.01)
    assert mm.fids[0, 0] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda b: simulate_spectra(b, {"Foo": 1.0}), "Foo"),
        (lambda b: simulate_spectra(b, {"NAA": np.ones(3)}, lorentz_hz=np.ones(4)), "broadcast"),
        (lambda b: simulate_spectra(b, {"NAA": 1.0}, noise_sd=-1), "noise_sd"),
        (lambda b: simulate_spectra(b, {"NAA": 1.0}, lorentz_hz=-1.0), "lorentz"),
        (lambda b: simulate_spectra(b, np.ones(2)), "n_metabolites"),
        (lambda b: simulate_spectra(b, {"NAA": np.ones((2, 2))}), "frame axis"),
        (lambda b: macromolecule_basis(["MM99"]), "MM99"),
        (lambda b: simulate_spectra(b, {"NAA": 1.0}, water={"ppm": [4.7]}), "amplitude"),
    ],
)
def test_bad_input(basis, call, match):
    with pytest.raises(SimulationError, match=match):
        call(basis)


def test_macromolecules_sit_on_the_basis_ppm_axis():
    """Issue 12: the components were placed for a 4.65 ppm reference whatever the basis had
    (Osprey's basis: 4.68 ppm, so every MM sat 0.03 ppm = 3.8 Hz low at 3 T)."""
    t = np.arange(2048) * 5e-4
    basis = Basis(
        names=("NAA",),
        fids=np.exp(2j * np.pi * (2.01 - 4.68) * 127.7 * t)[None],
        dwell_time=5e-4,
        spectrometer_frequency=127.7,
        ppm_reference=4.68,
    )
    data, _ = simulate_spectra(basis, {"NAA": 0.0}, macromolecules={"MM12": 1.0})
    spec = to_spectrum(data.fids).real
    assert abs(data.ppm[np.argmax(spec)] - 1.21) < 0.005
