"""The parameter layout and the lineshape registry (fit.layout, fit.lineshape_models).

The proof that a lineshape model is one registry entry: a Voigt parametrised by the Gaussian
SD (not the FWHM) is registered here, in this file only, and fitted through ``fit_spectra``
(numpy and lmfit paths) and ``fit_dynamic``, recovering the truth of simulated spectra.
"""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import make_basis, simulate, truth_vector

from mrspipe.errors import ConfigError
from mrspipe.fit import fit_dynamic, fit_spectra
from mrspipe.fit.dynamic_design import DEFAULT_MODEL, PARAMETER_CLASSES, parse_model
from mrspipe.fit.layout import ParameterLayout
from mrspipe.fit.lineshape_models import (
    LINESHAPES,
    LineshapeModel,
    WidthParameter,
    register_lineshape,
)
from mrspipe.spectral import voigt_decay

#: Gaussian FWHM = SIGMA_TO_FWHM * Gaussian SD (Hz)
SIGMA_TO_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _sigma_voigt() -> LineshapeModel:
    """exp(-pi L t - 2 pi^2 sigma^2 t^2): the Gaussian's SD sigma (Hz), fitted as sigma^2."""
    return LineshapeModel(
        "test_sigma_voigt",
        (
            WidthParameter("lor", -np.pi, 1, upper=40.0, start=4.0, report="lor_hz"),
            WidthParameter(
                "sigma2",
                -2.0 * np.pi**2,
                2,
                upper=20.0**2,
                start=2.0**2,
                report="sigma_hz",
                to_report=lambda v: np.sqrt(np.clip(v, 0.0, None)),
                from_report=lambda v: np.asarray(v) ** 2,
                dynamic_class="sigma",
            ),
        ),
        fwhm=lambda w: (
            0.5346 * w[..., 0] + np.sqrt(0.2166 * w[..., 0] ** 2 + SIGMA_TO_FWHM**2 * w[..., 1])
        ),
    )


@pytest.fixture(scope="module")
def sigma_voigt():
    model = register_lineshape(_sigma_voigt())
    yield model
    LINESHAPES.pop(model.name)


@pytest.fixture(scope="module")
def basis():
    return make_basis()


def test_layout_places_and_round_trips():
    layout = ParameterLayout.of("voigt", ("metabolites", "macromolecules"))
    assert layout.n_params == 8 and layout.per_group == 3 and layout.n_group_params == 6
    assert layout.names() == (
        "shift_0",
        "lorentz_0",
        "gauss2_0",
        "shift_1",
        "lorentz_1",
        "gauss2_1",
        "phase0",
        "phase1",
    )
    assert layout.column_names()[3] == "shift[macromolecules]"
    np.testing.assert_array_equal(layout.index("gauss2"), [2, 5])
    assert (layout.phase0, layout.phase1) == (6, 7)
    np.testing.assert_array_equal(layout.is_width, [0, 1, 1, 0, 1, 1, 0, 0])
    rng = np.random.default_rng(0)
    theta = rng.uniform(0.5, 3.0, (4, 8))
    params = layout.to_params(theta)
    assert list(params) == ["shift_hz", "lorentz_hz", "gauss_hz", "phase0", "phase1"]
    np.testing.assert_allclose(params["gauss_hz"] ** 2, theta[:, [2, 5]])
    np.testing.assert_allclose(layout.from_params(params), theta, rtol=1e-15)
    np.testing.assert_array_equal(layout.shift(theta), theta[:, [0, 3]])
    lower, upper = layout.bounds(max_shift_hz=30.0, max_phase1=1e-3)
    np.testing.assert_array_equal(lower, [-30, 0, 0, -30, 0, 0, -np.inf, -1e-3])
    np.testing.assert_array_equal(upper, [30, 40, 1600, 30, 40, 1600, np.inf, 1e-3])
    start = layout.start(2, {"gauss_hz": 3.0})
    np.testing.assert_array_equal(start[0], [0, 4, 9, 0, 4, 9, 0, 0])
    with pytest.raises(ConfigError, match="sigma_hz"):
        layout.start(1, {"sigma_hz": 1.0})
    with pytest.raises(ConfigError, match="unknown lineshape"):
        ParameterLayout.of("no-such-shape", ("metabolites",))


