"""Shared figure style for the report: colours, fonts, and PNG rendering.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, so no global
figure state and no GUI backend), laid out in one pass from measured text extents
(:class:`mrspipe.report.layout.MarginLayoutEngine`) and rendered with the Agg canvas.
Matplotlib is imported inside the functions, never at module import.

The topic modules draw the figures:

* :mod:`mrspipe.report.timecourse_figures`: mean % change time courses by condition and sex;
* :mod:`mrspipe.report.group_figures`: per-participant paired responses and the forest plot;
* :mod:`mrspipe.report.qc_summary`: SNR, linewidth and rejected transients per session.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["condition_colours", "SEX_COLOURS", "SEX_LABELS", "new_figure", "to_png", "style"]

#: colour-blind safe (Okabe-Ito) colours given to conditions in report order
_CONDITION_PALETTE = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
#: fixed colours for well-known condition names, so every study draws them alike
_KNOWN_CONDITIONS = {"naltrexone": "#D55E00", "placebo": "#0072B2"}
SEX_COLOURS = {"F": "#AA3377", "M": "#228833", "all": "#444444"}
SEX_LABELS = {"F": "females", "M": "males", "all": "all participants"}
#: shading of the infusion period and colours of the windows
INFUSION_COLOUR = "#F0E442"
WINDOW_COLOURS = {"baseline": "#7F7F7F", "response": "#000000"}

_RC: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
    # user text (conditions, ids) is shown as typed, never parsed as mathtext ("$x$")
    "text.parse_math": False,
}


def condition_colours(conditions: Sequence[str]) -> dict[str, str]:
    """One colour per condition, stable for known names (naltrexone, placebo).

    Parameters
    ----------
    conditions : sequence of str
        Conditions in report order.

    Returns
    -------
    dict
        ``condition -> hex colour``.
    """
    colours: dict[str, str] = {}
    spare = iter(c for c in _CONDITION_PALETTE if c not in _KNOWN_CONDITIONS.values())
    for name in conditions:
        known = _KNOWN_CONDITIONS.get(str(name).lower())
        colours[name] = known if known and known not in colours.values() else next(spare, "#777")
    return colours


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Context in which the report's matplotlib style is active."""
    import matplotlib

    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        yield


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float, height: float, **kw: Any):  # noqa: ANN201
    """Create a :class:`~matplotlib.figure.Figure` with a grid of axes, in the report style.

    Parameters
    ----------
    nrows, ncols : int
        Grid of axes.
    width, height : float, inches
        Figure size.
    **kw
        Passed to :meth:`Figure.subplots` (e.g. ``sharey=True``).

    Returns
    -------
    (Figure, ndarray of Axes)
        The axes array is always 2-D ``(nrows, ncols)``.
    """
    from matplotlib.figure import Figure

    from .layout import MarginLayoutEngine

    with style():
        fig = Figure(figsize=(width, height), layout=MarginLayoutEngine())
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def to_png(fig: Any, *, dpi: float = 110) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas.

    The layout engine runs once, at the PNG's resolution, and is then frozen: ``savefig``
    would otherwise draw the whole figure once more only to run the layout. The figure is
    drawn once; an opaque figure is written as an RGB PNG with a fast zlib level (the default
    level took about as long as drawing the figure; the alpha channel is a quarter of the
    bytes to encode). The caller's figure keeps its dpi and layout engine.
    """
    import io

    import matplotlib
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    for text in _texts(fig):  # created outside style(): "$...$" in user text is literal
        text.set_parse_math(False)
    buf = io.BytesIO()
    engine, fig_dpi = fig.get_layout_engine(), fig.get_dpi()
    # no engine at all ("none" keeps a placeholder, for which savefig still draws)
    no_auto: dict[str, Any] = {"figure.autolayout": False, "figure.constrained_layout.use": False}
    with style():
        try:
            fig.set_dpi(dpi)
            if engine is not None:
                engine.execute(fig)
                with matplotlib.rc_context(no_auto):  # type: ignore[arg-type]
                    fig.set_layout_engine(None)
            canvas.draw()
            rgba = np.asarray(canvas.buffer_rgba())
            opaque = bool(rgba[..., 3].min() == 255)
            pixels = np.ascontiguousarray(rgba[..., :3]) if opaque else rgba
            Image.fromarray(pixels).save(buf, format="png", compress_level=1, dpi=(dpi, dpi))
        finally:  # the caller's figure is left as it came
            fig.set_dpi(fig_dpi)
            if engine is not None:
                fig.set_layout_engine(engine)
    return buf.getvalue()


def _texts(fig: Any) -> Iterator[Any]:
    """Every text artist of ``fig`` that exists now.

    Like ``fig.findobj(Text)`` without asking each axis for its ticks (which makes the axis
    compute and create them: about a tenth of a group figure's CPU). Ticks made later copy
    the first tick's text properties.
    """
    from matplotlib.axis import Axis
    from matplotlib.text import Text

    stack = [fig]
    while stack:
        artist = stack.pop()
        if isinstance(artist, Text):
            yield artist
        if isinstance(artist, Axis):
            children = [artist.label, artist.offsetText]
            for tick in [*artist.majorTicks, *artist.minorTicks]:
                children += [tick.label1, tick.label2]
        else:
            children = artist.get_children()
        stack.extend(children)
