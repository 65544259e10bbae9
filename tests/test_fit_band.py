"""The low-rank band evaluation of the model against the exact FFT path, and threaded fits."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import make_basis, simulate, truth_vector

from mrspipe.fit import fit_spectra
from mrspipe.fit.band import BandModel, band_model
from mrspipe.fit.fitting import build_problem


@pytest.fixture(scope="module")
def basis():
    return make_basis()


@pytest.fixture(scope="module")
def problem(basis):
    data = simulate(basis, truth_vector(basis)[None], lorentz_hz=3.0)
    # MM in a group of its own and a third group in the middle of the basis order: the
    # group rows are not contiguous, so the metabolite reordering is exercised
    groups = {"macromolecules": ["Mac"], "cholines": ["GPC", "PCh"]}
    return build_problem(data, basis, groups=groups)[0]


def _random_theta(problem, rng, n):
    theta = np.zeros((n, problem.n_params))
    for g in range(problem.n_groups):
        theta[:, 3 * g] = rng.uniform(problem.lower[3 * g], problem.upper[3 * g], n)
        theta[:, 3 * g + 1] = rng.uniform(0.0, problem.upper[3 * g + 1], n)
        theta[:, 3 * g + 2] = rng.uniform(0.0, np.sqrt(problem.upper[3 * g + 2]), n) ** 2
    theta[:, -2] = rng.uniform(-np.pi, np.pi, n)
    theta[:, -1] = rng.uniform(problem.lower[-1], problem.upper[-1], n)
    # the corners of the bounds: no broadening at all, and the widest lines
    theta[0, :-2] = 0.0
    theta[1, :-2] = problem.upper[:-2]
    return theta


def test_columns_match_the_fft_model_over_the_bounds(problem, rng):
    model = BandModel(problem)
    assert model.error <= 1e-6 and model.rank < 40
    theta = _random_theta(problem, rng, 48)
    exact = problem.columns(theta, np.complex128)
    phase = problem.phase(theta)
    approx = model.columns(theta)
    err = np.linalg.norm(approx - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
    assert err.max() < 5e-6  # single-precision FFTs are ~3e-7
    phased = model.columns(theta, phase)
    np.testing.assert_allclose(phased, approx * phase[:, None, :], rtol=1e-6, atol=1e-9)


def test_derivatives_match_the_fft_model(problem, rng):
    model = BandModel(problem)
    theta = _random_theta(problem, rng, 32)
    conc = rng.uniform(0.0, 10.0, (32, problem.n_met))
    phase = problem.phase(theta)
    cols = problem.columns(theta, np.complex128) * phase[:, None, :]
    mod = np.einsum("fm,fmk->fk", conc, cols)
    exact = problem.derivatives(theta, conc, mod, np.complex128)
    scale = np.linalg.norm(exact, axis=-1)
    full = model.derivatives(theta, conc, mod, phase, exact=True)
    assert (np.linalg.norm(full - exact, axis=-1) / scale).max() < 5e-4
    # the iterations' Jacobian: a lower rank, ~1e-4 (a few % at the corners of the bounds;
    # Gauss-Newton tolerates it, and the covariance uses the exact derivatives above)
    fast = model.derivatives(theta, conc, mod, phase)
    rel = np.linalg.norm(fast - exact, axis=-1) / scale
    assert rel.max() < 0.05 and np.median(rel) < 1e-3


def test_band_model_is_built_once_and_skipped_in_double(problem, basis, rng):
    assert band_model(problem) is band_model(problem)
    # another problem with the same basis, grid, band and bounds (the next session) reuses it
    data = simulate(basis, truth_vector(basis)[None], lorentz_hz=5.0)
    groups = {"macromolecules": ["Mac"], "cholines": ["GPC", "PCh"]}
    assert band_model(build_problem(data, basis, groups=groups)[0]) is band_model(problem)
    assert band_model(build_problem(data, basis)[0]) is not band_model(problem)
    c = truth_vector(basis)
    data = simulate(basis, np.tile(c, (3, 1)), lorentz_hz=3.0, shift_hz=[0.0, 4.0, -7.5])
    single = fit_spectra(data, basis)
    double = fit_spectra(data, basis, precision="double")
    np.testing.assert_allclose(single.estimates, double.estimates, rtol=1e-4, atol=1e-4)


def test_threads_give_identical_results(basis, rng):
    c = truth_vector(basis)
    n = 20
    data = simulate(
        basis,
        np.tile(c, (n, 1)),
        lorentz_hz=rng.uniform(2, 6, n),
        gauss_hz=rng.uniform(2, 5, n),
        shift_hz=rng.uniform(-8, 8, n),
        phase0=rng.uniform(-1, 1, n),
        noise_sd=1.0,
        rng=rng,
    )
    one = fit_spectra(data, basis, chunk_size=4, threads=1)
    two = fit_spectra(data, basis, chunk_size=4, threads=3)
    np.testing.assert_array_equal(one.estimates, two.estimates)
    np.testing.assert_array_equal(one.crlb_sd, two.crlb_sd)
    np.testing.assert_array_equal(one.params["n_iter"], two.params["n_iter"])


def test_a_frame_fitted_alone_gives_the_result_of_the_batch(basis, rng):
    # every frame's arithmetic is independent of the others' up to double rounding (a lone
    # frame does not take BLAS's matrix-vector path with its own single-precision rounding)
    c = truth_vector(basis)
    n = 6
    data = simulate(
        basis,
        np.tile(c, (n, 1)),
        lorentz_hz=rng.uniform(2, 6, n),
        shift_hz=rng.uniform(-6, 6, n),
        phase0=rng.uniform(-1, 1, n),
        noise_sd=1.0,
        rng=rng,
    )
    batch = fit_spectra(data, basis)
    for i in range(n):
        alone = fit_spectra(data.with_fids(data.fids[i : i + 1]), basis)
        np.testing.assert_allclose(alone.estimates[0], batch.estimates[i], rtol=1e-10, atol=1e-12)


def test_interpolated_coefficients_equal_the_projection(problem, rng):
    # the coefficients from the lineshape at J points equal Phi^H h over the whole bounds
    model = BandModel(problem)
    theta = _random_theta(problem, rng, 64)
    coef, lag = model.coefficients(theta)
    h, lag_full = model._lineshapes(theta)
    proj = (h.astype(np.complex128) @ model.phi_h.astype(np.complex128)).reshape(coef.shape)
    np.testing.assert_array_equal(lag, lag_full)
    err = np.linalg.norm(coef - proj, axis=-1) / np.linalg.norm(h, axis=-1)
    assert err.max() < 3e-6
