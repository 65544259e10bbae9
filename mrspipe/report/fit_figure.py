"""Fit figure of one source: data, fit, baseline, residual, and the main components below."""

from __future__ import annotations

import dataclasses
import os
import threading
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
    top = float(np.nanmax(data)) if finite else 0.0
    curves = [resid + top + 0.15 * span, model, data, base]
    # components stacked below the spectrum, each under the previous one, same scale
    gap = 0.06 * span
    cursor = (float(np.nanmin(data)) if finite else 0.0) - gap
    stacked = []
    for label, spec in parts:
        hi = float(np.nanmax(spec)) if np.isfinite(spec).any() else 0.0
        lo = float(np.nanmin(spec)) if np.isfinite(spec).any() else 0.0
        offset = cursor - hi
        cursor = offset + lo - gap
        stacked.append((label, spec + offset, offset))
    n_conv = int(rows.size)
    label = f"{n_conv} frame{'s' if n_conv != 1 else ''} averaged"
    heading = f"{title} ({label})" if title else label
    path = Path(path)
    with _LOCK, atomic_path(path) as tmp:
        rgba = _draw(ppm, curves, stacked, heading, dpi)
        _write_png(rgba, tmp, dpi)
    return path


#: one drawn template per figure layout (process-wide; a lock for threaded workers)
_TEMPLATES: dict[tuple[Any, ...], _Template] = {}
_LOCK = threading.Lock()


@dataclasses.dataclass
class _Template:
    """A fit figure with every fixed part drawn once (axes, ppm ticks, label, legend).

    Each figure restores that background and draws only what changes on it: the curves,
    the component labels and the title (blitting), at about a third of the cost of drawing
    a new figure. The legend and the ppm axis lie under the curves instead of over them.
    """

    canvas: Any
    ax: Any
    background: Any
    curves: list[Any]
    parts: list[Any]
    labels: list[Any]


def _template(n_parts: int, xlim: tuple[float, float], dpi: float) -> _Template:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    key = (n_parts, xlim, dpi)
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    height = 5.0 + 0.6 * n_parts
    fig = Figure(figsize=(8.0, height), dpi=dpi)  # fixed margins: no layout engine
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.5 / height, top=1 - 0.35 / height)
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    curves = [
        ax.plot([], [], color="0.35", lw=0.8, label="residual (offset)")[0],
        ax.plot([], [], color="#CC0000", lw=1.8, alpha=0.8, label="fit", zorder=2)[0],
        ax.plot([], [], color="black", lw=0.8, label="data", zorder=3)[0],
        ax.plot([], [], color="#0072B2", lw=1.0, label="baseline", zorder=2)[0],
    ]
    parts = [ax.plot([], [], lw=1.0)[0] for _ in range(n_parts)]
    labels = [
        ax.text(xlim[0], 0.0, "", ha="right", va="bottom", fontsize=8) for _ in range(n_parts)
    ]
    ax.set_xlim(*xlim)
    ax.set_xlabel("chemical shift (ppm)")
    ax.set_yticks([])
    ax.grid(False)
    ax.legend(loc="upper right", frameon=False, fontsize=8, ncols=4)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(" ", fontsize=10, y=1.0)  # where it goes without top ticks (no auto move)
    changing = [*curves, *parts, *labels, ax.title]
    for artist in changing:
        artist.set_visible(False)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    for artist in changing:
        artist.set_visible(True)
    if len(_TEMPLATES) >= 4:
        _TEMPLATES.clear()
    _TEMPLATES[key] = _Template(canvas, ax, background, curves, parts, labels)
    return _TEMPLATES[key]


def _draw(
    ppm: np.ndarray,
    curves: list[np.ndarray],
    stacked: list[tuple[str, np.ndarray, float]],
    heading: str,
    dpi: float,
) -> np.ndarray:
    """Draw the figure on its template; return its pixels ``(height, width, 4)`` uint8."""
    from .figures import style

    with style():
        tpl = _template(len(stacked), (float(ppm.max()), float(ppm.min())), dpi)
        ax = tpl.ax
        tpl.canvas.restore_region(tpl.background)
        for line, y in zip(tpl.curves, curves, strict=True):
            line.set_data(ppm, y)
        for line, text, (label, y, offset) in zip(tpl.parts, tpl.labels, stacked, strict=True):
            colour = _COMPONENT_COLOURS.get(label.lstrip("t"), "#555555")
            line.set_data(ppm, y)
            line.set_color(colour)
            text.set_position((float(ppm.max()), offset))
            text.set_text(f" {label}")
            text.set_color(colour)
        # the limits autoscaling would give: every curve, with the axes' margins
        ys = np.concatenate([*curves, *(y for _, y, _ in stacked)])
        ys = ys[np.isfinite(ys)]
        if ys.size:
            lo, hi = float(ys.min()), float(ys.max())
            pad = ax.margins()[1] * (hi - lo) if hi > lo else 0.05 * max(abs(lo), 1.0)
            ax.set_ylim(lo - pad, hi + pad)
        else:
            ax.set_ylim(0.0, 1.0)
        ax.title.set_text(heading)
        # in the order a full draw takes them: by zorder, then as added
        changing = [*tpl.curves, *tpl.parts, *tpl.labels]
        for artist in sorted(changing, key=lambda a: a.get_zorder()):
            ax.draw_artist(artist)
        ax.draw_artist(ax.title)
        return np.asarray(tpl.canvas.buffer_rgba()).copy()


def _write_png(rgba: np.ndarray, path: Path, dpi: float) -> None:
    """Write drawn pixels as an RGB PNG (fast zlib level).

    The figure is opaque, so its alpha channel is dropped: a quarter less to encode than
    ``savefig``'s RGBA, the same pixels.
    """
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(rgba[..., :3])).save(
        path, format="png", compress_level=1, dpi=(dpi, dpi)
    )
