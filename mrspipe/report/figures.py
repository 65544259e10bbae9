"""Shared figure style for the report: colours, fonts, and PNG rendering.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, so no global
figure state and no GUI backend) and rendered with the Agg canvas. Matplotlib is imported
inside the functions, never at module import.

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

    with style():
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def to_png(fig: Any, *, dpi: float = 110) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas."""
    import io

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(fig)
    for text in fig.findobj(Text):  # created outside style(): "$...$" in user text is literal
        text.set_parse_math(False)
    buf = io.BytesIO()
    engine, fig_dpi = fig.get_layout_engine(), fig.get_dpi()
    with style():
        try:
            if engine is not None:
                # lay the figure out once, at the PNG's resolution, and freeze it: savefig
                # would otherwise draw the whole figure once more only to run the layout (~12 %
                # of the group figures' CPU); the PNG is byte for byte the same
                fig.set_dpi(dpi)
                engine.execute(fig)
                # no engine at all ("none" keeps a placeholder, for which savefig still draws)
                no_auto: dict[str, Any] = {
                    "figure.autolayout": False,
                    "figure.constrained_layout.use": False,
                }
                with matplotlib.rc_context(no_auto):  # type: ignore[arg-type]
                    fig.set_layout_engine(None)
            # fast zlib level: the default one took about as long as drawing the figure
            fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})
        finally:  # the caller's figure is left as it came
            fig.set_dpi(fig_dpi)
            if engine is not None:
                fig.set_layout_engine(engine)
    return buf.getvalue()
