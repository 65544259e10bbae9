"""The chain in the data's precision, in place, a block of transients at a time.

NIfTI-MRS data are single precision: the chain keeps one working copy of the session in that
precision (each product formed in double and rounded once) instead of several double-precision
copies. These tests check that the results equal the double-precision path's to rounding and
that the chain's memory is one copy of the session plus blocks (tracemalloc, not timed).
"""

import tracemalloc

import numpy as np
import pytest
from test_preprocess_chain import _eddy_phase, _water_ref
from test_preprocess_sim import simulate_session

from mrspipe.preprocess import (
    PreprocessOptions,
    align,
    average,
    measure,
    preprocess_session,
    reject,
)
from mrspipe.preprocess import water as water_removal


def _session(rng, n_transients=384):
    data, _ = simulate_session(rng, n_transients=n_transients, snr=8.0, tr=2.0)
    fids = data.fids * _eddy_phase()
    fids[40] *= 0.3  # signal loss (motion)
    fids[200] += 40 * np.exp(-np.arange(2048) / 3.0)  # a spike
    fids[300] = 0  # an empty transient
    return data.with_fids(fids.astype(np.complex64))


@pytest.mark.parametrize(
    "options",
    [PreprocessOptions(), PreprocessOptions(window=32, step=8, linewidth_match="lorentz")],
    ids=["blocks", "sliding"],
)
def test_single_precision_chain_equals_the_double_precision_one(rng, options):
    single = _session(rng)
    water = _water_ref(rng)
    double = single.with_fids(single.fids.astype(np.complex128))
    kept = single.fids.copy()
    r32 = preprocess_session(single, water=water, options=options)
    r64 = preprocess_session(double, water=water, options=options)
    np.testing.assert_array_equal(single.fids, kept)  # the input is never written to
    assert r32.transients.fids.dtype == np.complex64
    assert r64.transients.fids.dtype == np.complex128
    assert r32.frames.fids.dtype == r64.frames.fids.dtype == np.complex128
    scale = np.abs(r64.frames.fids).max()
    assert np.abs(r32.frames.fids - r64.frames.fids).max() < 1e-6 * scale
    np.testing.assert_array_equal(r32.qc["rejected"], r64.qc["rejected"])
    np.testing.assert_array_equal(r32.qc["reason"], r64.qc["reason"])
    assert r32.qc["rejected"][[40, 200, 300]].all()
    np.testing.assert_allclose(r32.qc["shift_hz"], r64.qc["shift_hz"], atol=1e-4)
    np.testing.assert_allclose(r32.qc["phase_rad"], r64.qc["phase_rad"], atol=1e-5)
    for key in ("snr", "fwhm_hz"):
        np.testing.assert_allclose(r32.qc[key], r64.qc[key], rtol=1e-5)
    good = np.isfinite(r64.qc["residual_z"])
    np.testing.assert_allclose(r32.qc["residual_z"][good], r64.qc["residual_z"][good], atol=1e-3)
    assert r32.reference_offset_hz == pytest.approx(r64.reference_offset_hz, abs=1e-5)


def test_chain_holds_one_copy_of_the_session_plus_blocks(rng, monkeypatch):
    # blocks of 32 transients: the session (2048 x 2048 complex64, 32 MiB) dwarfs them
    for module in (align, average, reject, water_removal):
        monkeypatch.setattr(module, "_BLOCK", 32)
    monkeypatch.setattr(measure, "_CHUNK_BYTES", 2**20)
    data, _ = simulate_session(rng, n_transients=2048, snr=8.0, tr=2.0)
    data = data.with_fids(data.fids.astype(np.complex64))
    water = _water_ref(rng)
    size = data.fids.nbytes
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = preprocess_session(data, water=water)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert result.transients.fids.dtype == np.complex64
    # the working copy (1), frames in double with their running sums (0.25 at 16 transients a
    # frame), QC, blocks and the alignment's fixed-size tables: 1.41 when written; the
    # double-precision chain peaked at 8.1 copies of the session
    assert peak < 1.6 * size, f"peak {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB session"


def test_overwrite_data_works_in_the_callers_array_with_the_same_result(rng):
    data = _session(rng, n_transients=320)
    water = _water_ref(rng)
    kept = preprocess_session(data, water=water)
    given = preprocess_session(data.with_fids(data.fids.copy()), water=water, overwrite_data=True)
    own = data.with_fids(data.fids.copy())
    reused = preprocess_session(own, water=water, overwrite_data=True)
    assert np.shares_memory(reused.transients.fids, own.fids)
    assert not np.shares_memory(kept.transients.fids, data.fids)
    np.testing.assert_array_equal(given.frames.fids, kept.frames.fids)
    np.testing.assert_array_equal(given.transients.fids, kept.transients.fids)
