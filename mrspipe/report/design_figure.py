"""Design-efficiency figure of a dynamic (spectro-temporal) fit, drawn before fitting.

Left: every regressor against time (or frame). Right: the correlation matrix of the
regressors with the variance inflation factor of each (how much collinearity with the others
inflates the variance of its beta: 1 = none, above ~5-10 = hard to separate). Matplotlib is
imported inside the function (Figure + Agg canvas, no pyplot state).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_design"]


def plot_design(
    design: Any,
    *,
    path: str | os.PathLike[str],
    times: np.ndarray | None = None,
    title: str | None = None,
) -> Path:
    """Draw regressor traces, their correlation matrix and variance inflation factors.

    Parameters
    ----------
    design : pandas.DataFrame, (n_frames, n_regressors)
        Named regressors (e.g. :func:`mrspipe.dynamic.design_matrix`).
    path : str or path-like
        PNG written atomically (the folder must exist).
    times : (n_frames,) float ndarray, s, optional
        Frame times for the x axis (default: frame index).
    title : str, optional

    Returns
    -------
    Path
        The file written.
    """
    from ..fit.dynamic_design import variance_inflation
    from ..io._atomic import atomic_path
    from .figures import new_figure, style

    cols = [str(c) for c in design.columns]
    x = design.to_numpy(dtype=float)
    t = np.arange(len(x)) if times is None else np.asarray(times, dtype=float)
    vary = [c for c in cols if np.ptp(design[c].to_numpy(dtype=float)) > 0]
    vif = variance_inflation(design) if "intercept" in cols else None
    fig, axes = new_figure(1, 2, width=10.0, height=3.8)
    ax = axes[0, 0]
    for k, c in enumerate(cols):
        ax.plot(t, x[:, k], label=c, lw=1.5)
    ax.set_xlabel("time (s)" if times is not None else "frame")
    ax.set_ylabel("regressor value")
    ax.set_title("regressors")
    ax.legend(loc="best")
    ax = axes[0, 1]
    if len(vary) >= 2:
        corr = np.corrcoef(design[vary].to_numpy(dtype=float), rowvar=False)
    else:
        corr = np.ones((len(vary), len(vary)))
    image = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
    labels = [f"{c}\nVIF {vif[c]:.1f}" if vif is not None and c in vif.index else c for c in vary]
    ax.set_xticks(range(len(vary)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(vary)), vary)
    for i in range(len(vary)):
        for j in range(len(vary)):
            ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.grid(False)
    ax.set_title("correlation (VIF under the names)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path = Path(path)
    with style(), atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path
