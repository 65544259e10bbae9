import numpy as np
import pytest
from test_preprocess_sim import clean_fid

from mrspipe.errors import PreprocessError
from mrspipe.preprocess import eddy_current_correct, water_phase

DW = 2.5e-4


def _eddy(n=2048):
    t = np.arange(n) * DW
    return 1.2 * np.exp(-t / 0.03) + 0.4 * np.exp(-t / 0.005)  # rad


def test_klose_correction_removes_eddy_phase(rng):
    t = np.arange(2048) * DW
    metab = clean_fid(water_amp=0)
    water_offset = 3.0  # Hz: water is not exactly on resonance
    water = 200 * np.exp(2j * np.pi * water_offset * t - np.pi * 6 * t)
    phase = np.exp(1j * _eddy())
    noise = rng.standard_normal(2048) + 1j * rng.standard_normal(2048)
    noisy_water = water * phase + 0.05 * noise
    corrected = eddy_current_correct((metab * phase)[None], noisy_water)
    # Klose also removes the water's own frequency (referencing restores the scale later)
    expected = metab * np.exp(-2j * np.pi * water_offset * t)
    err = np.abs(np.fft.fft(corrected[0] - expected)).max() / np.abs(np.fft.fft(metab)).max()
    assert err < 0.02
    uncorrected = np.abs(np.fft.fft(metab * phase - metab)).max() / np.abs(np.fft.fft(metab)).max()
    assert uncorrected > 0.3


def test_water_phase_continues_linearly_into_noise(rng):
    t = np.arange(2048) * DW
    water = np.exp(2j * np.pi * 5.0 * t - np.pi * 40 * t)  # decays into noise by ~0.1 s
    noisy = water + 1e-4 * (rng.standard_normal(2048) + 1j * rng.standard_normal(2048))
    ph = water_phase(noisy)
    np.testing.assert_allclose(np.diff(ph[-100:]), 2 * np.pi * 5.0 * DW, atol=2e-3)


def test_water_phase_continuation_slope_is_not_set_by_the_noisiest_points(rng):
    """The water's offset past the cut comes from the reliable phase, weighted by |water|^2.

    A 32-point line just before the noise limit (the old estimate) scattered the continued
    frequency by about 1 Hz on a real Philips reference; the weighted line over the later half
    of the reliable stretch must be several times closer to the true offset.
    """
    t = np.arange(2048) * DW
    offset = 1.5  # Hz
    eddy = 0.6 * np.exp(-t / 0.01)  # an early eddy-current phase transient, rad
    water = np.exp(1j * eddy + 2j * np.pi * offset * t - np.pi * 8 * t)
    noise = 3e-3 * (rng.standard_normal((200, 2048)) + 1j * rng.standard_normal((200, 2048)))
    noisy = water + noise
    freq = lambda ph: np.diff(ph[..., -100:], axis=-1).mean(-1) / (2 * np.pi * DW)  # noqa: E731
    new = freq(water_phase(noisy))
    old = freq(water_phase(noisy, fit_points=32))
    rms_new = np.sqrt(np.mean((new - offset) ** 2))
    rms_old = np.sqrt(np.mean((old - offset) ** 2))
    assert rms_new < 0.1  # Hz
    assert rms_new < rms_old / 3


def test_bad_water_reference():
    with pytest.raises(PreprocessError, match="points"):
        eddy_current_correct(np.ones((2, 64), complex), np.ones(32, complex))
    with pytest.raises(PreprocessError, match="zero"):
        eddy_current_correct(np.ones((2, 64), complex), np.zeros(64, complex))
