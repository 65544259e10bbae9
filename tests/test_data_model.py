import dataclasses

import numpy as np
import pytest

from mrspipe.data import Basis, MRSData
from mrspipe.spectral import apply_lineshape, resample_basis, to_spectrum


def _singlet(ppm, n=2048, dwell=2.5e-4, cf=123.2, ref=4.65, lw=4.0):
    t = np.arange(n) * dwell
    return np.exp(2j * np.pi * (ppm - ref) * cf * t - np.pi * lw * t)


def test_spectrum_peak_at_chemical_shift():
    data = MRSData(_singlet(2.01)[None], 2.5e-4, 123.2, dims=("dyn",))
    peak = data.ppm[np.argmax(np.abs(data.spectrum()[0]))]
    assert abs(peak - 2.01) < 0.5 / (2048 * 2.5e-4) / 123.2 + 1e-9
    assert data.ppm[0] < data.ppm[-1]


def test_dims_must_match_axes():
    with pytest.raises(ValueError, match="dims"):
        MRSData(np.zeros((3, 4, 16), complex), 1e-3, 123.0, dims=("dyn",))


def test_frame_times_checked_and_default():
    fids = np.zeros((5, 16), complex)
    data = MRSData(fids, 1e-3, 123.0, dims=("dyn",), repetition_time=2.0)
    np.testing.assert_allclose(data.transient_times(), [0, 2, 4, 6, 8])
    with pytest.raises(ValueError, match="frame_times"):
        MRSData(fids, 1e-3, 123.0, dims=("dyn",), frame_times=np.arange(4.0))


def test_frozen():
    data = MRSData(np.zeros((16,), complex), 1e-3, 123.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.dwell_time = 2.0  # type: ignore[misc]


def test_lorentzian_lineshape_closed_form():
    """FFT of a Lorentzian FID against its analytic spectrum (FWHM L Hz)."""
    n, dwell, lw = 8192, 1e-4, 6.0
    fid = apply_lineshape(np.ones((1, n), complex), dwell, lorentz_hz=lw, shift_hz=50.0)
    spec = to_spectrum(fid)[0] * dwell
    f = np.fft.fftshift(np.fft.fftfreq(n, dwell))
    # closed form of the sampled transform: a geometric series (the FID has decayed by the end)
    z = (np.pi * lw + 2j * np.pi * (f - 50.0)) * dwell
    exact = dwell / (1.0 - np.exp(-z))
    np.testing.assert_allclose(spec, exact, rtol=1e-6)
    # and the continuous Lorentzian it approximates: peak height 1/(pi L), FWHM L
    continuous = 1.0 / (np.pi * lw + 2j * np.pi * (f - 50.0))
    assert abs(spec.real.max() - continuous.real.max()) < 1e-3 * continuous.real.max()


def test_gaussian_fwhm():
    n, dwell, g = 16384, 1e-4, 10.0
    spec = to_spectrum(apply_lineshape(np.ones(n, complex), dwell, gauss_hz=g)).real
    f = np.fft.fftshift(np.fft.fftfreq(n, dwell))
    above = f[spec >= spec.max() / 2]
    assert abs((above.max() - above.min()) - g) < 2 * (f[1] - f[0])


def test_resample_basis_keeps_ppm():
    fids = np.stack([_singlet(2.01, n=4096, dwell=1.25e-4), _singlet(3.03, n=4096, dwell=1.25e-4)])
    basis = Basis(("NAA", "Cr"), fids, 1.25e-4, 123.2)
    out = resample_basis(basis, dwell_time=2.5e-4, n_points=1024, spectrometer_frequency=127.7)
    spec = np.abs(out.spectrum())
    peaks = out.ppm[np.argmax(spec, axis=1)]
    np.testing.assert_allclose(peaks, [2.01, 3.03], atol=0.03)
    assert out.n_points == 1024 and out.spectrometer_frequency == 127.7
