"""(Weighted) least-squares or AR(1) GLS GLM on metabolite time courses.

:func:`fit_glm` fits one design to many courses at once (the AR(1) parts in
:mod:`mrspipe.dynamic.ar1`); :func:`glm_timecourses` fits it to every session of a tidy
time-course table. The linewidth (BOLD) nuisance: :mod:`mrspipe.dynamic.linewidth`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..design import check_design, design_matrix
from ..errors import ConfigError
from .ar1 import (
    ar1_reml,
    frame_gaps,
    prais_winsten,
    prais_winsten_design,
    satterthwaite_ar1,
)

__all__ = [
    "GLMResult",
    "fit_glm",
    "ar1_reml",
    "prais_winsten",
    "glm_timecourses",
]

_SCALES = {"residual": "t", "known": "z"}
_NOISE = {"ar1": "AR(1) errors by REML, GLS", "ols": "independent frames, OLS"}


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
        Residual degrees of freedom (frames used minus regressors, minus 1 for an estimated
        AR(1) coefficient).
    df_term : (..., p) float ndarray
        Degrees of freedom of each coefficient's t-test: ``df``, or under AR(1) Satterthwaite's
        df, which also counts the uncertainty of the estimated AR coefficient (large for slow
        regressors such as a ramp, whose variance depends steeply on it).
    sigma : (...) float ndarray
        Residual scale (weighted RMS residual, ``1`` when ``scale='known'`` is used as truth;
        the innovation SD under AR(1)).
    ar1 : (...) float ndarray
        The AR(1) coefficient used (0 for independent frames).
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
    df_term: np.ndarray
    sigma: np.ndarray
    ar1: np.ndarray


def fit_glm(
    y: np.ndarray,
    design: pd.DataFrame,
    *,
    sd: np.ndarray | None = None,
    scale: str = "residual",
    noise: str = "ar1",
    frame: np.ndarray | None = None,
) -> GLMResult:
    """Fit ``y = X beta + e`` to every time course at once by (weighted) least squares or GLS.

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
    noise : {'ar1', 'ols'}
        ``'ar1'`` (default): frame-to-frame AR(1) errors, the coefficient estimated per time
        course by restricted maximum likelihood (:func:`ar1_reml`), then generalised least
        squares on the Prais-Winsten-whitened course, t-tests on ``frames - regressors - 1``
        df. ``'ols'``: independent frames (anti-conservative when frames are autocorrelated:
        the false-positive rate of a 63-frame null session is 0.15 at phi = 0.3 and 0.33 at
        phi = 0.6). Missing frames (``NaN``, or numbers absent from ``frame``) are gaps:
        ``corr(e_i, e_j) = phi^|t_i - t_j|`` for frame numbers ``t``, whitened exactly
        (:func:`~mrspipe.dynamic.ar1.frame_gaps`). With ``sd`` the weighted course is whitened.
        A course with fewer than ``p + 3`` observed frames uses ``'ols'``.
    frame : (n_frames,) int array, optional
        Increasing frame numbers of the columns of ``y`` (default ``0 .. n_frames - 1``): the
        AR(1) lag between two frames is the difference of their numbers.

    Returns
    -------
    GLMResult
    """
    from scipy import stats as sps  # here, not at import: the CLI starts faster

    if scale not in _SCALES:
        raise ConfigError(f"scale must be one of {sorted(_SCALES)}, got {scale!r}")
    if noise not in _NOISE:
        raise ConfigError(f"noise must be one of {sorted(_NOISE)}, got {noise!r}")
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
    phi = np.zeros(len(yf))
    xm = xs = np.broadcast_to(x, (len(yf), n, p))
    gaps = None
    if noise == "ar1":
        try:
            gaps = frame_gaps(valid, frame)
        except ValueError as exc:
            raise ConfigError(f"{exc}, got {frame!r}") from None
        fitted = df >= 3  # frames - regressors, before the AR coefficient's df
        if np.any(fitted):
            # weights first (rows scaled by 1/sd), then the AR(1) filter; unit weights after
            root = np.sqrt(w)
            ys, xs = yz * root, xm * root[:, :, None]
            sub = (gaps[0][fitted], gaps[1][fitted])
            phi[fitted] = ar1_reml(ys[fitted], xs[fitted], gaps=sub)
            yz = prais_winsten(ys, phi, gaps=gaps)
            xm = prais_winsten_design(xs, phi, gaps=gaps)
            w = np.where(valid, 1.0, 0.0)
            df = df - np.where(fitted, 1, 0)
    xtwx = np.einsum("mn,mnp,mnq->mpq", w, xm, xm)
    xtwy = np.einsum("mn,mnp,mn->mp", w, xm, yz)
    inv = np.linalg.inv(xtwx)
    beta = np.einsum("mpq,mq->mp", inv, xtwy)
    resid = yz - np.einsum("mnp,mp->mn", xm, beta)
    rss = np.sum(w * resid**2, axis=1)
    df_term = np.repeat(df[:, None].astype(float), p, axis=1)
    if noise == "ar1" and np.any(phi != 0):
        df_term = satterthwaite_ar1(xs, phi, df, gaps=gaps)
    # a time course the design fits exactly (a joint dynamic fit's) has se 0, a metabolite
    # fitted as 0 a zero intercept: t = inf and % = NaN there, not an error
    with np.errstate(divide="ignore", invalid="ignore"):
        if scale == "residual":
            s2 = rss / df
            cov = inv * s2[:, None, None]
            se = np.sqrt(np.einsum("mpp->mp", cov))
            tstat = beta / se
            pval = 2 * sps.t.sf(np.abs(tstat), df_term)
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
        names=names,
        beta=shape(beta),
        se=shape(se),
        t=shape(tstat),
        p_value=shape(pval),
        percent=shape(pct),
        percent_se=shape(pct_se),
        covariance=shape(cov),
        df=shape(df.astype(float)),
        df_term=shape(df_term),
        sigma=shape(np.sqrt(s2)),
        ar1=shape(phi),
    )


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
    noise: str = "ar1",
    until: float | None = None,
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
    noise : {'ar1', 'ols'}
        See :func:`fit_glm`.
    until : float, s, optional
        Fit only frames before this time (e.g. the end of the infusion, so the washout is not
        read as part of a plateau); None = every frame.

    Returns
    -------
    DataFrame
        ``participant_id, session_id, condition, sex, metabolite, term, estimate, se, t,
        p_value, df, percent, percent_se, ar1, noise``: one row per session, metabolite and
        regressor.
    """
    keys = ["participant_id", "session_id", "condition", "sex"]
    missing = set(nuisance) - set(timecourses.columns)
    if missing:
        raise ConfigError(f"nuisance columns {sorted(missing)} not in the time-course table")
    out = []
    if until is not None and np.isfinite(until):
        timecourses = timecourses[timecourses["time_s"] < until]
    for key, sess in timecourses.groupby(keys, sort=True, dropna=False):
        est = sess.pivot_table(
            index="metabolite", columns="frame", values="estimate", aggfunc="first", dropna=False
        )
        frames = est.columns.to_numpy()
        first = sess.drop_duplicates("frame").set_index("frame").loc[frames]
        nuis = {name: first[name].to_numpy(dtype=float) for name in nuisance}
        design = design_matrix(
            first["time_s"].to_numpy(dtype=float),
            onset=0.0,
            duration=duration,
            regressors=regressors,
            drift_order=drift_order,
            nuisance=nuis,
            frame_duration=frame_duration,
            baseline_window=baseline_window,
        )
        sd = None
        if weighted:
            sd = sess.pivot_table(
                index="metabolite", columns="frame", values="crlb_sd", aggfunc="first", dropna=False
            ).loc[est.index, frames]
            sd = sd.to_numpy(dtype=float)
        res = fit_glm(
            est.to_numpy(dtype=float), design, sd=sd, scale=scale, noise=noise, frame=frames
        )
        for i, met in enumerate(est.index):
            method = "ar1" if res.ar1[i] != 0 else "ols"
            for j, term in enumerate(res.names):
                out.append(
                    (
                        *key,
                        met,
                        term,
                        res.beta[i, j],
                        res.se[i, j],
                        res.t[i, j],
                        res.p_value[i, j],
                        res.df_term[i, j],
                        res.percent[i, j],
                        res.percent_se[i, j],
                        res.ar1[i],
                        method,
                    )
                )
    cols = [*keys, *"metabolite term estimate se t p_value df percent percent_se ar1 noise".split()]
    return pd.DataFrame(out, columns=cols)
