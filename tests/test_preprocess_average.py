import numpy as np
import pytest

from mrspipe.errors import ConfigError, PreprocessError
from mrspipe.preprocess import average_frames, estimate_fwhm, frame_windows, match_linewidths
from mrspipe.spectral import apply_lineshape


def test_block_frames_and_times_exact(rng):
    x = rng.standard_normal((10, 3, 8)) + 1j * rng.standard_normal((10, 3, 8))
    times = np.arange(10) * 2.5 + 1.0
    frames, ft, n = average_frames(x, times, width=4, axis=0)
    assert frames.shape == (2, 3, 8)  # trailing incomplete block dropped
    np.testing.assert_allclose(frames[0], x[:4].mean(0))
    np.testing.assert_allclose(frames[1], x[4:8].mean(0))
    np.testing.assert_allclose(ft, [times[:4].mean(), times[4:8].mean()])
    assert (n == 4).all()


def test_sliding_windows_and_rejection(rng):
    x = rng.standard_normal((9, 16)) + 0j
    times = np.linspace(0, 16, 9)
    rejected = np.zeros(9, bool)
    rejected[4] = True
    frames, ft, n = average_frames(x, times, width=3, step=2, rejected=rejected)
    np.testing.assert_array_equal(frame_windows(9, 3, 2), [[0, 3], [2, 5], [4, 7], [6, 9]])
    np.testing.assert_allclose(ft, [2.0, 6.0, 10.0, 14.0])
    np.testing.assert_array_equal(n, [3, 2, 2, 3])
    np.testing.assert_allclose(frames[1], x[[2, 3]].mean(0))
    np.testing.assert_allclose(frames[2], x[[5, 6]].mean(0))


def test_bad_frame_arguments():
    with pytest.raises(ConfigError):
        frame_windows(10, 0)
    with pytest.raises(PreprocessError, match="larger"):
        frame_windows(4, 8)
    with pytest.raises(PreprocessError):
        average_frames(np.zeros((4, 8), complex), np.arange(3.0), width=2)


@pytest.mark.parametrize("lineshape", ["lorentz", "gauss"])
def test_linewidth_matching(lineshape):
    # singlets only: with NAAG/Glx next to NAA the half-height width jumps where the shoulder
    # crosses half height, which no broadening can match smoothly
    t = np.arange(2048) * 2.5e-4
    base = sum(
        a * np.exp(2j * np.pi * (p - 4.65) * 123.2 * t)
        for p, a in ((2.008, 3.0), (3.027, 2.2), (3.2, 1.3))
    )
    base = apply_lineshape(base, 2.5e-4, lorentz_hz=3.0, gauss_hz=2.0)
    extra = np.array([0.0, 1.0, 2.5, 4.0])[:, None]  # BOLD-like narrowing of some frames
    frames = apply_lineshape(np.broadcast_to(base, (4, base.size)), 2.5e-4, lorentz_hz=extra)
    before = estimate_fwhm(frames, 2.5e-4, 123.2, 4.65)
    out, added = match_linewidths(frames, 2.5e-4, 123.2, 4.65, lineshape=lineshape)
    after = estimate_fwhm(out, 2.5e-4, 123.2, 4.65)
    assert np.ptp(before) > 3.0
    assert np.ptp(after) < 0.1  # Hz
    assert added[-1] == pytest.approx(0.0, abs=1e-9)
    assert after.max() == pytest.approx(before.max(), abs=0.1)


def test_fwhm_of_a_lorentzian_is_exact():
    t = np.arange(4096) * 2.5e-4
    fid = np.exp(2j * np.pi * (2.0 - 4.65) * 123.2 * t - np.pi * 5.0 * t)
    fwhm = estimate_fwhm(fid[None], 2.5e-4, 123.2, 4.65)
    assert fwhm[0] == pytest.approx(5.0, abs=0.05)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, np.float64])
def test_nonzero_finite_and_masked_mean_equal_their_definitions(rng, dtype):
    """Flags from one sum of magnitudes, means by a product with 0/1 weights: the same as
    testing every point and masking, on contiguous, moved and strided arrays."""
    from mrspipe.preprocess.average import masked_mean
    from mrspipe.preprocess.measure import nonzero_finite

    x = rng.standard_normal((3, 40, 64)) + (
        1j * rng.standard_normal((3, 40, 64)) if dtype != np.float64 else 0
    )
    x = x.astype(dtype)
    x[0, 1] = 0
    x[1, 2, 5] = np.nan
    x[2, 3, 7] = np.inf
    x[2, 4] = 0
    x[2, 4, 3] = -np.inf
    for arr in (x, np.moveaxis(x, 1, 0), x[:, :, ::2]):
        nonzero, finite = nonzero_finite(arr)
        np.testing.assert_array_equal(finite, np.isfinite(arr).all(-1))
        np.testing.assert_array_equal(nonzero, (arr != 0).any(-1))
    y = np.where(np.isfinite(x), x, 0)
    keep = rng.random((3, 40)) > 0.3
    for ax in (0, 1):
        got = masked_mean(y, keep, axis=ax)
        total = np.where(keep[..., None], y, 0).sum(ax, dtype=np.result_type(dtype, np.complex128))
        want = total / np.maximum(keep.sum(ax), 1)[..., None]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * np.abs(want).max())
