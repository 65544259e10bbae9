"""(Weighted) least-squares GLM on metabolite time courses, and the linewidth (BOLD) nuisance.

A BOLD response narrows the lines during activation; a fit whose lineshape does not follow
exactly then reports a little more (or less) metabolite when the line is narrower. Putting the
frame linewidth in the design as a nuisance regressor (:func:`linewidth_correction`, or
``nuisance=('fwhm_hz',)`` in :func:`glm_timecourses`) removes the part of the time course that
moves with the linewidth, so a narrowing line is not read as more glutamate. Note the limit: if
the linewidth follows the response regressor exactly, the two cannot be separated and
:func:`~mrspipe.design.check_design` refuses the design.

References
----------
Bednarik P et al. Neurochemical and BOLD responses during neuronal activation measured in the
human visual cortex at 7 Tesla. J Cereb Blood Flow Metab 2015. Zhu XH, Chen W. Observed BOLD
effects on cerebral metabolite resonances in human visual cortex during visual stimulation.
Magn Reson Med 2001.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..design import check_design, design_matrix
from ..errors import ConfigError

__all__ = ["GLMResult", "fit_glm", "glm_timecourses", "LinewidthCorrection", "linewidth_correction"]

_SCALES = {"residual": "t", "known": "z"}


@dataclass(frozen=True)
class GLMResult:
    """Result of :func:`fit_glm`; leading axes ``...`` are those of ``y`` without frames.

    Attributes
    ----------
    names : tuple of str
        Regressor names (design columns), ``p`` of them.
    beta, se, t, p_value : (..., p) float ndarray
        Estimates (units of ``y``), standard errors, t (or z) statistics, two-sided p-values.
    percent, percent_se : (..., p) float ndarray
        ``100 beta / beta_intercept`` (% of the baseline level) and its delta-method SE; ``NaN``
        when the design has no ``intercept``.
    covariance : (..., p, p) float ndarray
    df : (...) float ndarray
        Residual degrees of freedom (frames used minus regressors).
    sigma : (...) float ndarray
        Residual scale (weighted RMS residual, ``1`` when ``scale='known'`` is used as truth).
    """

    names: tuple[str, ...]
    beta: np.ndarray
    se: np.ndarray
    t: np.ndarray
    p_value: np.ndarray
    percent: np.ndarray
    percent_se: np.ndarray
    covariance: np.ndarray
    df: np.ndarray
    sigma: np.ndarray


def fit_glm(
    y: np.ndarray,
    design: pd.DataFrame,
    *,
    sd: np.ndarray | None = None,
    scale: str = "residual",
) -> GLMResult:
    """Fit ``y = X beta + e`` to every time course at once by (weighted) least squares.

    Parameters
    ----------
    y : (..., n_frames) float array
        Time courses (e.g. one row per metabolite); ``NaN`` frames are left out of that course.
    design : DataFrame, (n_frames, p)
        From :func:`~mrspipe.design.design_matrix` (named columns).
    sd : (..., n_frames) float array, optional
        Per-frame standard deviations (CRLBs); weights ``1 / sd**2``. Default: equal weights.
    scale : {'residual', 'known'}
        ``'residual'`` (default): the covariance is scaled by the weighted residual variance and
        tests use Student's t with ``df`` degrees of freedom (robust to CRLBs off by a factor).
        ``'known'``: ``sd`` is taken as the true noise level, tests are z-tests.

    Returns
    -------
    GLMResult
    """
    if scale not in _SCALES:
        raise ConfigError(f"scale must be one of {sorted(_SCALES)}, got {scale!r}")
    check_design(design)
    x = design.to_numpy(dtype=float)
    n, p = x.shape
    y = np.asarray(y, dtype=float)
    if y.shape[-1] != n:
        raise ConfigError(f"time courses have {y.shape[-1]} frames, the design {n}")
    lead = y.shape[:-1]
    yf = y.reshape(-1, n)
    if sd is None:
        w = np.ones_like(yf)
    else:
        sdf = np.broadcast_to(np.asarray(sd, dtype=float), y.shape).reshape(-1, n)
        with np.errstate(divide="ignore"):
            w = 1.0 / sdf**2
        if scale == "known" and not np.all(np.isfinite(w[np.isfinite(yf)])):
            raise ConfigError("scale='known' needs finite, non-zero sd for every frame")
    valid = np.isfinite(yf) & np.isfinite(w)
    w = np.where(valid, w, 0.0)
    yz = np.where(valid, yf, 0.0)
    df = valid.sum(axis=1) - p
    if np.any(df < 1):
        raise ConfigError(f"a time course has too few valid frames for {p} regressors")
    xtwx = np.einsum("mn,np,nq->mpq", w, x, x)
    xtwy = np.einsum("mn,np,mn->mp", w, x, yz)
    inv = np.linalg.inv(xtwx)
    beta = np.einsum("mpq,mq->mp", inv, xtwy)
    resid = yz - beta @ x.T
    rss = np.sum(w * resid**2, axis=1)
    if scale == "residual":
        s2 = rss / df
        cov = inv * s2[:, None, None]
        se = np.sqrt(np.einsum("mpp->mp", cov))
        tstat = beta / se
        pval = 2 * sps.t.sf(np.abs(tstat), df[:, None])
    else:
        s2 = np.ones(len(yf))
        cov = inv
        se = np.sqrt(np.einsum("mpp->mp", cov))
        tstat = beta / se
        pval = 2 * sps.norm.sf(np.abs(tstat))
    names = tuple(str(c) for c in design.columns)
    if "intercept" in names:
        i0 = names.index("intercept")
        b0 = beta[:, i0 : i0 + 1]
        var0 = cov[:, i0, i0][:, None]
        cov_k0 = cov[:, :, i0]
        var_k = np.einsum("mpp->mp", cov)
        pct = 100.0 * beta / b0
        pct_var = var_k / b0**2 + beta**2 * var0 / b0**4 - 2 * beta * cov_k0 / b0**3
        pct_se = 100.0 * np.sqrt(np.clip(pct_var, 0, None))
    else:
        pct = pct_se = np.full_like(beta, np.nan)

    def shape(a: np.ndarray) -> np.ndarray:
        return a.reshape(lead + a.shape[1:])

    return GLMResult(
        names=names, beta=shape(beta), se=shape(se), t=shape(tstat), p_value=shape(pval),
        percent=shape(pct), percent_se=shape(pct_se), covariance=shape(cov),
        df=shape(df.astype(float)), sigma=shape(np.sqrt(s2)),
    )  # fmt: skip


def glm_timecourses(
    timecourses: pd.DataFrame,
    *,
    regressors: Sequence[str | Mapping[str, Any]] = ("ramp",),
    duration: float = np.inf,
    drift_order: int = 0,
    nuisance: Sequence[str] = (),
    weighted: bool = False,
    scale: str = "residual",
    frame_duration: float | None = None,
    baseline_window: tuple[float | None, float | None] = (None, 0.0),
) -> pd.DataFrame:
    """Fit the same GLM to every session's time courses (all metabolites of a session at once).

    Parameters
    ----------
    timecourses : DataFrame
        Tidy ``timecourses`` (``time_s`` relative to the infusion onset), plus any ``nuisance``
        columns per frame (e.g. ``fwhm_hz`` merged from the QC table).
    regressors, duration, drift_order, frame_duration, baseline_window
        Passed to :func:`~mrspipe.design.design_matrix` with ``onset=0``;
        ``duration`` is the infusion duration (s).
    nuisance : sequence of str
        Columns of ``timecourses`` used as nuisance regressors (e.g. ``('fwhm_hz',)``).
    weighted : bool
        Weight frames by ``1 / crlb_sd**2``.
    scale : {'residual', 'known'}
        See :func:`fit_glm`.

    Returns
    -------
    DataFrame
        ``participant_id, session_id, condition, sex, metabolite, term, estimate, se, t,
        p_value, df, percent, percent_se``: one row per session, metabolite and regressor.
    """
    keys = ["participant_id", "session_id", "condition", "sex"]
    missing = set(nuisance) - set(timecourses.columns)
    if missing:
        raise ConfigError(f"nuisance columns {sorted(missing)} not in the time-course table")
    out = []
    for key, sess in timecourses.groupby(keys, sort=True, dropna=False):
        est = sess.pivot_table(index="metabolite", columns="frame", values="estimate",
                               aggfunc="first", dropna=False)  # fmt: skip
        frames = est.columns.to_numpy()
        first = sess.drop_duplicates("frame").set_index("frame").loc[frames]
        nuis = {name: first[name].to_numpy(dtype=float) for name in nuisance}
        design = design_matrix(
            first["time_s"].to_numpy(dtype=float), onset=0.0, duration=duration,
            regressors=regressors, drift_order=drift_order, nuisance=nuis,
            frame_duration=frame_duration, baseline_window=baseline_window,
        )  # fmt: skip
        sd = None
        if weighted:
            sd = sess.pivot_table(index="metabolite", columns="frame", values="crlb_sd",
                                  aggfunc="first", dropna=False).loc[est.index, frames]  # fmt: skip
            sd = sd.to_numpy(dtype=float)
        res = fit_glm(est.to_numpy(dtype=float), design, sd=sd, scale=scale)
        for i, met in enumerate(est.index):
            for j, term in enumerate(res.names):
                out.append((*key, met, term, res.beta[i, j], res.se[i, j], res.t[i, j],
                            res.p_value[i, j], res.df[i], res.percent[i, j],
                            res.percent_se[i, j]))  # fmt: skip
    cols = [*keys, "metabolite", "term", "estimate", "se", "t", "p_value", "df", "percent",
            "percent_se"]  # fmt: skip
    return pd.DataFrame(out, columns=cols)


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
        corrected=corrected, slope=slope, slope_se=res.se[..., j], p_value=res.p_value[..., j],
        glm=res,
    )  # fmt: skip
