"""A small simulator of single-transient brain-like 1H series for the preprocessing tests.

Kept here (not in ``mrspipe.simulate``) so the preprocessing tests do not depend on another
module; the tests below check the simulator itself against its stated truth.
"""

from __future__ import annotations

import numpy as np

from mrspipe.data import MRSData
from mrspipe.preprocess.measure import estimate_snr, peak_position
from mrspipe.spectral import apply_lineshape

#: (ppm, relative amplitude) of Lorentzian singlets approximating a short-TE brain spectrum
PEAKS = (
    (2.008, 3.0),  # NAA CH3
    (2.49, 0.35),
    (2.67, 0.35),  # NAA aspartyl
    (3.027, 2.2),  # Cr CH3
    (3.92, 1.4),  # Cr CH2
    (3.20, 1.3),  # Cho
    (2.04, 0.5),
    (2.11, 0.5),
    (2.35, 0.6),
    (2.45, 0.4),  # Glx beta/gamma
    (3.75, 0.8),  # Glx alpha
    (3.55, 0.9),
    (3.61, 0.6),  # Ins
)


def clean_fid(
    n_points=2048,
    dwell=2.5e-4,
    cf=123.2,
    ref=4.65,
    *,
    lorentz_hz=4.0,
    gauss_hz=3.0,
    water_amp=0.0,
    water_hz=8.0,
    water_ppm=4.70,
):
    """Noise-free brain-like FID ``(n_points,)`` in the internal convention."""
    t = np.arange(n_points) * dwell
    fid = np.zeros(n_points, complex)
    for ppm, amp in PEAKS:
        fid += amp * np.exp(2j * np.pi * (ppm - ref) * cf * t)
    fid = apply_lineshape(fid, dwell, lorentz_hz=lorentz_hz, gauss_hz=gauss_hz)
    if water_amp:
        fid += water_amp * np.exp(2j * np.pi * (water_ppm - ref) * cf * t - np.pi * water_hz * t)
    return fid


def simulate_session(
    rng,
    *,
    n_transients=128,
    n_points=2048,
    dwell=2.5e-4,
    cf=123.2,
    snr=8.0,
    drift_hz=6.0,
    jitter_hz=1.0,
    phase_sd=0.2,
    phase_drift=0.4,
    water_amp=10.0,
    tr=2.0,
    lorentz_hz=4.0,
    gauss_hz=3.0,
):
    """A series of single transients with drift + jitter, residual water and noise.

    The NAA SNR per transient (peak height over the SD of the real spectrum) is ``snr``.

    Returns
    -------
    data : MRSData (dyn, n_points)
    truth : dict with ``shift_hz``, ``phase_rad`` (applied, internal convention), ``clean``
        (the noise-free undrifted FID) and ``noise_sd`` (time domain, per real part).
    """
    fid0 = clean_fid(
        n_points, dwell, cf, lorentz_hz=lorentz_hz, gauss_hz=gauss_hz, water_amp=water_amp
    )
    metab = clean_fid(n_points, dwell, cf, lorentz_hz=lorentz_hz, gauss_hz=gauss_hz)
    x = np.linspace(0, 1, n_transients)
    shift = drift_hz * (x - 0.3 * np.sin(2 * np.pi * x)) + jitter_hz * rng.standard_normal(
        n_transients
    )
    phase = phase_drift * x + phase_sd * rng.standard_normal(n_transients)
    shift -= shift[0]
    phase -= phase[0]
    fids = apply_lineshape(
        np.broadcast_to(fid0, (n_transients, n_points)),
        dwell,
        shift_hz=shift[:, None],
        phase0=phase[:, None],
    )
    naa_height = np.abs(np.fft.fft(metab)).max()
    sigma = naa_height / snr / np.sqrt(n_points)
    noise = sigma * (rng.standard_normal(fids.shape) + 1j * rng.standard_normal(fids.shape))
    data = MRSData(
        fids + noise,
        dwell,
        cf,
        dims=("dyn",),
        repetition_time=tr,
        echo_time=0.03,
        frame_times=np.arange(n_transients) * tr,
    )
    return data, {
        "shift_hz": shift,
        "phase_rad": phase,
        "clean": fid0,
        "metab": metab,
        "noise_sd": sigma,
    }


def test_simulator_peak_positions_and_snr(rng):
    data, truth = simulate_session(
        rng, n_transients=64, snr=8.0, jitter_hz=0.0, drift_hz=0.0, phase_sd=0.0, phase_drift=0.0
    )
    pos = peak_position(
        truth["metab"][None],
        data.dwell_time,
        data.spectrometer_frequency,
        data.ppm_reference,
        peak_range=(1.9, 2.1),
    )
    # neighbouring peaks' tails pull the apparent NAA maximum by about -0.003 ppm
    assert abs(pos[0] - 2.008) < 0.005
    snr = estimate_snr(data.fids, data.dwell_time, data.spectrometer_frequency, data.ppm_reference)
    # magnitude peak of a noisy transient is biased up a little: within 25 % of the target
    assert 7.0 < np.median(snr) < 10.0
    assert truth["shift_hz"][0] == 0 and truth["phase_rad"][0] == 0
