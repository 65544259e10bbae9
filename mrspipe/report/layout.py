"""A one-pass layout for the report's figures: margins from measured text extents.

Matplotlib's constrained layout solves the margins iteratively and measures every axes'
decorations twice per solve (about 40 % of a time-course figure's CPU). The report's figures
are one grid of subplots plus a suptitle and figure legends, so one measurement is enough:

1. the tick locations are fixed at the values the axes' locators give now, so the tick labels
   measured are the ones drawn (a locator would otherwise pick other ticks for the new axes
   size, with labels of another width);
2. every axes' tight bounding box (tick labels, axis labels, titles, legends, texts outside the
   axes) is measured once with the renderer of the final resolution;
3. the outer margins and the gaps between rows and columns are the largest overhang of the
   axes beside them plus a pad; the suptitle takes the top, the figure legends the right;
4. if the longest strings leave the axes less than :data:`MIN_AXES_IN`, or shorter than a
   label or title centred on them, the figure is widened (or made taller), so long user
   strings (conditions, metabolites, participants) are never cut at the figure's edge.

Matplotlib is imported inside the functions, never at module import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MarginLayoutEngine", "MIN_AXES_IN", "PAD_PT"]

#: the pad around the figure's edge and between neighbouring decorations, points
PAD_PT = 5.0
#: the smallest axes size the layout leaves, inches (the figure grows instead)
MIN_AXES_IN = 1.2


def _engine_base() -> type:
    from matplotlib.layout_engine import LayoutEngine

    return LayoutEngine


class MarginLayoutEngine(_engine_base()):  # type: ignore[misc]
    """Layout engine that sets the subplot parameters from one measurement of the text.

    Handles figures whose axes all come from one :class:`~matplotlib.gridspec.GridSpec`
    (``Figure.subplots``), a suptitle and figure legends (placed at the top right, outside
    the axes). Other figures are left as they are.
    """

    _adjust_compatible = True
    _colorbar_gridspec = True

    def execute(self, fig: Any) -> None:
        """Lay ``fig`` out: set its subplot parameters (and grow it if it must)."""
        axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_subplotspec() is not None]
        if not axes:
            return
        grid = axes[0].get_subplotspec().get_gridspec()
        if any(ax.get_subplotspec().get_gridspec() is not grid for ax in axes):
            return
        for ax in axes:
            _freeze_ticks(ax)
        renderer = fig.canvas.get_renderer()
        pad = PAD_PT * fig.dpi / 72.0
        nrows, ncols = grid.get_geometry()
        # overhang of each axes' decorations beyond its edges, pixels: (left, right, bottom, top)
        left, right = [0.0] * ncols, [0.0] * ncols
        bottom, top = [0.0] * nrows, [0.0] * nrows
        # texts centred on an axes (x label, title; y label) overhang it by half their excess
        # length, which grows as the axes shrinks: the axes is made at least as long instead
        span_w = span_h = MIN_AXES_IN * fig.dpi
        for ax in axes:
            for text in (ax.xaxis.label, ax.title):
                span_w = max(span_w, _extent(text, renderer)[0])
            span_h = max(span_h, _extent(ax.yaxis.label, renderer)[1])
        for ax in axes:
            box, tight = ax.bbox, ax.get_tightbbox(renderer)
            spec = ax.get_subplotspec()
            rows, cols = spec.rowspan, spec.colspan
            if tight is None:
                continue
            left[cols.start] = max(left[cols.start], box.x0 - tight.x0)
            right[cols.stop - 1] = max(right[cols.stop - 1], tight.x1 - box.x1)
            top[rows.start] = max(top[rows.start], tight.y1 - box.y1)
            bottom[rows.stop - 1] = max(bottom[rows.stop - 1], box.y0 - tight.y0)
        width, height = fig.bbox.width, fig.bbox.height
        need_w = fig_top = fig_right = 0.0
        title = getattr(fig, "_suptitle", None)
        if title is not None and title.get_visible() and title.get_text():
            extent = title.get_window_extent(renderer)
            fig_top = extent.height + pad
            need_w = max(need_w, extent.width + 2 * pad)
        legends = [leg for leg in fig.legends if leg.get_visible()]
        need_h = 0.0
        for leg in legends:  # a legend keeps borderaxespad from its anchor
            extent, gap = leg.get_window_extent(renderer), _legend_gap(leg)
            fig_right = max(fig_right, extent.width + gap + pad)
            need_h = max(need_h, extent.height + fig_top + gap + pad)
        gap_w = max((right[j] + left[j + 1] for j in range(ncols - 1)), default=0.0) + pad
        gap_h = max((bottom[i] + top[i + 1] for i in range(nrows - 1)), default=0.0) + pad
        outer_w = left[0] + right[-1] + fig_right + 2 * pad + (ncols - 1) * gap_w
        outer_h = top[0] + bottom[-1] + fig_top + 2 * pad + (nrows - 1) * gap_h
        # the smallest cell of a grid with width or height ratios is the shortest
        w_ratios, h_ratios = grid.get_width_ratios(), grid.get_height_ratios()
        w_scale = sum(w_ratios) / (ncols * min(w_ratios)) if w_ratios else 1.0
        h_scale = sum(h_ratios) / (nrows * min(h_ratios)) if h_ratios else 1.0
        need_w = max(need_w, outer_w + ncols * span_w * w_scale)
        need_h = max(need_h, outer_h + nrows * span_h * h_scale)
        if need_w > width or need_h > height:  # long strings: a larger figure, nothing cut
            fig.set_size_inches(max(width, need_w) / fig.dpi, max(height, need_h) / fig.dpi)
            width, height = fig.bbox.width, fig.bbox.height
        cell_w = (width - outer_w) / ncols
        cell_h = (height - outer_h) / nrows
        fig.subplots_adjust(
            left=(left[0] + pad) / width,
            right=1.0 - (right[-1] + fig_right + pad) / width,
            bottom=(bottom[-1] + pad) / height,
            top=1.0 - (top[0] + fig_top + pad) / height,
            wspace=gap_w / cell_w,
            hspace=gap_h / cell_h,
        )
        if title is not None:
            title.set_y(1.0 - pad / height)
            title.set_verticalalignment("top")
        for leg in legends:  # at the top right, beside the axes
            leg.set_bbox_to_anchor((1.0, 1.0 - fig_top / height))
            leg.set_loc("upper right")


def _legend_gap(legend: Any) -> float:
    """Return the space a legend keeps from its anchor (``borderaxespad``), pixels."""
    points = legend.borderaxespad * legend.prop.get_size_in_points()
    return float(points * legend.figure.dpi / 72.0)


def _extent(text: Any, renderer: Any) -> tuple[float, float]:
    """Return the width and height of a visible, non-empty text, pixels (0 otherwise)."""
    if not (text.get_visible() and text.get_text()):
        return 0.0, 0.0
    box = text.get_window_extent(renderer)
    return box.width, box.height


def _freeze_ticks(ax: Any) -> None:
    """Fix each axis' major ticks at the values its locator gives now, in the view."""
    from matplotlib.ticker import FixedLocator

    for axis in (ax.xaxis, ax.yaxis):
        if isinstance(axis.get_major_locator(), FixedLocator):
            continue
        # only the ticks inside the view: an axis makes a tick (five artists) per location
        lo, hi = sorted(axis.get_view_interval())
        tol = 1e-9 * (hi - lo)
        locs = [v for v in axis.get_majorticklocs() if lo - tol <= v <= hi + tol]
        axis.set_major_locator(FixedLocator(locs))
