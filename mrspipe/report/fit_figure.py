"""Fit figure of one source: data, fit, baseline and residual over the fitted range."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io._atomic import atomic_path

__all__ = ["plot_fit"]


def plot_fit(
    result,  # noqa: ANN001  (mrspipe.fit.FitResult; not imported to keep report light)
    path: str | os.PathLike[str],
    *,
    frames: np.ndarray | slice | None = None,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Plot the fit of a :class:`~mrspipe.fit.FitResult` and save it as a PNG.

    The spectra (real part, phase-corrected with the fitted zero- and first-order phase) are
    averaged over the selected frames that converged: data (grey), fit including baseline
    (red), baseline (blue), and the residual offset above the spectrum. The ppm axis runs from
    high to low, as is the custom.

    Parameters
    ----------
    result : FitResult
    path : str or path-like
        Output ``.png`` (written atomically).
    frames : index array or slice, optional
        Frames to average (default: all converged frames).
    title : str, optional
    dpi : int

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = np.arange(result.n_frames)[frames if frames is not None else slice(None)]
    rows = rows[result.converged[rows]]
    band = result.fit_band
    ppm = result.ppm[band]
    if rows.size:
        freq = np.fft.fftshift(np.fft.fftfreq(len(result.ppm), result._dwell_time))[band]
        phase = np.exp(
            -1j
            * (
                result.params["phase0"][rows, None]
                + 2 * np.pi * freq * result.params["phase1"][rows, None]
            )
        )
        data = (result.data_spectra()[rows][:, band] * phase).real.mean(axis=0)
        model = (result.model_spectra()[rows][:, band] * phase).real.mean(axis=0)
        base = (result.baseline_spectra()[rows][:, band] * phase).real.mean(axis=0)
    else:
        data = model = base = np.full(band.size, np.nan)
    resid = data - model
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(ppm, data, color="0.5", lw=1.0, label="data")
    ax.plot(ppm, model, color="tab:red", lw=1.2, label="fit")
    ax.plot(ppm, base, color="tab:blue", lw=1.0, label="baseline")
    span = np.nanmax(data) - np.nanmin(data) if np.isfinite(data).any() else 1.0
    offset = np.nanmax(data) + 0.15 * span if np.isfinite(data).any() else 0.0
    ax.plot(ppm, resid + offset, color="0.2", lw=0.8, label="residual (offset)")
    ax.set_xlim(ppm.max(), ppm.min())
    ax.set_xlabel("chemical shift (ppm)")
    ax.set_yticks([])
    ax.legend(loc="upper right", bbox_to_anchor=(1.0, 0.85), frameon=False, fontsize=8)
    n_conv = int(rows.size)
    label = f"{n_conv} frame{'s' if n_conv != 1 else ''} averaged"
    ax.set_title(f"{title} ({label})" if title else label)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path
