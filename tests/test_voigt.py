"""The one Voigt (``mrspipe.spectral.voigt_decay``): analytic widths, used by every model."""

from __future__ import annotations

import numpy as np
import pytest

from mrspipe.spectral import apply_lineshape, voigt_decay


def _fwhm_hz(decay: np.ndarray, dwell: float) -> float:
    n = decay.size
    spec = np.fft.fftshift(np.fft.fft(decay * np.r_[0.5, np.ones(n - 1)])).real
    freq = np.fft.fftshift(np.fft.fftfreq(n, dwell))
    above = freq[spec >= spec.max() / 2]
    return float(above.max() - above.min())


@pytest.mark.parametrize(("lorentz", "gauss", "expected"), [(6.0, 0.0, 6.0), (0.0, 8.0, 8.0)])
def test_pure_lines_have_their_fwhm(lorentz: float, gauss: float, expected: float) -> None:
    dwell, n = 1e-3, 1 << 16
    t = np.arange(n) * dwell
    width = _fwhm_hz(voigt_decay(t, lorentz, gauss**2), dwell)
    assert width == pytest.approx(expected, abs=2 / (n * dwell) + 0.02 * expected)


def test_apply_lineshape_and_the_fit_model_use_it() -> None:
    t = np.arange(256) * 2.5e-4
    fid = np.exp(2j * np.pi * 30.0 * t)
    out = apply_lineshape(fid, 2.5e-4, lorentz_hz=3.0, gauss_hz=5.0, shift_hz=2.0, phase0=0.1)
    expected = fid * voigt_decay(t, 3.0, 25.0) * np.exp(1j * (2 * np.pi * 2.0 * t + 0.1))
    np.testing.assert_allclose(out, expected, rtol=1e-12)
