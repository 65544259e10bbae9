"""The linewidth (BOLD) nuisance of metabolite time courses.

A BOLD response narrows the lines during activation; a fit whose lineshape does not follow
exactly then reports a little more (or less) metabolite when the line is narrower. Putting the
frame linewidth in the design as a nuisance regressor (:func:`linewidth_correction`, or
``nuisance=('fwhm_hz',)`` in :func:`~mrspipe.dynamic.glm.glm_timecourses`) removes the part of
the time course that moves with the linewidth, so a narrowing line is not read as more
glutamate. Note the limit: if the linewidth follows the response regressor exactly, the two
cannot be separated and :func:`~mrspipe.design.check_design` refuses the design.

References
----------
Bednarik P et al. Neurochemical and BOLD responses during neuronal activation measured in the
human visual cortex at 7 Tesla. J Cereb Blood Flow Metab 2015. Zhu XH, Chen W. Observed BOLD
effects on cerebral metabolite resonances in human visual cortex during visual stimulation.
Magn Reson Med 2001.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .glm import GLMResult, fit_glm

__all__ = ["LinewidthCorrection", "linewidth_correction"]


@dataclass(frozen=True)
class LinewidthCorrection:
    """Result of :func:`linewidth_correction`.

    Attributes
    ----------
    corrected : (..., n_frames) float ndarray
        ``y`` minus ``slope * (linewidth - baseline mean linewidth)``.
    slope, slope_se, p_value : (...) float ndarray
        Change of ``y`` per Hz of linewidth (adjusted for the other regressors), its SE and the
        two-sided p-value of "no linewidth dependence".
    glm : GLMResult
        The joint fit (design plus the centred ``linewidth`` column).
    """

    corrected: np.ndarray
    slope: np.ndarray
    slope_se: np.ndarray
    p_value: np.ndarray
    glm: GLMResult


def linewidth_correction(
    y: np.ndarray,
    linewidth: np.ndarray,
    design: pd.DataFrame,
    *,
    sd: np.ndarray | None = None,
    baseline_mask: np.ndarray | None = None,
) -> LinewidthCorrection:
    """Test for and remove linewidth-correlated variance in time courses.

    The linewidth (e.g. ``fwhm_hz`` of each frame) is added, centred on its baseline mean, to
    ``design`` and fitted jointly with the response regressors, so its slope is not confounded
    with the response; the fitted linewidth part is then subtracted from ``y``.

    Parameters
    ----------
    y : (..., n_frames) float array
    linewidth : (n_frames,) float array, Hz
    design : DataFrame, (n_frames, p)
        The response design without the linewidth (e.g. intercept + ramp + drift).
    sd : (..., n_frames) float array, optional
        CRLBs for weighting, as in :func:`fit_glm`.
    baseline_mask : (n_frames,) bool array, optional
        Frames whose mean linewidth is the reference (default: all frames).

    Returns
    -------
    LinewidthCorrection
    """
    lw = np.asarray(linewidth, dtype=float)
    if lw.shape != (design.shape[0],):
        raise ConfigError(f"linewidth has shape {lw.shape}, expected ({design.shape[0]},)")
    if "linewidth" in design.columns:
        raise ConfigError("design already has a 'linewidth' column")
    mask = np.ones(lw.size, bool) if baseline_mask is None else np.asarray(baseline_mask, bool)
    centred = lw - lw[mask].mean()
    full = design.assign(linewidth=centred)
    res = fit_glm(y, full, sd=sd)
    j = res.names.index("linewidth")
    slope = res.beta[..., j]
    corrected = np.asarray(y, dtype=float) - slope[..., None] * centred
    return LinewidthCorrection(
        corrected=corrected,
        slope=slope,
        slope_se=res.se[..., j],
        p_value=res.p_value[..., j],
        glm=res,
    )
