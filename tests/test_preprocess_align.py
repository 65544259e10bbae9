import numpy as np
import pytest
from test_preprocess_sim import simulate_session

from mrspipe.errors import ConfigError, PreprocessError
from mrspipe.preprocess import align_transients, register_to_reference
from mrspipe.spectral import apply_lineshape

CF, REF = 123.2, 4.65
RANGE_HZ = ((1.8 - REF) * CF, (4.2 - REF) * CF)


def _rms(err):
    err = err - err.mean()
    return float(np.sqrt(np.mean(err**2)))


def _crlb_shift(clean, dwell, sigma):
    """Cramer-Rao bound of the shift (Hz) for shift + phase of a known FID in white noise."""
    t = np.arange(clean.size) * dwell
    w = np.abs(clean) ** 2
    fisher = (
        np.array(
            [
                [np.sum((2 * np.pi * t) ** 2 * w), np.sum(2 * np.pi * t * w)],
                [np.sum(2 * np.pi * t * w), np.sum(w)],
            ]
        )
        / sigma**2
    )
    return float(np.sqrt(np.linalg.inv(fisher)[0, 0]))


def test_registration_exact_without_noise(rng):
    data, truth = simulate_session(rng, n_transients=12, snr=1e12, drift_hz=8.0, water_amp=0)
    s, p, ok = register_to_reference(data.fids, truth["clean"], data.dwell_time, RANGE_HZ)
    np.testing.assert_allclose(s, truth["shift_hz"], atol=1e-5)
    np.testing.assert_allclose(p, truth["phase_rad"], atol=1e-5)
    assert ok.all()


def test_sign_convention_matches_apply_lineshape(rng):
    data, truth = simulate_session(rng, n_transients=2, snr=1e12, water_amp=0)
    moved = apply_lineshape(truth["clean"], data.dwell_time, shift_hz=2.5, phase0=0.3)
    s, p, _ = register_to_reference(moved[None], truth["clean"], data.dwell_time, RANGE_HZ)
    assert s[0] == pytest.approx(2.5, abs=1e-6) and p[0] == pytest.approx(0.3, abs=1e-6)


def test_single_transient_accuracy_at_crlb(rng):
    """3 T single transients, NAA SNR 8, drift + 1 Hz jitter, residual water (10x NAA)."""
    data, truth = simulate_session(rng, n_transients=160, snr=8.0)
    res = align_transients(data.fids, data.dwell_time, CF, REF, axis=0)
    err_hz = _rms(res.shift_hz - truth["shift_hz"])
    err_deg = np.degrees(_rms(np.angle(np.exp(1j * (res.phase_rad - truth["phase_rad"])))))
    crlb = _crlb_shift(truth["metab"], data.dwell_time, truth["noise_sd"])
    # measured ~0.23 Hz, 3 deg; the CRLB with a perfect reference is 0.22 Hz
    assert err_hz <= 0.35
    assert err_hz <= 1.25 * crlb
    assert err_deg <= 5.0
    assert res.converged.all()
    # the corrected transients line up: their mean has the NAA height of the clean spectrum
    naa = np.abs(np.fft.fft(res.fids.mean(0))).max() / np.abs(np.fft.fft(truth["clean"])).max()
    assert naa > 0.97


def test_higher_snr_meets_the_aim(rng):
    data, truth = simulate_session(rng, n_transients=96, snr=14.0)
    res = align_transients(data.fids, data.dwell_time, CF, REF, axis=0)
    assert _rms(res.shift_hz - truth["shift_hz"]) <= 0.15


def test_windowed_alignment_helps_at_very_low_snr(rng):
    data, truth = simulate_session(
        rng, n_transients=192, snr=2.0, jitter_hz=0.0, phase_sd=0.0, drift_hz=8.0
    )
    single = align_transients(data.fids, data.dwell_time, CF, REF, axis=0)
    windowed = align_transients(data.fids, data.dwell_time, CF, REF, axis=0, window=12)
    e1 = _rms(single.shift_hz - truth["shift_hz"])
    e12 = _rms(windowed.shift_hz - truth["shift_hz"])
    # NAA SNR 2 per transient, smooth drift: ~1.2 Hz single, < 0.45 Hz with windows of 12
    assert e12 < 0.6 * e1
    assert e12 < 0.45


def test_groups_on_other_axes_are_independent(rng):
    data, truth = simulate_session(rng, n_transients=32, snr=20.0)
    # the same series twice on a second axis, the second copy 3 Hz away: each group has its
    # own reference, so both report the same drift
    pair = np.stack([data.fids, apply_lineshape(data.fids, data.dwell_time, shift_hz=3.0)], 1)
    res = align_transients(pair, data.dwell_time, CF, REF, axis=0)
    assert res.shift_hz.shape == (32, 2)
    np.testing.assert_allclose(res.shift_hz[:, 0], res.shift_hz[:, 1], atol=0.05)


