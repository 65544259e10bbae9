"""Mean time courses (% change from baseline) by condition, one panel per sex plus all."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .figures import (
    INFUSION_COLOUR,
    SEX_LABELS,
    WINDOW_COLOURS,
    condition_colours,
    new_figure,
    style,
)
from .summaries import ALL

__all__ = ["plot_timecourses", "panel_order"]


def panel_order(panels: Sequence[str]) -> list[str]:
    """``'all'`` first, then the sexes present (F, M, then any other label)."""
    present = [str(p) for p in dict.fromkeys(panels)]
    rest = sorted(p for p in present if p != ALL)
    return ([ALL] if ALL in present else []) + rest


def _mark_windows(
    ax: Any,
    windows: dict[str, tuple[float, float]],
    infusion: tuple[float, float] | None,
    t_range: tuple[float, float],
) -> None:
    """Shade the infusion, mark the onset and draw the windows as bars along the top."""
    ax.axvline(0.0, color="#333333", lw=0.9, ls="--", zorder=1)
    if infusion is not None:
        ax.axvspan(*infusion, color=INFUSION_COLOUR, alpha=0.25, lw=0, zorder=0, label="infusion")
    trans = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for level, (name, (start, end)) in enumerate(windows.items()):
        lo = max(start, t_range[0]) if math.isfinite(start) else t_range[0]
        hi = min(end, t_range[1]) if math.isfinite(end) else t_range[1]
        if hi <= lo:
            continue
        y = 0.93 - 0.09 * level
        colour = WINDOW_COLOURS.get(name, "#555555")
        ax.plot([lo, hi], [y, y], transform=trans, color=colour, lw=3, solid_capstyle="butt")
        ax.text(
            lo, y + 0.012, name, transform=trans, ha="left", va="bottom", fontsize=8, color=colour
        )


def plot_timecourses(
    summary: Any,
    *,
    metabolite: str,
    conditions: Sequence[str],
    windows: dict[str, tuple[float, float]],
    infusion: tuple[float, float] | None = None,
    time_unit: str = "min",
) -> Any:
    """Mean % change from baseline ± SEM by condition; one panel per sex plus all.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`mrspipe.report.summaries.timecourse_summary` (``panel, condition,
        metabolite, time_s, mean, sem, n``).
    metabolite : str
        Metabolite to draw.
    conditions : sequence of str
        Conditions, in legend order; colours from :func:`condition_colours`.
    windows : dict
        ``{'baseline': (start, end), 'response': (start, end)}`` in s relative to the onset;
        drawn as labelled bars (open ends are clipped to the data).
    infusion : (float, float), optional, s
        Infusion period, shaded (clipped to the time range of the data, which sets the x
        axis).
    time_unit : {'min', 's'}
        Unit of the x axis (the data stay in s).

    Returns
    -------
    matplotlib.figure.Figure
    """
    scale = {"min": 60.0, "s": 1.0}[time_unit]
    data = summary[summary["metabolite"] == metabolite]
    panels = panel_order(data["panel"].unique()) or [ALL]
    colours = condition_colours(conditions)
    t_all = data["time_s"].to_numpy(dtype=float)
    t_range = (float(t_all.min()), float(t_all.max())) if t_all.size else (0.0, 1.0)
    # the panels are not shared axes: the limits are set on each below (a shared axis asks
    # every sibling for its tick labels at each layout and draw)
    fig, axes = new_figure(1, len(panels), width=3.6 * len(panels) + 1.4, height=3.4)
    with style():
        for ax, panel in zip(axes[0], panels, strict=True):
            scaled = {k: (w[0] / scale, w[1] / scale) for k, w in windows.items()}
            infusion_sc = None if infusion is None else (infusion[0] / scale, infusion[1] / scale)
            _mark_windows(ax, scaled, infusion_sc, (t_range[0] / scale, t_range[1] / scale))
            ax.axhline(0.0, color="#999999", lw=0.8, zorder=1)
            n_text = []
            for cond in conditions:
                d = data[(data["panel"] == panel) & (data["condition"] == cond)]
                if d.empty:
                    continue
                t = d["time_s"].to_numpy(dtype=float) / scale
                mean = d["mean"].to_numpy(dtype=float)
                sem = np.nan_to_num(d["sem"].to_numpy(dtype=float))
                ax.fill_between(t, mean - sem, mean + sem, color=colours[cond], alpha=0.25, lw=0)
                ax.plot(t, mean, color=colours[cond], lw=1.8, label=f"{cond}")
                n_text.append(f"{cond} n={int(d['n'].max())}")
            title = SEX_LABELS.get(panel, panel)
            ax.set_title(f"{title}\n({', '.join(n_text) or 'no data'})", fontsize=10)
            ax.set_xlabel(f"time from infusion onset ({time_unit})")
        # the x axis follows the data: an infusion (or an open window) running past the end of
        # the scan is clipped, not drawn as empty time
        pad = 0.03 * (t_range[1] - t_range[0]) or 1.0
        limits = [ax.get_ylim() for ax in axes[0]]  # one y scale for every panel
        lo, hi = min(v[0] for v in limits), max(v[1] for v in limits)
        for ax in axes[0]:
            ax.set_xlim((t_range[0] - pad) / scale, (t_range[1] + pad) / scale)
            ax.set_ylim(lo, hi + 0.25 * (hi - lo))  # headroom for the window bars
        for ax in axes[0, 1:]:
            ax.tick_params(labelleft=False)
        axes[0, 0].set_ylabel(f"{metabolite}: change from baseline (%)")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside right upper", frameon=False)
        fig.suptitle(f"{metabolite} time course, mean ± SEM across participants")
    return fig