def test_voigt_entry_is_the_one_voigt():
    """The registry's Voigt decay is spectral.voigt_decay, bit for bit, in both precisions."""
    t = np.arange(2048) * 2.5e-4
    widths = np.array([[3.0, 16.0], [7.5, 2.0]])
    for dtype in (np.float64, np.float32):
        tt, w = t.astype(dtype), widths.astype(dtype)
        got = LINESHAPES["voigt"].decay(tt, w)
        assert got.dtype == voigt_decay(tt, w[:, :1], w[:, 1:]).dtype
        np.testing.assert_array_equal(got, voigt_decay(tt, w[:, :1], w[:, 1:]))
    # its log-derivatives are the analytic ones
    d_l, d_g = LINESHAPES["voigt"].log_derivatives(t)
    eps = 1e-6
    for k, d in enumerate((d_l, d_g)):
        step = np.zeros(2)
        step[k] = eps
        num = (
            np.log(LINESHAPES["voigt"].decay(t, widths[0] + step))
            - np.log(LINESHAPES["voigt"].decay(t, widths[0] - step))
        ) / (2 * eps)
        np.testing.assert_allclose(num, d, rtol=1e-6, atol=1e-9)


def _sigma_data(basis, n, rng, *, noise_sd=0.0):
    c = truth_vector(basis) * rng.uniform(0.8, 1.2, (n, len(basis.names)))
    sigma = rng.uniform(1.0, 3.0, n)
    lor = rng.uniform(2.0, 6.0, n)
    data = simulate(
        basis,
        c,
        lorentz_hz=lor,
        gauss_hz=SIGMA_TO_FWHM * sigma,
        shift_hz=rng.uniform(-4, 4, n),
        phase0=rng.uniform(-0.5, 0.5, n),
        noise_sd=noise_sd,
        rng=rng,
    )
    return data, c, lor, sigma