def test_bad_arguments(rng):
    data, _ = simulate_session(rng, n_transients=4, snr=10.0)
    with pytest.raises(PreprocessError, match="at least 2"):
        align_transients(data.fids[:1], data.dwell_time, CF, REF, axis=0)
    with pytest.raises(ConfigError):
        align_transients(data.fids, data.dwell_time, CF, REF, axis=0, reference="mode")
    with pytest.raises(PreprocessError, match="ppm range"):
        align_transients(data.fids, data.dwell_time, CF, REF, axis=0, ppm_range=(40, 50))


def test_window_step_interpolates_shifts(rng):
    data, truth = simulate_session(
        rng, n_transients=120, snr=2.0, jitter_hz=0.0, phase_sd=0.0, drift_hz=8.0
    )
    every = align_transients(data.fids, data.dwell_time, CF, REF, axis=0, window=12)
    strided = align_transients(
        data.fids, data.dwell_time, CF, REF, axis=0, window=12, window_step=6
    )
    assert strided.shift_hz.shape == (120,)
    e_every = _rms(every.shift_hz - truth["shift_hz"])
    e_strided = _rms(strided.shift_hz - truth["shift_hz"])
    assert e_strided < 0.45
    assert e_strided < 1.3 * e_every


def test_large_drift_is_tracked(rng):
    """A 30 Hz drift over the session (gradient heating at 3 T) plus 1 Hz jitter."""
    data, truth = simulate_session(rng, n_transients=96, snr=8.0, drift_hz=30.0)
    res = align_transients(data.fids, data.dwell_time, CF, REF, axis=0)
    assert np.ptp(truth["shift_hz"]) > 25
    assert _rms(res.shift_hz - truth["shift_hz"]) <= 0.35
    assert res.converged.all()


def test_modulation_is_the_exponential():
    from mrspipe.preprocess.align import _modulation

    s = np.array([[0.0, 3.7], [-12.25, 1e-3]])
    t = np.arange(1201) * 2.5e-4
    np.testing.assert_allclose(
        _modulation(s, 2.5e-4, 1201), np.exp(-2j * np.pi * s[..., None] * t), rtol=0, atol=1e-12
    )
    single = _modulation(s, 2.5e-4, 1201, np.complex64)
    assert single.dtype == np.complex64
    np.testing.assert_allclose(single, np.exp(-2j * np.pi * s[..., None] * t), rtol=0, atol=3e-7)


def test_grid_start_and_newton_agree_with_a_warm_start(rng):
    """The grid search plus Newton (active set) reaches the same optimum as Newton started
    next to the truth, for every transient."""
    data, truth = simulate_session(rng, n_transients=64, snr=8.0)
    ref = data.fids[:8].mean(0)
    cold = register_to_reference(data.fids, ref, 2.5e-4, RANGE_HZ, lb_hz=1.0, n_fit=1200)
    warm = register_to_reference(
        data.fids,
        ref,
        2.5e-4,
        RANGE_HZ,
        lb_hz=1.0,
        n_fit=1200,
        initial=cold[0] + 0.5 * rng.standard_normal(64),
    )
    assert cold[2].all() and warm[2].all()
    np.testing.assert_allclose(cold[0], warm[0], atol=1e-3)
    np.testing.assert_allclose(np.angle(np.exp(1j * (cold[1] - warm[1]))), 0, atol=1e-3)


def test_search_is_centred_where_asked(rng):
    """A transient 60 Hz away is outside a 20 Hz search around 0 and found around 55 Hz."""
    data, truth = simulate_session(rng, n_transients=2, snr=1e12, water_amp=0)
    moved = apply_lineshape(truth["clean"], data.dwell_time, shift_hz=60.0, phase0=0.3)
    kw = dict(max_shift_hz=20.0, lb_hz=1.0, n_fit=1200)
    s, p, ok = register_to_reference(
        moved[None], truth["clean"], data.dwell_time, RANGE_HZ, centre_hz=55.0, **kw
    )
    assert ok[0] and s[0] == pytest.approx(60.0, abs=1e-4) and p[0] == pytest.approx(0.3, abs=1e-4)
    s0, _, ok0 = register_to_reference(moved[None], truth["clean"], data.dwell_time, RANGE_HZ, **kw)
    assert not (ok0[0] and abs(s0[0] - 60.0) < 1.0)


def test_drift_far_beyond_the_search_range_is_followed(rng):
    """A 120 Hz drift (non-linear) over 640 transients, 3x the 37 Hz search half-width: every
    shift is recovered and every transient converges."""
    data, truth = simulate_session(rng, n_transients=640, snr=8.0, drift_hz=120.0)
    assert np.ptp(truth["shift_hz"]) > 100
    res = align_transients(data.fids, data.dwell_time, CF, REF, axis=0)
    assert _rms(res.shift_hz - truth["shift_hz"]) <= 0.35
    assert res.converged.all()


