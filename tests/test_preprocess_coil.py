import numpy as np
import pytest
from test_preprocess_sim import clean_fid

from mrspipe.errors import ConfigError, PreprocessError
from mrspipe.preprocess import combine_coils, estimate_snr, noise_covariance
from mrspipe.preprocess.measure import noise_sd


def _coil_data(rng, n_coils=8, n_dyn=16, snr=3.0):
    """Coil sensitivities with random amplitude/phase and correlated, unequal noise."""
    fid = clean_fid(water_amp=0)
    sens = rng.uniform(0.2, 1.0, n_coils) * np.exp(1j * rng.uniform(-np.pi, np.pi, n_coils))
    mix = np.eye(n_coils) + 0.3 * rng.standard_normal((n_coils, n_coils))
    mix *= rng.uniform(0.5, 2.0, n_coils)[:, None]
    sigma = np.abs(np.fft.fft(fid)).max() / snr / np.sqrt(fid.size)
    white = rng.standard_normal((n_coils, n_dyn, fid.size)) + 1j * rng.standard_normal(
        (n_coils, n_dyn, fid.size)
    )
    noise = sigma * np.einsum("cd,dtn->ctn", mix, white)
    data = sens[:, None, None] * fid + noise
    return data, sens, fid, sigma * mix


def _snr(fids):
    return estimate_snr(fids, 2.5e-4, 123.2, 4.65)


def test_noise_covariance_matches_truth(rng):
    data, _, _, mix = _coil_data(rng, n_dyn=64)
    cov = noise_covariance(data, coil_axis=0)
    truth = 2 * mix @ mix.conj().T  # complex noise: variance 2 sigma^2 per unit
    assert np.abs(cov - truth).max() / np.abs(truth).max() < 0.05


@pytest.mark.parametrize("method", ["svd", "water"])
def test_whitened_combination_beats_every_coil_and_the_sum(rng, method):
    data, sens, fid, _ = _coil_data(rng)
    combined, w = combine_coils(data, coil_axis=0, method=method)
    plain, _ = combine_coils(data, coil_axis=0, method="sum")
    best_single = _snr(data).max(axis=0)
    snr_c = _snr(combined)
    assert combined.shape == data.shape[1:]
    assert np.median(snr_c) >= np.median(best_single)
    assert np.median(snr_c) > 1.5 * np.median(_snr(plain))
    # phases aligned: the combined signal is the clean FID times a real positive factor
    gain = np.vdot(fid, combined.mean(0)) / np.vdot(fid, fid)
    assert abs(np.angle(gain)) < 0.05


def test_water_reference_gives_the_weights(rng):
    data, sens, fid, _ = _coil_data(rng, n_coils=4)
    water = sens[:, None] * (50 * clean_fid(water_amp=30)) + 0.01 * rng.standard_normal(
        (4, fid.size)
    )
    combined, w = combine_coils(data, coil_axis=0, reference=water, method="svd")
    assert np.median(_snr(combined)) >= np.median(_snr(data).max(axis=0))
    with pytest.raises(PreprocessError, match="coils"):
        combine_coils(data, coil_axis=0, reference=water[:3])
    with pytest.raises(ConfigError):
        combine_coils(data, coil_axis=0, method="magic")


def test_real_32_coil_file(shared_data):
    from mrspipe.io.nifti_mrs import load_mrs

    data = load_mrs(shared_data / "osprey/nifti_mrs/sub-01_ses-01_SVS-ref.nii.gz")
    assert data.dims == ("coil",) and data.size("coil") == 32
    x = data.fids

    def snr(f):  # peak (water) height over spectral noise SD
        return np.abs(np.fft.fft(f, axis=-1)).max(-1) / (noise_sd(f) * np.sqrt(f.shape[-1]))

    combined, _ = combine_coils(x, coil_axis=0, method="svd")
    plain, _ = combine_coils(x, coil_axis=0, method="sum")
    # measured: best coil 6408, whitened SVD 7283, plain sum 2679
    assert snr(combined) >= snr(x).max()
    assert snr(combined) > 2 * snr(plain)
