"""The preprocessing QC figure: drift, phase, SNR and linewidth against time; spectra.

Matplotlib is imported inside the function with the Agg backend, so importing this module is
cheap and needs no display.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["plot_preprocess_qc"]

_KNOWN = frozenset(
    "transient time_s shift_hz phase_rad snr fwhm_hz rejected reason residual_z".split()
)


def _spectrum(fid: np.ndarray) -> np.ndarray:
    return np.fft.fftshift(np.fft.fft(fid, axis=-1), axes=-1)


def plot_preprocess_qc(
    qc: dict[str, np.ndarray],
    *,
    ppm: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    path: str | os.PathLike[str],
    title: str | None = None,
    ppm_range: tuple[float, float] = (0.5, 4.5),
) -> Path:
    """Draw the per-transient QC traces and the average spectrum before and after.

    Parameters
    ----------
    qc : dict of str to (n,) ndarray
        The per-transient QC table of :func:`mrspipe.preprocess.preprocess_session`
        (``time_s, shift_hz, phase_rad, snr, fwhm_hz, rejected``).
    ppm : (n_points,) float ndarray, ppm
    before, after : (..., n_points) complex ndarray
        Average FIDs before and after preprocessing (extra leading axes: the first index of
        each is drawn).
    path : str or path-like
        PNG written (the folder must exist).
    title : str, optional
    ppm_range : (float, float), ppm
        Spectral range drawn.

    Returns
    -------
    Path
        The file written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time = np.asarray(qc["time_s"], float)
    rejected = np.asarray(qc["rejected"], bool)
    # other leading axes (e.g. b-values) are separate series: one colour each
    extra = [k for k in qc if k not in _KNOWN]
    series = np.zeros(time.size, int)
    for key in extra:
        series = series * (int(np.max(qc[key])) + 1) + np.asarray(qc[key], int)
    n_series = int(series.max()) + 1
    traces = (
        ("shift_hz", "frequency drift (Hz)"),
        ("phase_rad", "phase (rad)"),
        ("snr", "SNR (NAA)"),
        ("fwhm_hz", "FWHM (Hz)"),
    )
    fig = plt.figure(figsize=(11, 8), layout="constrained")
    grid = fig.add_gridspec(3, 2)
    for i, (key, label) in enumerate(traces):
        ax = fig.add_subplot(grid[i // 2, i % 2])
        values = np.asarray(qc[key], float)
        if n_series == 1:
            ax.plot(
                time[~rejected], values[~rejected], ".", ms=3, color="tab:blue", label="accepted"
            )
        else:
            ax.scatter(
                time[~rejected],
                values[~rejected],
                s=5,
                c=series[~rejected],
                cmap="viridis",
                vmin=0,
                vmax=n_series - 1,
                label=f"accepted ({n_series} series, colour)",
            )
        if rejected.any():
            ax.plot(
                time[rejected],
                values[rejected],
                "x",
                ms=5,
                color="tab:red",
                label=f"rejected ({int(rejected.sum())})",
            )
        good = values[~rejected & np.isfinite(values)]
        if good.size:  # scale to the accepted transients; far outliers would flatten them
            lo, hi = good.min(), good.max()
            pad = 0.08 * (hi - lo) if hi > lo else 1.0
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(loc="best", fontsize=8)
    ax = fig.add_subplot(grid[2, :])
    b = np.asarray(before).reshape(-1, np.shape(before)[-1])[0]
    a = np.asarray(after).reshape(-1, np.shape(after)[-1])[0]
    p_lo, p_hi = sorted(ppm_range)
    keep = (ppm >= p_lo) & (ppm <= p_hi)
    sb, sa = _spectrum(b).real, _spectrum(a).real
    scale = np.abs(sa[keep]).max() or 1.0
    ax.plot(ppm[keep], sb[keep] / scale, color="0.6", lw=1, label="before (mean of raw)")
    ax.plot(ppm[keep], sa[keep] / scale, color="tab:blue", lw=1.2, label="after (mean of accepted)")
    ax.set_xlim(p_hi, p_lo)
    ax.set_xlabel("chemical shift (ppm)")
    ax.set_ylabel("real spectrum (scaled)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    from ..io._atomic import atomic_path

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return path
