"""The finishing step's fast numerics against their definitions (brute force, FFTs, pinv)."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import make_basis, simulate, truth_vector

from mrspipe.fit import fit_spectra
from mrspipe.fit.band import BandModel
from mrspipe.fit.crlb import _pinv_rows, hac_meat, hac_variances, sandwich_blocks, window_sums
from mrspipe.fit.fitting import build_problem
from mrspipe.fit.qc import singlet_fwhm, spectrum_fwhm


@pytest.fixture(scope="module")
def basis():
    return make_basis()


@pytest.fixture(scope="module")
def problem(basis):
    data = simulate(basis, truth_vector(basis)[None], lorentz_hz=3.0)
    return build_problem(data, basis)[0]


def _theta(problem, rng, n):
    theta = np.zeros((n, problem.n_params))
    for g in range(problem.n_groups):
        theta[:, 3 * g] = rng.uniform(-10.0, 10.0, n)
        theta[:, 3 * g + 1] = rng.uniform(0.0, 20.0, n)
        theta[:, 3 * g + 2] = rng.uniform(0.0, 20.0, n) ** 2
    theta[:, -2] = rng.uniform(-np.pi, np.pi, n)
    theta[0, :-2] = 0.0  # no broadening: the basis' own linewidth
    return theta


def test_zero_filled_band_spectrum_gives_the_fft_linewidth(problem, basis, rng):
    model = BandModel(problem)
    theta = _theta(problem, rng, 24)
    naa = basis.names.index("NAA")
    no_shift = theta.copy()
    no_shift[:, 0 : 3 * problem.n_groups : 3] = 0.0
    spec, freq = model.zero_filled(no_shift, naa)
    # the same grid as the four-fold zero-filled FFT, restricted to the band
    df = 1.0 / (problem.t.size * (problem.t[1] - problem.t[0]))
    np.testing.assert_allclose(np.diff(freq), df / 4, rtol=1e-9)
    h = problem.lineshapes(no_shift, np.complex128)[:, problem.group_of[naa]]
    full = np.fft.fftshift(np.fft.fft(problem.basis_fids[naa] * h, n=4 * h.shape[1]), axes=-1)
    grid = np.fft.fftshift(np.fft.fftfreq(4 * h.shape[1], problem.t[1] - problem.t[0]))
    at = np.searchsorted(grid, freq[0] - df / 8)
    ref = full[:, at : at + freq.size]
    np.testing.assert_allclose(grid[at : at + freq.size], freq, atol=1e-6 * df)
    err = np.abs(spec - ref).max(axis=1) / np.abs(ref).max(axis=1)
    assert err.max() < 5e-6
    # and the linewidth measured on it equals the FFT path's
    cf = float((problem.freq[-1] - problem.freq[0]) / (problem.ppm[-1] - problem.ppm[0]))
    ref_ppm = float(problem.ppm[0] - problem.freq[0] / cf)
    band = spectrum_fwhm(spec.real, freq, freq / cf + ref_ppm, peak_ppm=2.008)
    fft = singlet_fwhm(
        problem.basis_fids[naa],
        h,
        dwell_time=float(problem.t[1] - problem.t[0]),
        spectrometer_frequency=cf,
        ppm_reference=ref_ppm,
        peak_ppm=2.008,
    )
    assert np.isfinite(fft).all() and (fft > 1.0).all()
    np.testing.assert_allclose(band, fft, rtol=1e-5)


def test_full_rank_derivatives_match_the_fft_model(problem, rng):
    model = BandModel(problem)
    theta = _theta(problem, rng, 24)
    conc = rng.uniform(0.0, 10.0, (24, problem.n_met))
    phase = problem.phase(theta)
    cols = problem.columns(theta, np.complex128) * phase[:, None, :]
    mod = np.einsum("fm,fmk->fk", conc, cols)
    exact = problem.derivatives(theta, conc, mod, np.complex128)
    full = model.derivatives(theta, conc, mod, phase, full=True)
    rel = np.linalg.norm(full - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
    assert rel.max() < 1e-3 and np.median(rel) < 2e-5


def test_pinv_rows_equal_the_pseudo_inverse(rng):
    n, n_rows = 12, 7
    a = rng.standard_normal((5, n, 40))
    m = a @ a.transpose(0, 2, 1)
    m[1, :, 3] = m[1, :, 2]  # exactly collinear parameters: singular
    m[1, 3, :] = m[1, 2, :]
    m[2, 5, :] = m[2, :, 5] = 0.0  # a parameter without information
    m[3] = a[3, :, :6] @ a[3, :, :6].T  # rank 6
    ok = np.einsum("fii->fi", m) > 0
    s = np.where(ok, 1.0 / np.sqrt(np.where(ok, np.einsum("fii->fi", m), 1.0)), 0.0)
    scaled = m * s[:, :, None] * s[:, None, :]
    got = _pinv_rows(scaled, ok, n_rows)
    want = np.linalg.pinv(scaled, rcond=1e-12, hermitian=True)[:, :n_rows]
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7 * np.abs(want).max())


def test_sandwich_blocks_and_robust_variances_equal_the_dense_products(problem, rng):
    n_f, n_m, n_d = 3, 5, 4
    n2 = 2 * problem.u.shape[0]
    x = rng.standard_normal((n_f, n_m, n2))
    d_x = rng.standard_normal((n_f, n_d, n2))
    p, d_p = problem.project(x), problem.project(d_x)
    d2 = problem.d2
    gram = problem.inner(x, p, x, p)
    fisher, middle = sandwich_blocks(gram, x, p, d_x, d_p, d2)
    j = np.concatenate([x, d_x], axis=1)
    w = np.eye(n2) - problem.u2 @ np.diag(d2) @ problem.u2.T  # I - S
    np.testing.assert_allclose(fisher, j @ w @ j.transpose(0, 2, 1), atol=1e-9)
    np.testing.assert_allclose(middle, j @ w @ w @ j.transpose(0, 2, 1), atol=1e-9)
    # the robust variances of combinations a: diag(a meat a^T), meat from the whitened J
    a = rng.standard_normal((n_f, 3, n_m + n_d))
    resid = rng.standard_normal((n_f, n2))
    window = np.array([3, 7, 3])
    meat = hac_meat(j @ w, resid, window)
    want = np.einsum("frp,fpq,frq->fr", a, meat, a)
    d = 1.0 - (1.0 - problem.w) ** 2
    got = hac_variances(a, (x, d_x), (p, d_p), problem.u, d, resid, window)
    np.testing.assert_allclose(got, want, rtol=1e-5)  # single precision inside


def test_window_sums_equal_their_definition(rng):
    h = rng.standard_normal((2, 3, 80))  # 40 points, re and im interleaved
    points = h.reshape(2, 3, 40, 2)
    for w in (1, 2, 5, 8, 13, 20):
        want = np.stack([points[:, :, k : k + w].sum(axis=2) for k in range(40 - w + 1)], axis=2)
        got = window_sums(h, w)
        np.testing.assert_allclose(got, want.reshape(2, 3, -1), rtol=1e-12, atol=1e-12)


def test_a_frame_alone_gets_the_sds_it_gets_in_a_batch(basis, rng):
    # the HAC window is the frame's own (its linewidth), not the batch's median
    c = truth_vector(basis)
    n = 6
    data = simulate(
        basis,
        np.tile(c, (n, 1)),
        lorentz_hz=np.linspace(1.0, 12.0, n),
        shift_hz=rng.uniform(-6, 6, n),
        noise_sd=1.0,
        rng=rng,
    )
    batch = fit_spectra(data, basis)
    for i in (0, n - 1):
        alone = fit_spectra(data.with_fids(data.fids[i : i + 1]), basis)
        np.testing.assert_allclose(alone.crlb_sd[0], batch.crlb_sd[i], rtol=1e-8)
        np.testing.assert_allclose(alone.sd_inflation[0], batch.sd_inflation[i], rtol=1e-8)


def test_batched_nnls_equals_scipy_per_frame(rng):
    # frames needing several drops (phase 1) and additions (phase 2), cold and warm started;
    # only the frames that need it are solved again, each as if alone
    from scipy.optimize import nnls

    from mrspipe.fit.linear import nnls_normal

    n_f, n_k, n = 12, 60, 9
    a = rng.standard_normal((n_f, n_k, n))
    truth = np.where(rng.random((n_f, n)) < 0.5, 0.0, rng.uniform(0.5, 2.0, (n_f, n)))
    y = np.einsum("fkn,fn->fk", a, truth) + rng.normal(0.0, 0.5, (n_f, n_k))
    gram = a.transpose(0, 2, 1) @ a
    rhs = np.einsum("fkn,fk->fn", a, y)
    want = np.stack([nnls(a[f], y[f])[0] for f in range(n_f)])
    for passive in (None, rng.random((n_f, n)) < 0.5):
        x, p = nnls_normal(gram, rhs, passive=passive)
        np.testing.assert_allclose(x, want, atol=1e-9)
        np.testing.assert_array_equal(p, x > 0)
        alone = [nnls_normal(gram[f : f + 1], rhs[f : f + 1])[0][0] for f in range(3)]
        np.testing.assert_allclose(np.stack(alone), want[:3], atol=1e-9)


def test_phase_factor_equals_its_definition(problem, rng):
    theta = rng.uniform(-3.0, 3.0, (7, problem.n_params))
    theta[:, -1] = rng.uniform(-2e-3, 2e-3, 7)  # first-order phase, s
    want = np.exp(1j * (theta[:, -2:-1] + 2.0 * np.pi * problem.freq * theta[:, -1:]))
    np.testing.assert_allclose(problem.phase(theta), want, rtol=0, atol=1e-13)
