"""Group figures: per-participant paired responses and the forest plot of the contrasts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .figures import SEX_COLOURS, SEX_LABELS, condition_colours, new_figure, style

__all__ = ["plot_paired_responses", "plot_forest", "format_p", "plot_answer"]


def format_p(p: Any) -> str:
    """Format a p-value as text: ``'p < 0.001'``, ``'p = 0.029'``, ``''`` when missing."""
    try:
        p = float(p)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(p):
        return ""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def plot_paired_responses(
    wide_by_metabolite: dict[str, Any], *, conditions: Sequence[str], ylabel: str
) -> Any:
    """Paired slope plot: each participant's response in two conditions, coloured by sex.

    Parameters
    ----------
    wide_by_metabolite : dict
        ``metabolite -> DataFrame`` from :func:`mrspipe.report.summaries.paired_responses`
        (``participant_id, sex, *conditions``).
    conditions : sequence of str
        The conditions on the x axis, in order.
    ylabel : str
        Label of the y axis (with unit), e.g. ``'response: change from baseline (%)'``.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per metabolite. Lines join a participant's conditions; participants with one
        condition only are drawn as lone dots; the condition means ± SEM are drawn beside.
    """
    names = list(wide_by_metabolite) or ["(none)"]
    fig, axes = new_figure(1, len(names), width=3.0 * len(names) + 0.8, height=3.6)
    x = np.arange(len(conditions), dtype=float)
    cond_colours = condition_colours(conditions)
    handles: dict[str, Any] = {}  # sex -> legend handle (first panel with that sex)
    with style():
        for ax, name in zip(axes[0], names, strict=True):
            wide = wide_by_metabolite.get(name)
            if wide is not None and len(wide):
                values = wide[list(conditions)].to_numpy(dtype=float)
                keys = [str(s) if s in SEX_COLOURS else "all" for s in wide["sex"]]
                for key in dict.fromkeys(keys):  # in order of appearance, as the legend
                    rows = values[np.asarray(keys) == key]
                    handles.setdefault(key, _participant_lines(ax, x, rows, SEX_COLOURS[key]))
                for i, cond in enumerate(conditions):
                    col = values[:, i]
                    col = col[np.isfinite(col)]
                    if col.size:
                        sem = col.std(ddof=1) / np.sqrt(col.size) if col.size > 1 else 0.0
                        ax.errorbar(
                            x[i] + 0.18 * (1 if i else -1),
                            col.mean(),
                            yerr=sem,
                            fmt="s",
                            ms=7,
                            color=cond_colours[cond],
                            capsize=4,
                            lw=2,
                        )
            ax.axhline(0.0, color="#999999", lw=0.8)
            ax.set_xticks(x, list(conditions))
            ax.set_xlim(-0.5, len(conditions) - 0.5)
            ax.set_title(name)
        axes[0, 0].set_ylabel(ylabel)
        if handles:
            labels = [SEX_LABELS[k] if k != "all" else "sex not recorded" for k in handles]
            axes[0, -1].legend(list(handles.values()), labels, loc="best", frameon=False)
        fig.suptitle("Per-participant responses (squares: condition mean ± SEM)")
    return fig


def _participant_lines(ax: Any, x: np.ndarray, rows: np.ndarray, colour: str) -> Any:
    """Draw a line per row of ``rows`` (participants x conditions) with dots: two artists in all.

    A NaN breaks its participant's line, so a participant with one condition is a lone dot.
    Returns a legend handle that looks like one participant's line.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    xs = np.broadcast_to(x, rows.shape)
    segments = list(np.stack([xs, rows], axis=-1))
    lines = LineCollection(segments, linewidths=1.0, colors=colour, alpha=0.7)
    ax.add_collection(lines, autolim=False)
    # the dots (one marker per participant and condition) set the data limits
    ax.plot(xs.ravel(), rows.ravel(), "o", ms=4, color=colour, alpha=0.7)
    return Line2D([], [], lw=1.0, marker="o", ms=4, color=colour, alpha=0.7)


