import numpy as np
from test_preprocess_sim import clean_fid, simulate_session

from mrspipe.preprocess import hlsvd, hlsvd_model, remove_water, remove_water_shared
from mrspipe.preprocess.measure import ppm_mask
from mrspipe.spectral import apply_lineshape, to_spectrum

DW, CF, REF = 2.5e-4, 123.2, 4.65


def test_hlsvd_recovers_damped_sinusoids_exactly():
    t = np.arange(1024) * DW
    freqs = np.array([-300.0, 12.0, 150.0])
    damps = np.array([20.0, 40.0, 15.0])
    amps = np.array([1.0, 5.0 * np.exp(1j), 0.5j])
    fid = (amps * np.exp((-damps + 2j * np.pi * freqs) * t[:, None])).sum(-1)
    f, d, a = hlsvd(np.stack([fid, 2 * fid]), DW, n_components=3, n_fit=256)
    order = np.argsort(f[0])
    np.testing.assert_allclose(f[0][order], freqs, atol=1e-6)
    np.testing.assert_allclose(d[0][order], damps, atol=1e-6)
    np.testing.assert_allclose(a[0][order], amps, atol=1e-6)
    np.testing.assert_allclose(a[1][order], 2 * amps, atol=1e-6)
    model = hlsvd_model(f, d, a, 1024, DW)
    np.testing.assert_allclose(model[0], fid, atol=1e-6)


def test_noise_free_water_removed_and_metabolites_kept():
    metab = clean_fid(water_amp=0)
    with_water = clean_fid(water_amp=40)
    out = remove_water(with_water[None], DW, CF, REF)[0]
    wm = ppm_mask(2048, DW, CF, REF, (4.5, 4.9))
    mm = ppm_mask(2048, DW, CF, REF, (1.8, 4.2))
    water_peak = np.abs(to_spectrum(with_water - metab)[wm]).max()
    naa = np.abs(to_spectrum(metab)).max()
    err = to_spectrum(out - metab)
    assert np.abs(err[wm]).max() < 1e-4 * water_peak
    assert np.abs(err[mm]).max() < 1e-4 * naa


def test_noisy_single_transients(rng):
    """NAA SNR 8 single transients, water 30x NAA amplitude: per transient and on average."""
    data, truth = simulate_session(rng, n_transients=64, snr=8.0, water_amp=30.0)
    water = apply_lineshape(
        np.broadcast_to(truth["clean"] - truth["metab"], data.fids.shape),
        DW,
        shift_hz=truth["shift_hz"][:, None],
        phase0=truth["phase_rad"][:, None],
    )
    without = data.fids - water
    out = remove_water(data.fids, DW, CF, REF)
    wm = ppm_mask(2048, DW, CF, REF, (4.55, 4.85))
    mm = ppm_mask(2048, DW, CF, REF, (1.8, 4.2))
    diff = to_spectrum(out - without)
    water_peak = np.abs(to_spectrum(water)[:, wm]).max(-1)
    naa = np.abs(to_spectrum(truth["metab"])).max()
    # measured: residual ~1.5 % of the water peak (mostly noise taken with it); the
    # metabolite range moves < 1 % of NAA per transient and < 0.2 % on average
    assert np.median(np.abs(diff[:, wm]).max(-1) / water_peak) < 0.03
    assert np.median(np.abs(diff[:, mm]).max(-1)) < 0.015 * naa
    assert np.abs(diff.mean(0)[mm]).max() < 0.003 * naa


def test_shared_model_on_aligned_transients(rng):
    """One HLSVD on the mean, amplitudes per transient: water varying 30 % in amplitude and
    0.3 rad in phase between NAA-SNR-8 transients, water 30x NAA, as accurate as the full
    per-transient HLSVD above."""
    data, truth = simulate_session(
        rng,
        n_transients=64,
        snr=8.0,
        water_amp=30.0,
        drift_hz=0.0,
        jitter_hz=0.0,
        phase_sd=0.0,
        phase_drift=0.0,
    )
    gain = (1 + 0.3 * rng.standard_normal(64)) * np.exp(0.3j * rng.standard_normal(64))
    water = gain[:, None] * (truth["clean"] - truth["metab"])
    without = data.fids - (truth["clean"] - truth["metab"])
    fids = without + water
    out, ref = remove_water_shared(
        np.stack([fids, fids]), DW, CF, REF, axis=1, extra=fids.mean(0, keepdims=True)[None]
    )
    assert out.shape == (2, 64, 2048) and ref.shape == (2, 1, 2048)
    np.testing.assert_allclose(out[0], out[1])
    wm = ppm_mask(2048, DW, CF, REF, (4.55, 4.85))
    mm = ppm_mask(2048, DW, CF, REF, (1.8, 4.2))
    diff = to_spectrum(out[0] - without)
    water_peak = np.abs(to_spectrum(water)[:, wm]).max(-1)
    naa = np.abs(to_spectrum(truth["metab"])).max()
    assert np.median(np.abs(diff[:, wm]).max(-1) / water_peak) < 0.03
    assert np.median(np.abs(diff[:, mm]).max(-1)) < 0.015 * naa
    assert np.abs(diff.mean(0)[mm]).max() < 0.003 * naa
    ref_diff = to_spectrum(ref[0, 0] - without.mean(0))
    assert np.abs(ref_diff[wm]).max() < 0.03 * np.abs(to_spectrum(water.mean(0))[wm]).max()
