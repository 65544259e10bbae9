"""Preprocessing for every shape a scanner gives: averaged, coils without dyn, ECC reference."""

import numpy as np
from test_preprocess_chain import CF, DW, REF, _eddy_phase, _water_ref
from test_preprocess_sim import simulate_session

from mrspipe.data import MRSData
from mrspipe.preprocess import PreprocessOptions, peak_position, preprocess_session
from mrspipe.preprocess.chain import NOT_ASSESSED
from mrspipe.preprocess.measure import ppm_mask
from mrspipe.spectral import to_spectrum


def _averaged(rng, offset_hz=5.0, phase=0.8):
    """A scanner-averaged spectrum: eddy currents, a 5 Hz offset, a phase and residual water."""
    data, truth = simulate_session(rng, n_transients=64, snr=8.0, drift_hz=0.0, jitter_hz=0.0)
    t = np.arange(data.n_points) * DW
    fid = data.fids.mean(0) * np.exp(2j * np.pi * offset_hz * t + 1j * phase) * _eddy_phase()
    return MRSData(fid, DW, CF, source="act.nii.gz"), truth


def _absorptive(fid):
    """Phase error of the NAA + Cr singlets (rad): 0 when absorptive."""
    mask = ppm_mask(fid.shape[-1], DW, CF, REF, (1.96, 2.06)) | ppm_mask(
        fid.shape[-1], DW, CF, REF, (2.98, 3.08)
    )
    return float(np.angle(to_spectrum(fid)[..., mask].sum()))


def test_single_averaged_spectrum_is_corrected_not_aligned(rng):
    data, truth = _averaged(rng)
    water = _water_ref(rng, n_dyn=3)
    result = preprocess_session(data, water=water)
    frame = result.frames.fids
    assert result.frames.dims == ("dyn",) and frame.shape == (1, 2048)
    naa = peak_position(frame[0], DW, CF, REF, peak_range=(1.9, 2.1))
    assert abs(naa - 2.008) < 0.006
    assert abs(_absorptive(frame[0])) < 0.05
    # the eddy-current phase is gone: what is left matches the clean spectrum's shape
    spec, ref_spec = to_spectrum(frame[0]), to_spectrum(truth["clean"])
    mask = ppm_mask(2048, DW, CF, REF, (1.8, 4.2))
    corr = np.abs(np.vdot(spec[mask], ref_spec[mask])) / (
        np.linalg.norm(spec[mask]) * np.linalg.norm(ref_spec[mask])
    )
    assert corr > 0.95
    methods = [s["Method"] for s in result.steps]
    assert "Eddy current correction" in methods and "Nuisance peak removal" in methods
    assert "Outlier removal" not in methods
    align_step = [s for s in result.steps if s["Method"] == "Frequency and phase alignment"][0]
    assert "skipped" in align_step["Details"]
    assert list(result.qc["reason"]) == [NOT_ASSESSED]
    assert not result.qc["rejected"].any()
    # water removed: the water band is small against NAA
    wmask = ppm_mask(2048, DW, CF, REF, (4.55, 4.85))
    nmask = ppm_mask(2048, DW, CF, REF, (1.95, 2.05))
    assert np.abs(spec[wmask]).max() < np.abs(spec[nmask]).max()


def test_coils_without_dyn_and_separate_ecc_reference(rng):
    data, _ = _averaged(rng, phase=0.0)
    coils = rng.uniform(0.3, 1, 4) * np.exp(1j * rng.uniform(-3, 3, 4))
    noise = 0.02 * (rng.standard_normal((4, 2048)) + 1j * rng.standard_normal((4, 2048)))
    multi = data.with_fids(coils[:, None] * data.fids + noise, dims=("coil",))
    # the water reference has no eddy currents; the separate ECC reference carries them
    water = _water_ref(rng, coils=coils)
    water = water.with_fids(water.fids / _eddy_phase())
    ecc = _water_ref(rng, n_dyn=1, coils=coils)
    ecc = ecc.with_fids(ecc.fids[:, 0], dims=("coil",))
    result = preprocess_session(multi, water=water, ecc_reference=ecc)
    frame = result.frames.fids
    assert frame.shape == (1, 2048)
    assert result.steps[0]["Method"] == "Coil combination"
    ecc_step = [s for s in result.steps if s["Method"] == "Eddy current correction"][0]
    assert "ECC reference" in ecc_step["Details"]
    assert abs(_absorptive(frame[0])) < 0.05
    without = preprocess_session(multi, water=water)
    # the ECC reference removed the eddy-current distortion the water reference lacks
    assert np.abs(np.angle(_eddy_phase()[:64])).max() > 0.5  # a real distortion
    ratio_with = np.abs(to_spectrum(frame[0])).max()
    ratio_without = np.abs(to_spectrum(without.frames.fids[0])).max()
    assert ratio_with > ratio_without


def test_single_transient_on_a_dyn_axis(rng):
    data, _ = _averaged(rng)
    one = data.with_fids(data.fids[None], dims=("dyn",), frame_times=np.zeros(1))
    result = preprocess_session(one, options=PreprocessOptions(remove_water=False))
    assert result.frames.shape == (1, 2048)
    assert list(result.qc["reason"]) == [NOT_ASSESSED]


def test_rejection_needs_evidence(rng):
    """A few per cent amplitude spread at high SNR or an optimiser flag alone reject nothing."""
    data, _ = simulate_session(rng, n_transients=32, snr=60.0)
    scale = 1 + 0.03 * rng.standard_normal(32)
    scale[5] = 0.95
    kept = preprocess_session(data.with_fids(data.fids * scale[:, None]))
    assert not kept.qc["rejected"].any()
    assert set(kept.qc["reason"]) == {""}
    scale[7] = 0.4  # real signal loss
    lost = preprocess_session(data.with_fids(data.fids * scale[:, None]))
    assert list(np.flatnonzero(lost.qc["rejected"])) == [7]
    assert "amplitude loss (z=" in lost.qc["reason"][7]


def test_reasons_from_find_bad_transients(rng):
    from mrspipe.preprocess import find_bad_transients

    data, truth = simulate_session(rng, n_transients=16, snr=20.0, drift_hz=0.0, jitter_hz=0.0)
    fids = data.fids * np.exp(-1j * truth["phase_rad"])[:, None]
    fids[3] = 0
    fids[9, 10] += 300 * np.abs(fids).max()
    conv = np.ones(16, bool)
    conv[12] = False  # a flag on a transient that matches its reference
    ref = np.median(fids.real, 0) + 1j * np.median(fids.imag, 0)
    rejected, z, reason = find_bad_transients(fids, ref, DW, CF, REF, axis=0, converged=conv)
    assert list(np.flatnonzero(rejected)) == [3, 9]
    assert reason[3] == "all zero or not finite"
    assert reason[9].startswith("residual outlier")
    assert reason[12] == ""