def test_toy_lineshape_registered_in_a_test_fits_through_fit_spectra(sigma_voigt, basis):
    rng = np.random.default_rng(5)
    data, c, lor, sigma = _sigma_data(basis, 3, rng)
    res = fit_spectra(data, basis, lineshape=sigma_voigt.name, precision="double")
    assert res.converged.all() and res.lineshape == sigma_voigt.name
    np.testing.assert_allclose(res.estimates, c, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.params["sigma_hz"][:, 0], sigma, atol=1e-5)
    np.testing.assert_allclose(res.params["lor_hz"][:, 0], lor, atol=1e-5)
    assert set(res.params) == {"shift_hz", "lor_hz", "sigma_hz", "phase0", "phase1", "n_iter"}
    np.testing.assert_allclose(res.broadening_hz, sigma_voigt.fwhm(np.c_[lor, sigma**2]), rtol=1e-5)
    # the fitted model spectra (FitResult) use the same entry: the residual is noise-free 0
    band = res.fit_band
    resid = res.residual_spectra()[:, band]
    assert np.abs(resid).max() < 1e-6 * np.abs(res.data_spectra()[:, band]).max()
    # single precision: the low-rank band model built from the entry's family
    res32 = fit_spectra(data, basis, lineshape=sigma_voigt.name, lor_hz=3.0)
    np.testing.assert_allclose(res32.estimates, c, rtol=1e-4, atol=1e-4)
    # the same spectra under the built-in Voigt: the same concentrations, widths converted
    voigt = fit_spectra(data, basis, precision="double")
    np.testing.assert_allclose(voigt.estimates, c, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(voigt.params["gauss_hz"][:, 0], SIGMA_TO_FWHM * sigma, atol=1e-4)


def test_toy_lineshape_through_lmfit_and_noisy(sigma_voigt, basis):
    rng = np.random.default_rng(6)
    data, c, _, sigma = _sigma_data(basis, 1, rng)
    res = fit_spectra(data, basis, lineshape=sigma_voigt.name, backend="lmfit", max_iter=50)
    big = truth_vector(basis) > 3
    np.testing.assert_allclose(res.estimates[:, big], c[:, big], rtol=2e-3)
    np.testing.assert_allclose(res.params["sigma_hz"][:, 0], sigma, rtol=1e-3)
    # with noise: numpy path within its reported SDs
    data, c, _, _ = _sigma_data(basis, 24, rng, noise_sd=0.05)
    res = fit_spectra(data, basis, lineshape=sigma_voigt.name)
    z = (res.estimates - c) / res.crlb_sd
    assert np.sqrt(np.mean(z[:, big] ** 2)) < 2.0


def test_toy_lineshape_in_the_joint_dynamic_fit(sigma_voigt, basis):
    classes = set(parse_model(None, lineshape=sigma_voigt.name))
    assert classes == set(PARAMETER_CLASSES) - {"lorentz", "gauss"} | {"lor", "sigma"}
    assert DEFAULT_MODEL["gauss"] == "design"
    with pytest.raises(ConfigError, match="unknown parameter class"):
        parse_model({"gauss": "free"}, lineshape=sigma_voigt.name)
    rng = np.random.default_rng(8)
    n = 24
    ramp = np.clip((np.arange(n) - 8) / 8.0, 0.0, 1.0)
    c = np.tile(truth_vector(basis), (n, 1))
    glu = basis.names.index("Glu")
    c[:, glu] *= 1.0 + 0.05 * ramp
    data = simulate(
        basis,
        c,
        lorentz_hz=4.0,
        gauss_hz=SIGMA_TO_FWHM * 2.0,
        shift_hz=rng.uniform(-2, 2, n),
        phase0=rng.uniform(-0.2, 0.2, n),
    )
    res = fit_dynamic(
        data,
        basis,
        {"ramp": ramp},
        lineshape=sigma_voigt.name,
        precision="double",
        model={"sigma": "fixed"},
    )
    assert res.converged
    i = res.regressors.index("ramp")
    np.testing.assert_allclose(res.beta[glu, i] / res.beta[glu, 0], 0.05, atol=1e-4)
    assert "sigma2[metabolites]" in res.column_names
    sig = res.global_names.index("sigma2[metabolites]:fixed")
    np.testing.assert_allclose(res.global_estimates[sig], 4.0, rtol=1e-4)


def test_builtin_lorentz_lineshape_recovers_lorentzian_spectra(basis):
    rng = np.random.default_rng(11)
    c = truth_vector(basis) * rng.uniform(0.8, 1.2, (2, len(basis.names)))
    lor = np.array([3.0, 6.5])
    data = simulate(basis, c, lorentz_hz=lor, gauss_hz=0.0, shift_hz=[1.5, -2.0], phase0=0.3)
    res = fit_spectra(data, basis, lineshape="lorentz", precision="double")
    assert set(res.params) == {"shift_hz", "lorentz_hz", "phase0", "phase1", "n_iter"}
    np.testing.assert_allclose(res.estimates, c, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.params["lorentz_hz"][:, 0], lor, atol=1e-5)
    np.testing.assert_allclose(res.broadening_hz, lor, atol=1e-5)
    with pytest.raises(ConfigError, match="gauss_hz"):
        fit_spectra(data, basis, lineshape="lorentz", gauss_hz=3.0)


def test_lineshape_is_a_fit_option_of_study_toml():
    from mrspipe.config import config_from_dict
    from mrspipe.fit import FitOptions

    config = config_from_dict({"fit": {"lineshape": "lorentz"}})
    assert config.fit.lineshape == "lorentz"
    assert config.fit.spectra_kwargs()["lineshape"] == "lorentz"
    assert FitOptions().lineshape == "voigt"
    with pytest.raises(
        ConfigError, match=r"\[fit\] lineshape: expected one of .voigt., .lorentz., .kernel."
    ):
        config_from_dict({"fit": {"lineshape": "sinc"}})
