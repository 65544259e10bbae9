"""Fast paths of the per-transient QC and frame averaging against their definitions.

The chirp z-transform points equal the zero-filled FFT's; the QC SNR and linewidth taken from
one set of points equal :func:`estimate_snr` and :func:`estimate_fwhm` on the moving averages;
block frames summed directly equal the plain means with rejected transients left out.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_preprocess_sim import simulate_session

from mrspipe.preprocess import average_frames, estimate_fwhm, estimate_snr, register_to_reference
from mrspipe.preprocess.average import moving_average
from mrspipe.preprocess.measure import dft_band
from mrspipe.preprocess.qc import snr_and_fwhm
from mrspipe.preprocess.zoom import zoom_dft, zoom_is_cheaper


@pytest.mark.parametrize(
    ("n_in", "n_fft", "first", "count"),
    [
        (2048, 8192, -2000, 126),  # the QC linewidth's band (4x zero filling)
        (1200, 9600, -89, 179),  # the registration grid: lags around 0
        (2048, 8192, 4000, 300),  # across the Nyquist bin (wraps modulo n_fft)
        (100, 100, 0, 100),  # every bin, no zero filling
        (37, 1000, -1500, 7),  # first below -n_fft
    ],
)
def test_zoom_dft_equals_the_zero_filled_fft(rng, n_in, n_fft, first, count):
    x = rng.standard_normal((3, 2, n_in)) + 1j * rng.standard_normal((3, 2, n_in))
    want = np.fft.fft(x, n_fft, axis=-1)[..., (first + np.arange(count)) % n_fft]
    got = zoom_dft(x, n_fft, first, count)
    assert got.shape == want.shape and got.dtype == np.complex128
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * np.abs(want).max())
    # single-precision input: computed in double, the same to rounding of the input
    x32 = x.astype(np.complex64)
    want32 = np.fft.fft(x32.astype(complex), n_fft, axis=-1)[
        ..., (first + np.arange(count)) % n_fft
    ]
    np.testing.assert_allclose(
        zoom_dft(x32, n_fft, first, count), want32, rtol=0, atol=1e-13 * np.abs(want32).max()
    )
    # single precision throughout: complex64, rounding ~1e-7 relative per operation
    got32 = zoom_dft(x32, n_fft, first, count, single=True)
    assert got32.dtype == np.complex64
    np.testing.assert_allclose(got32, want32, rtol=0, atol=2e-6 * np.abs(want32).max())


def test_dft_band_takes_either_path_with_the_same_result(rng):
    x = rng.standard_normal((5, 512)) + 1j * rng.standard_normal((5, 512))
    assert zoom_is_cheaper(512, 4096, 40) and not zoom_is_cheaper(512, 512, 40)
    for n_fft in (512, 4096):
        want = np.fft.fft(x, n_fft, axis=-1)[:, (-20 + np.arange(40)) % n_fft]
        np.testing.assert_allclose(dft_band(x, n_fft, -20, 40), want, atol=1e-12)


def test_qc_snr_and_fwhm_equal_their_definitions(rng):
    data, _ = simulate_session(rng, n_transients=64, snr=8.0)
    data = data.with_fids(data.fids.astype(np.complex64))
    args = (data.dwell_time, data.spectrometer_frequency, data.ppm_reference)
    snr, fwhm = snr_and_fwhm(data.fids, args, width=8, axis=0)
    # the QC's spectral points are single-precision transforms (complex64: ~1e-7 relative)
    np.testing.assert_allclose(snr, estimate_snr(data.fids, *args), rtol=1e-6)
    smooth = moving_average(data.fids, 8, 0)  # the FIDs averaged first: the same, linear
    want = estimate_fwhm(smooth, *args)
    assert np.isfinite(want).all() and 3 < np.median(want) < 15
    np.testing.assert_allclose(fwhm, want, rtol=1e-6)
    # width 1: each transient's own width
    _, alone = snr_and_fwhm(data.fids[:4], args, width=1, axis=0)
    np.testing.assert_allclose(alone, estimate_fwhm(data.fids[:4], *args), rtol=1e-6)


def test_block_frames_summed_directly_equal_the_masked_means(rng):
    x = (rng.standard_normal((2, 1100, 64)) + 1j * rng.standard_normal((2, 1100, 64))).astype(
        np.complex64
    )
    rejected = rng.random((2, 1100)) < 0.2
    rejected[0, 16:32] = True  # a frame with nothing left: zeros, count 0
    times = np.arange(1100) * 2.0
    frames, ft, n = average_frames(x, times, width=16, axis=1, rejected=rejected)
    assert frames.shape == (2, 68, 64) and frames.dtype == np.complex128
    keep = ~rejected[..., :1088].reshape(2, 68, 16)
    xs = x[:, :1088].astype(complex).reshape(2, 68, 16, 64)
    want = (xs * keep[..., None]).sum(2) / np.maximum(keep.sum(2), 1)[..., None]
    np.testing.assert_allclose(frames, want, rtol=0, atol=1e-14 * np.abs(want).max())
    np.testing.assert_array_equal(n, keep.sum(2))
    assert not frames[0, 1].any() and n[0, 1] == 0
    np.testing.assert_allclose(ft, times[:1088].reshape(68, 16).mean(1))


def _registration_case(rng):
    data, _ = simulate_session(rng, n_transients=24, snr=6.0, drift_hz=8.0)
    y = data.fids.astype(complex)
    reference = np.median(y.real[:8], 0) + 1j * np.median(y.imag[:8], 0)
    return y, reference, data.dwell_time


def test_registration_grid_start_is_the_zero_filled_cross_correlation_peak(rng):
    y, reference, dwell = _registration_case(rng)
    f_range, n = (-350.0, -55.0), 1200
    shift, _, converged = register_to_reference(
        y, reference, dwell, f_range, n_fit=n, lb_hz=1.0, max_shift_hz=30.0, max_iter=0
    )
    assert not converged.any()  # no Newton step was taken
    # by definition: |sum_t conj(r_band(t)) y(t) exp(-2j pi s t)| on the 8x zero-filled grid
    t = np.arange(n) * dwell
    apod = np.exp(-np.pi * 1.0 * t)
    freqs = np.fft.fftfreq(n, dwell)
    lo, hi = f_range
    w = np.clip(np.minimum(freqs - lo, hi - freqs) / ((hi - lo) / 10), 0, 1)
    r_band = np.fft.ifft(np.fft.fft(reference[:n] * apod) * np.sin(0.5 * np.pi * w) ** 2)
    h = np.conj(r_band) * y[:, :n] * apod
    spec = np.fft.fft(h, 8 * n, axis=-1)
    bin_hz = 1 / (8 * n * dwell)
    lags = np.arange(-int(np.ceil(30.0 / bin_hz)), int(np.ceil(30.0 / bin_hz)) + 1)
    want = lags[np.argmax(np.abs(spec[:, lags % (8 * n)]), axis=-1)] * bin_hz
    np.testing.assert_array_equal(shift, want)


def test_registration_phase_is_the_angle_of_the_band_cross_product(rng):
    y, reference, dwell = _registration_case(rng)
    f_range, n = (-350.0, -55.0), 1200
    shift, phase, converged = register_to_reference(
        y, reference, dwell, f_range, n_fit=n, lb_hz=1.0, max_shift_hz=30.0
    )
    assert converged.all()
    t = np.arange(n) * dwell
    apod = np.exp(-np.pi * 1.0 * t)
    freqs = np.fft.fftfreq(n, dwell)
    band = (freqs >= f_range[0]) & (freqs <= f_range[1])
    r = np.fft.fft(reference[:n] * apod)[band]
    z = np.fft.fft(y[:, :n] * apod * np.exp(-2j * np.pi * shift[:, None] * t), axis=-1)[:, band]
    c0 = (np.conj(r) * z).sum(-1)
    # C(s) from single-precision products summed in double: its angle to ~1e-6 rad
    np.testing.assert_allclose(phase, np.angle(c0), rtol=0, atol=1e-6)

    # and the shift is a stationary point of g(s) = sum |Y_s|^2 - 2 |C(s)| (Newton converged)
    def g(s):
        zs = np.fft.fft(y[:, :n] * apod * np.exp(-2j * np.pi * s[:, None] * t), axis=-1)[:, band]
        return (np.abs(zs) ** 2).sum(-1) - 2 * np.abs((np.conj(r) * zs).sum(-1))

    d = 1e-3
    slope = (g(shift + d) - g(shift - d)) / (2 * d)
    curvature = (g(shift + d) - 2 * g(shift) + g(shift - d)) / d**2
    assert (curvature > 0).all()
    assert (np.abs(slope / curvature) < 1e-3).all()  # within 1e-3 Hz of the minimum


def test_noise_sd_is_the_residual_sd_of_the_tails_straight_line(rng):
    """From sums (no residual array): the same as fitting the line and taking the residual."""
    from mrspipe.preprocess.measure import noise_sd, tail_slice

    t = np.arange(2048)
    x = 0.7 * (rng.standard_normal((3, 50, 2048)) + 1j * rng.standard_normal((3, 50, 2048)))
    x = (x + (40 + 9j) * np.exp(-t / 300) + (5 - 2j) * t / 2048).astype(np.complex64)
    tail = x[..., tail_slice(2048, 0.25)].astype(complex)
    m = tail.shape[-1]
    design = np.stack([np.ones(m), np.arange(m)], 1)
    flat = tail.reshape(-1, m).T
    coef, *_ = np.linalg.lstsq(design, flat, rcond=None)
    resid = flat - design @ coef
    want = np.sqrt((np.abs(resid) ** 2).sum(0) / (2 * (m - 2))).reshape(3, 50)
    np.testing.assert_allclose(noise_sd(x), want, rtol=1e-10)
    assert 0.65 < np.median(want) < 0.75