def plot_forest(rows: Any, *, xlabel: str = "estimate (95 % CI)") -> Any:
    """Forest plot: one line per contrast with its confidence interval and p-value.

    Parameters
    ----------
    rows : pandas.DataFrame
        Output of :func:`mrspipe.report.summaries.forest_rows` (``label, estimate, ci_low,
        ci_high``, optional ``analysis, subgroup, p_value``).
    xlabel : str
        Label of the x axes (with unit).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per analysis (their estimates need not share a unit), rows top to bottom
        in table order, coloured by subgroup (sex), zero marked, p-values on the right.
    """
    if len(rows) == 0:
        fig, axes = new_figure(1, 1, width=7.5, height=1.5)
        with style():
            axes[0, 0].text(
                0.5,
                0.5,
                "no contrasts with confidence intervals",
                ha="center",
                va="center",
                transform=axes[0, 0].transAxes,
            )
            axes[0, 0].set_axis_off()
        return fig
    analysis = rows["analysis"].astype(str) if "analysis" in rows else None
    blocks = list(dict.fromkeys(analysis)) if analysis is not None else [""]
    counts = [int((analysis == b).sum()) if analysis is not None else len(rows) for b in blocks]
    fig, axes = new_figure(
        len(blocks),
        1,
        width=7.5,
        height=0.9 * len(blocks) + 0.3 * len(rows) + 0.4,
        gridspec_kw={"height_ratios": [c + 1.5 for c in counts]},
    )
    with style():
        for ax, block in zip(axes[:, 0], blocks, strict=True):
            sub = rows[analysis == block] if analysis is not None else rows
            _forest_panel(ax, sub)
            ax.set_xlabel(xlabel)
            ax.set_title(f"{block} analysis" if block else "contrasts", fontsize=10, loc="left")
        fig.suptitle("Contrasts with 95 % confidence intervals")
    return fig


def _forest_panel(ax: Any, rows: Any) -> None:
    y = np.arange(len(rows))[::-1].astype(float)
    est = rows["estimate"].to_numpy(dtype=float)
    lo = rows["ci_low"].to_numpy(dtype=float)
    hi = rows["ci_high"].to_numpy(dtype=float)
    groups = rows["subgroup"].astype(str) if "subgroup" in rows else ["all"] * len(rows)
    colours = [SEX_COLOURS.get(g, "#444444") for g in groups]
    ax.hlines(y, lo, hi, colors=colours, lw=2)
    ax.scatter(est, y, c=colours, s=30, zorder=3, marker="D")
    ax.axvline(0.0, color="#333333", lw=0.9, ls="--")
    labels = [" · ".join(str(v) for v in r) for r in _label_parts(rows)]
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.grid(axis="y", visible=False)
    p_values = rows["p_value"] if "p_value" in rows else [None] * len(rows)
    trans = ax.get_yaxis_transform()  # x in axes fraction, y in data
    for yi, p in zip(y, p_values, strict=True):
        ax.text(1.01, yi, format_p(p), transform=trans, va="center", fontsize=8)


def _label_parts(rows: Any) -> list[tuple[Any, ...]]:
    """Row labels without the analysis (it is the panel title)."""
    cols = [c for c in ("metabolite", "term", "subgroup") if c in rows]
    if not cols:
        return [(lab,) for lab in rows["label"]]
    return list(rows[cols].itertuples(index=False, name=None))


def plot_answer(answer: Any) -> Any:
    """Draw the answer in one compact figure: the contrast by subgroup and the interaction.

    Parameters
    ----------
    answer : mrspipe.report.answer.Answer
        Rows with ``role, subgroup, estimate, ci_low, ci_high, p_value``.

    Returns
    -------
    matplotlib.figure.Figure
        One line per answer row (estimate and 95 % CI, percentage points), zero marked,
        p-values at the right; rows coloured by sex.
    """
    from .answer import SUBGROUPS

    rows = [r for r in answer.rows if np.isfinite(r.estimate)]
    fig, axes = new_figure(1, 1, width=6.8, height=0.42 * max(len(rows), 1) + 1.0)
    ax = axes[0, 0]
    with style():
        y = np.arange(len(rows))[::-1].astype(float)
        for yi, r in zip(y, rows, strict=True):
            colour = SEX_COLOURS.get(r.subgroup, "#444444")
            if r.role in ("interaction", "sex_difference"):
                colour, label = "#000000", "interaction (M − F)"
                if r.role == "sex_difference":
                    label = "sex difference (M − F)"
            else:
                label = SUBGROUPS.get(r.subgroup, r.subgroup)
            if np.isfinite(r.ci_low) and np.isfinite(r.ci_high):
                ax.hlines(yi, r.ci_low, r.ci_high, color=colour, lw=2.2)
            ax.plot(r.estimate, yi, "D", color=colour, ms=6)
            ax.text(
                1.01,
                yi,
                format_p(r.p_value),
                transform=ax.get_yaxis_transform(),
                va="center",
                fontsize=8,
            )
            ax.annotate(
                label,
                (0, yi),
                xycoords=("axes fraction", "data"),
                xytext=(-6, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=9,
            )
        ax.set_yticks([])
        ax.axvline(0.0, color="#333333", lw=0.9, ls="--")
        ax.set_ylim(-0.7, max(len(rows), 1) - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(
            f"{answer.contrast_words}: difference in % change (percentage points, 95 % CI)"
        )
        ax.set_title(f"{answer.metabolite}", loc="left", fontsize=10)
    return fig
