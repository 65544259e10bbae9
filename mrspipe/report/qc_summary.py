"""QC summary figure: SNR, linewidth, frequency drift and rejected transients per session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .figures import condition_colours, new_figure, style

__all__ = ["plot_qc_summary", "qc_plot_table"]

#: (column, axis label with unit) of each panel
_PANELS = (
    ("snr_median", "SNR (median)"),
    ("fwhm_hz_median", "linewidth FWHM (Hz)"),
    ("shift_hz_range", "frequency drift\nrange (Hz)"),
    ("rejected_percent", "rejected\ntransients (%)"),
)


def qc_plot_table(sessions_qc: Any) -> Any:
    """Session QC sorted by participant and session, with ``label`` and ``rejected_percent``.

    ``rejected_percent = 100 * n_rejected / n_transients`` (NaN when ``n_transients`` is 0 or
    missing); ``failed`` is True where ``status == 'failed'``.
    """
    qc = sessions_qc.copy()
    qc = qc.sort_values(["participant_id", "session_id"], ignore_index=True)
    qc["label"] = qc["participant_id"].astype(str) + " " + qc["session_id"].astype(str)
    if {"n_transients", "n_rejected"} <= set(qc.columns):
        n_tr = qc["n_transients"].astype(float)
        qc["rejected_percent"] = 100.0 * qc["n_rejected"].astype(float) / n_tr.where(n_tr > 0)
    else:
        qc["rejected_percent"] = np.nan
    status = qc["status"].astype(str) if "status" in qc else "ok"
    qc["failed"] = status == "failed"
    return qc


def plot_qc_summary(sessions_qc: Any, *, conditions: Sequence[str]) -> Any:
    """Bar charts of the per-session QC: SNR, linewidth, drift and rejected transients.

    Parameters
    ----------
    sessions_qc : pandas.DataFrame
        One row per session (``participant_id, session_id, condition, n_transients,
        n_rejected, snr_median, fwhm_hz_median, shift_hz_range, status``).
    conditions : sequence of str
        Conditions, for the bar colours.

    Returns
    -------
    matplotlib.figure.Figure
        Four panels sharing the session axis; failed sessions are marked with a red ✕.
    """
    qc = qc_plot_table(sessions_qc)
    colours = condition_colours(list(conditions))
    n = max(len(qc), 1)
    fig, axes = new_figure(len(_PANELS), 1, width=max(6.0, 0.22 * n + 2.0), height=6.2)
    x = np.arange(len(qc), dtype=float)
    conds = qc["condition"] if "condition" in qc else [None] * len(qc)
    bar_colours = [
        "#DDDDDD" if bad else colours.get(c, "#999999")
        for c, bad in zip(conds, qc["failed"], strict=True)
    ]
    with style():
        for ax, (col, label) in zip(axes[:, 0], _PANELS, strict=True):
            values = qc[col].astype(float).to_numpy() if col in qc else np.full(len(qc), np.nan)
            _bars(ax, x, np.nan_to_num(values), bar_colours)
            failed = qc["failed"].to_numpy(dtype=bool)
            if failed.any():
                ax.scatter(
                    x[failed],
                    np.zeros(failed.sum()),
                    marker="x",
                    color="#CC0000",
                    s=40,
                    zorder=3,
                    clip_on=False,
                )
            ax.set_ylabel(label)
            ax.grid(axis="x", visible=False)
            ax.set_xlim(-0.6, n - 0.4)
            ax.set_xticks([])  # the sessions are named once, under the bottom panel
        bottom = axes[-1, 0]
        bottom.set_xticks(x, qc["label"].tolist(), rotation=90, fontsize=7)
        handles = [_patch(colours[c], c) for c in conditions if c in set(qc.get("condition", []))]
        if qc["failed"].any():
            from matplotlib.lines import Line2D

            handles.append(Line2D([], [], marker="x", color="#CC0000", ls="", label="failed"))
        if handles:
            axes[0, 0].legend(
                handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False
            )
        fig.suptitle("Data quality per session")
    return fig


def _bars(ax: Any, x: np.ndarray, heights: np.ndarray, colours: list[str]) -> None:
    """Bars of width 0.8 centred on ``x``, from 0: one artist (``ax.bar`` makes one per bar)."""
    from matplotlib.collections import PolyCollection

    lo, hi = x - 0.4, x + 0.4
    zero = np.zeros_like(heights)
    corners = np.stack(
        [np.c_[lo, zero], np.c_[lo, heights], np.c_[hi, heights], np.c_[hi, zero]], 1
    )
    bars = PolyCollection(list(corners), facecolors=colours, edgecolors="none", linewidths=0)
    bars.sticky_edges.y.append(0.0)  # as ax.bar: the axis starts at 0, without a margin
    ax.add_collection(bars, autolim=True)
    ax.autoscale_view()


def _patch(colour: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(color=colour, label=label)
