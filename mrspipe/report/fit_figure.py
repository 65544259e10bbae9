"""Fit figure of one source: data, fit, baseline, residual, and the main components below."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io._atomic import atomic_path

__all__ = ["plot_fit", "component_weights", "MAIN_COMPONENTS"]

#: components drawn under the spectrum: label -> names tried in order (a sum, else one
#: metabolite); ``MM`` is every macromolecule/lipid basis spectrum together
MAIN_COMPONENTS: dict[str, tuple[str, ...]] = {
    "Glu": ("Glu",),
    "Gln": ("Gln",),
    "NAA": ("tNAA", "NAA"),
    "Cr": ("tCr", "Cr"),
    "MM": (),
}
_MM_PREFIXES = ("mm", "mac", "lip")
_COMPONENT_COLOURS = {
    "Glu": "#D55E00",
    "Gln": "#E69F00",
    "NAA": "#0072B2",
    "Cr": "#009E73",
    "MM": "#777777",
}


def component_weights(result: Any) -> list[tuple[str, np.ndarray]]:
    """Weights ``(n_met,)`` of each main component present in the fit, with its label.

    ``NAA`` and ``Cr`` use the sums ``tNAA`` / ``tCr`` when the basis has them (the label then
    says so); ``MM`` sums every basis spectrum whose name starts with MM, Mac or Lip.
    """
    out = []
    for label, names in MAIN_COMPONENTS.items():
        if label == "MM":
            w = np.array([n.lower().startswith(_MM_PREFIXES) for n in result.names], dtype=float)
            if w.any():
                out.append(("MM", w))
            continue
        for name in names:
            try:
                w = np.asarray(result.weights_for(name), dtype=float)
            except KeyError:
                continue
            out.append((name if name != label else label, w))
            break
    return out


def _frame_fit(result: Any) -> Any:
    """Return the frame-wise FitResult behind ``result`` (a dynamic fit: its start fit)."""
    if dataclasses.is_dataclass(result) and any(
        f.name == "estimates" for f in dataclasses.fields(result)
    ):
        return result
    inner = getattr(getattr(result, "result", None), "frame_fit", None)
    return result if inner is None else inner


def _component(result: Any, weights: np.ndarray) -> Any | None:
    """Return the fit with only the weighted metabolites (None when it cannot be copied)."""
    try:
        return dataclasses.replace(result, estimates=result.estimates * weights[None, :])
    except (TypeError, ValueError):
        return None


def plot_fit(
    result: Any,
    path: str | os.PathLike[str],
    *,
    frames: np.ndarray | slice | None = None,
    title: str | None = None,
    dpi: int = 110,
) -> Path:
    """Plot the fit of a :class:`~mrspipe.fit.FitResult` and save it as a PNG.

    The spectra (real part, phase-corrected with the fitted zero- and first-order phase) are
    averaged over the selected frames that converged: data (black, on top), fit including
    baseline (red, under it), baseline (blue) and the residual offset above. Below, offset
    one under the other on the same scale, the fitted main components (Glu, Gln, tNAA, tCr
    and the macromolecules, those the basis has), what a reader checks before trusting a
    glutamate estimate. The ppm axis runs from high to low.

    Parameters
    ----------
    result : FitResult
    path : str or path-like
        Output ``.png`` (written atomically).
    frames : index array or slice, optional
        Frames to average (default: all converged frames).
    title : str, optional
        Drawn as typed (never parsed as mathtext).
    dpi : int

    Returns
    -------
    Path
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .figures import style

    result = _frame_fit(result)
    rows = np.arange(result.n_frames)[frames if frames is not None else slice(None)]
    rows = rows[result.converged[rows]]
    band = result.fit_band
    ppm = result.ppm[band]
    comps = component_weights(result)
    if rows.size:
        freq = np.fft.fftshift(np.fft.fftfreq(len(result.ppm), result._dwell_time))[band]
        phase = np.exp(
            -1j
            * (
                result.params["phase0"][rows, None]
                + 2 * np.pi * freq * result.params["phase1"][rows, None]
            )
        )

        def real_mean(spectra: np.ndarray) -> np.ndarray:
            return np.asarray((spectra[rows][:, band] * phase).real.mean(axis=0))

        data = real_mean(result.data_spectra())
        baseline = result.baseline_spectra()
        base = real_mean(baseline)
        parts = []
        if hasattr(result, "summed_component_fids"):  # the model and every component at once
            # the phase removed from each frame is the one its model was fitted with, so the
            # frames' model FIDs are summed before one FFT per component
            weights = np.array([np.ones(len(result.names))] + [w for _, w in comps])
            total = result.summed_component_fids(weights, rows)
            spectra = np.fft.fftshift(np.fft.fft(total, axis=-1), axes=-1)[:, band]
            means = spectra.real / rows.size
            model = means[0] + base
            parts = [(label, m) for (label, _), m in zip(comps, means[1:], strict=True)]
        else:
            model = real_mean(result.model_spectra())
            for label, w in comps:
                only = _component(result, w)
                if only is not None:
                    parts.append((label, real_mean(only.model_spectra(baseline=False))))
    else:
        data = model = base = np.full(band.size, np.nan)
        parts = []
    resid = data - model
    finite = np.isfinite(data).any()
    span = float(np.nanmax(data) - np.nanmin(data)) if finite else 1.0
    span = span or 1.0
    with style():
        height = 5.0 + 0.6 * len(parts)
        fig = Figure(figsize=(8.0, height))  # fixed margins: a layout engine costs ~0.1 s
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.5 / height, top=1 - 0.35 / height)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        top = float(np.nanmax(data)) if finite else 0.0
        ax.plot(ppm, resid + top + 0.15 * span, color="0.35", lw=0.8, label="residual (offset)")
        ax.plot(ppm, model, color="#CC0000", lw=1.8, alpha=0.8, label="fit", zorder=2)
        ax.plot(ppm, data, color="black", lw=0.8, label="data", zorder=3)
        ax.plot(ppm, base, color="#0072B2", lw=1.0, label="baseline", zorder=2)
        # components stacked below the spectrum, each under the previous one, same scale
        gap = 0.06 * span
        cursor = (float(np.nanmin(data)) if finite else 0.0) - gap
        for label, spec in parts:
            hi = float(np.nanmax(spec)) if np.isfinite(spec).any() else 0.0
            lo = float(np.nanmin(spec)) if np.isfinite(spec).any() else 0.0
            offset = cursor - hi
            cursor = offset + lo - gap
            colour = _COMPONENT_COLOURS.get(label.lstrip("t"), "#555555")
            ax.plot(ppm, spec + offset, color=colour, lw=1.0)
            ax.text(
                ppm.max(),
                offset,
                f" {label}",
                color=colour,
                ha="right",
                va="bottom",
                fontsize=8,
            )
        ax.set_xlim(ppm.max(), ppm.min())
        ax.set_xlabel("chemical shift (ppm)")
        ax.set_yticks([])
        ax.grid(False)
        ax.legend(loc="upper right", frameon=False, fontsize=8, ncols=4)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        n_conv = int(rows.size)
        label = f"{n_conv} frame{'s' if n_conv != 1 else ''} averaged"
        ax.set_title(f"{title} ({label})" if title else label, fontsize=10)
        path = Path(path)
        with atomic_path(path) as tmp:
            _save_png(fig, tmp, dpi)
    return path


def _save_png(fig: Any, path: Path, dpi: float) -> None:
    """Draw ``fig`` at ``dpi`` and write it as an RGB PNG (fast zlib level).

    The figure is opaque, so its alpha channel is dropped: a quarter less to encode than
    ``savefig``'s RGBA, the same pixels.
    """
    from PIL import Image

    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    Image.fromarray(np.ascontiguousarray(rgba[..., :3])).save(
        path, format="png", compress_level=1, dpi=(dpi, dpi)
    )