def _distance_to_optimum(y, reference, dwell, f_range, n, lb_hz, shift):
    """Newton step of g(s) = sum |Y_s|^2 - 2 |C(s)| in double precision by its definition
    (FFTs, central differences): the distance of ``shift`` from the nearest optimum (Hz)."""
    t = np.arange(n) * dwell
    apod = np.exp(-np.pi * lb_hz * t)
    band = (np.fft.fftfreq(n, dwell) >= f_range[0]) & (np.fft.fftfreq(n, dwell) <= f_range[1])
    r = np.fft.fft(reference[:n] * apod)[band]

    def g(s):
        z = np.fft.fft(y[:, :n] * apod * np.exp(-2j * np.pi * s[:, None] * t), axis=-1)[:, band]
        return (np.abs(z) ** 2).sum(-1) - 2 * np.abs((np.conj(r) * z).sum(-1))

    d = 1e-3
    slope = (g(shift + d) - g(shift - d)) / (2 * d)
    curvature = (g(shift + d) - 2 * g(shift) + g(shift - d)) / d**2
    assert (curvature > 0).all()
    return np.abs(slope / curvature)


@pytest.mark.parametrize("snr", [5.0, 1e4])
def test_single_precision_newton_reaches_the_double_precision_optimum(rng, snr):
    """The Newton steps run in complex64 and stop on the predicted distance left: the shifts
    are still within ``tol_hz`` of the optimum of the double-precision objective, with
    residual water 10x NAA out of the band (the largest signal: the one rounding scales
    with)."""
    data, truth = simulate_session(rng, n_transients=48, snr=snr, water_amp=10.0)
    y = data.fids.astype(complex)
    reference = y[:8].mean(0)
    for tol in (1e-4, 1e-6):
        s, _, ok = register_to_reference(
            y, reference, data.dwell_time, RANGE_HZ, lb_hz=1.0, n_fit=1200, tol_hz=tol
        )
        assert ok.all()
        left = _distance_to_optimum(y, reference, data.dwell_time, RANGE_HZ, 1200, 1.0, s)
        assert left.max() < max(tol, 2e-6)  # single-precision rounding: ~1e-7 Hz


def test_reference_passes_register_only_the_early_transients(rng, monkeypatch):
    """With ``n_iter`` refinements, every pass but the last registers only the transients
    the reference is built from; the last registers all, from the grid search."""
    import mrspipe.preprocess.align as align_module

    calls = []
    real = align_module.register_to_reference

    def spy(fids, *args, **kwargs):
        calls.append((fids.shape[-2], kwargs.get("initial") is None))
        return real(fids, *args, **kwargs)

    monkeypatch.setattr(align_module, "register_to_reference", spy)
    data, truth = simulate_session(rng, n_transients=200, snr=10.0)
    res = align_transients(data.fids, data.dwell_time, CF, REF, axis=0, n_reference=40, n_iter=2)
    # blocks of 64: 40 early transients (cold, then warm), then 64 + 64 + 64 + 8 from the grid
    assert calls == [(40, True), (40, False), (64, True), (64, True), (64, True), (8, True)]
    crlb = _crlb_shift(truth["metab"], data.dwell_time, truth["noise_sd"])
    assert _rms(res.shift_hz - truth["shift_hz"]) <= 1.25 * crlb
    assert res.converged.all()


def test_tail_median_is_the_median_of_the_converged(rng):
    from mrspipe.preprocess.align import _tail_median

    for shape in [(16,), (3, 16), (2, 3, 15)]:
        for _ in range(20):
            s = rng.standard_normal(shape)
            ok = rng.random(shape) > rng.random()
            med, found = _tail_median(s, ok)
            rows = zip(s.reshape(-1, shape[-1]), ok.reshape(-1, shape[-1]), strict=True)
            want = [np.median(a[o]) if o.any() else 0.0 for a, o in rows]
            np.testing.assert_array_equal(med, np.reshape(want, shape[:-1]))
            np.testing.assert_array_equal(found, ok.any(-1))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_reference_median_is_np_median_of_each_part(rng, dtype):
    from mrspipe.preprocess.align import _robust_mean

    for shape in [(64, 300), (3, 7, 100), (2, 64, 33), (1, 5)]:
        x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
        want = np.median(x.real, axis=-2, keepdims=True) + 1j * np.median(
            x.imag, axis=-2, keepdims=True
        )
        got = _robust_mean(x, -2, "median")
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    x[0, 0] = np.nan  # not finite: np.median's answer (NaN where a NaN is)
    assert np.isnan(_robust_mean(x, -2, "median")[..., 0, 0])
