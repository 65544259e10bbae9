"""Regressors and design matrices of time courses (the GLM and the joint dynamic fit), windows.

A low-level module (numpy, scipy, pandas only): :mod:`mrspipe.dynamic` (GLM on time courses)
and :mod:`mrspipe.fit.dynamic` (spectro-temporal fit) both build their designs here.

Every regressor is written through its antiderivative ``F``, so a frame that averages the signal
over ``[t - w/2, t + w/2)`` (block-averaged transients, ``frame_duration=w``) gets the exact mean
``(F(t + w/2) - F(t - w/2)) / w``; with ``frame_duration=None`` the regressor is sampled at ``t``.
All are vectorised over frames and scaled to a plateau of 1, so a beta is in the units of the
time course (and in % of the baseline after dividing by the intercept).

References
----------
Friston KJ et al. Event-related fMRI: characterizing differential responses. NeuroImage 1998
(the canonical double-gamma HRF, as in SPM). Mullins PG. Towards a theory of functional magnetic
resonance spectroscopy (fMRS): a meta-analysis and discussion of using MRS to measure changes in
neurotransmitters in real time. Scand J Psychol 2018;59:91-103.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from .errors import ConfigError

__all__ = [
    "REGRESSORS",
    "boxcar",
    "ramp",
    "exponential",
    "hrf",
    "hrf_boxcar",
    "drift",
    "design_matrix",
    "check_design",
    "select_window",
    "Window",
]

#: ``(start, end)`` in s; None = open end
Window = tuple[float | None, float | None]


def select_window(time_s: pd.Series | np.ndarray, window: Window | None) -> np.ndarray:
    """Boolean mask of ``start <= time_s < end`` (``None`` ends are open)."""
    t = np.asarray(time_s, dtype=float)
    if window is None:
        return np.ones(t.shape, dtype=bool)
    start, end = window
    start = -np.inf if start is None else float(start)
    end = np.inf if end is None else float(end)
    if not start < end:
        raise ConfigError(f"window start must be before its end, got ({start}, {end}) s")
    return (t >= start) & (t < end)


def _pos(u: np.ndarray) -> np.ndarray:
    return np.maximum(u, 0.0)


def _frame_mean(
    antiderivative: Callable[[np.ndarray], np.ndarray],
    value: Callable[[np.ndarray], np.ndarray],
    t: np.ndarray,
    frame_duration: float | None,
) -> np.ndarray:
    if frame_duration is None or frame_duration == 0:
        return value(t)
    if frame_duration < 0:
        raise ConfigError(f"frame_duration must be positive, got {frame_duration} s")
    h = 0.5 * frame_duration
    return (antiderivative(t + h) - antiderivative(t - h)) / frame_duration


def _check_duration(duration: float) -> float:
    if not np.isfinite(duration) and duration != np.inf or duration <= 0:
        raise ConfigError(f"regressor duration must be a positive number of s, got {duration}")
    return float(duration)


def boxcar(
    times: np.ndarray, *, onset: float = 0.0, duration: float, frame_duration: float | None = None
) -> np.ndarray:
    """1 during ``[onset, onset + duration)``, else 0.

    Parameters
    ----------
    times : (n_frames,) float array, s
    onset, duration : float, s
    frame_duration : float, s, optional
        Average over each frame's span instead of sampling its centre.

    Returns
    -------
    (n_frames,) float ndarray
    """
    t = np.asarray(times, dtype=float) - onset
    d = _check_duration(duration)
    return _frame_mean(
        lambda u: np.clip(u, 0.0, d),
        lambda u: ((u >= 0) & (u < d)).astype(float),
        t,
        frame_duration,
    )


def ramp(
    times: np.ndarray, *, onset: float = 0.0, duration: float, frame_duration: float | None = None
) -> np.ndarray:
    """Linear rise from 0 at ``onset`` to 1 at ``onset + duration``, then a plateau at 1."""
    t = np.asarray(times, dtype=float) - onset
    d = _check_duration(duration)

    def anti(u: np.ndarray) -> np.ndarray:
        inside = np.clip(u, 0.0, d)
        return inside**2 / (2 * d) + _pos(u - d)

    return _frame_mean(anti, lambda u: np.clip(u / d, 0.0, 1.0), t, frame_duration)


def exponential(
    times: np.ndarray,
    *,
    onset: float = 0.0,
    duration: float = np.inf,
    tau: float,
    frame_duration: float | None = None,
) -> np.ndarray:
    """First-order response to a boxcar: ``1 - exp(-(t - onset)/tau)`` rising, then decaying.

    With ``duration=inf`` (default) it is a pure rise towards a plateau of 1; otherwise it decays
    with the same time constant after ``onset + duration``.
    """
    if not tau > 0:
        raise ConfigError(f"exponential time constant tau must be > 0 s, got {tau}")
    t = np.asarray(times, dtype=float) - onset
    d = _check_duration(duration)

    def step(u: np.ndarray) -> np.ndarray:
        return -np.expm1(-_pos(u) / tau)

    def step_anti(u: np.ndarray) -> np.ndarray:
        up = _pos(u)
        return up + tau * np.expm1(-up / tau)

    if np.isinf(d):
        return _frame_mean(step_anti, step, t, frame_duration)
    return _frame_mean(
        lambda u: step_anti(u) - step_anti(u - d),
        lambda u: step(u) - step(u - d),
        t,
        frame_duration,
    )


def _gamma_cdf(u: np.ndarray, shape: float, scale: float) -> np.ndarray:
    return special.gammainc(shape, _pos(u) / scale)


def _gamma_cdf_anti(u: np.ndarray, shape: float, scale: float) -> np.ndarray:
    # int_0^x F(s; k, theta) ds = x F(x; k, theta) - k theta F(x; k + 1, theta)
    x = _pos(u)
    return x * _gamma_cdf(x, shape, scale) - shape * scale * _gamma_cdf(x, shape + 1, scale)


def hrf(
    times: np.ndarray,
    *,
    peak_delay: float = 6.0,
    undershoot_delay: float = 16.0,
    dispersion: float = 1.0,
    ratio: float = 6.0,
) -> np.ndarray:
    """Canonical double-gamma haemodynamic response (SPM parameters), unit area.

    ``h(t) = (g(t; peak_delay/dispersion) - g(t; undershoot_delay/dispersion) / ratio) / (1 -
    1/ratio)`` with ``g`` a gamma density of scale ``dispersion`` (s); peaks near 5 s, undershoot
    near 15 s.

    Returns
    -------
    (n,) float ndarray, 1/s
    """
    t = np.asarray(times, dtype=float)
    a1, a2, b = peak_delay / dispersion, undershoot_delay / dispersion, dispersion
    tp = _pos(t) / b

    def g(a: float) -> np.ndarray:
        with np.errstate(divide="ignore"):
            val = np.exp((a - 1) * np.log(tp) - tp - special.gammaln(a)) / b
        return np.where(t > 0, val, 0.0)

    return (g(a1) - g(a2) / ratio) / (1.0 - 1.0 / ratio)


def hrf_boxcar(
    times: np.ndarray,
    *,
    onset: float = 0.0,
    duration: float,
    frame_duration: float | None = None,
    peak_delay: float = 6.0,
    undershoot_delay: float = 16.0,
    dispersion: float = 1.0,
    ratio: float = 6.0,
) -> np.ndarray:
    """Boxcar convolved with :func:`hrf` (analytically, via gamma CDFs); plateau 1."""
    t = np.asarray(times, dtype=float) - onset
    d = _check_duration(duration)
    a1, a2, b = peak_delay / dispersion, undershoot_delay / dispersion, dispersion
    norm = 1.0 - 1.0 / ratio

    def step(u: np.ndarray) -> np.ndarray:
        return (_gamma_cdf(u, a1, b) - _gamma_cdf(u, a2, b) / ratio) / norm

    def step_anti(u: np.ndarray) -> np.ndarray:
        return (_gamma_cdf_anti(u, a1, b) - _gamma_cdf_anti(u, a2, b) / ratio) / norm

    if np.isinf(d):
        return _frame_mean(step_anti, step, t, frame_duration)
    return _frame_mean(
        lambda u: step_anti(u) - step_anti(u - d),
        lambda u: step(u) - step(u - d),
        t,
        frame_duration,
    )


#: regressor kind -> function(times, *, onset, duration, frame_duration, **params)
REGRESSORS: dict[str, Callable[..., np.ndarray]] = {
    "boxcar": boxcar,
    "ramp": ramp,
    "exponential": exponential,
    "hrf": hrf_boxcar,
}


def drift(times: np.ndarray, *, order: int) -> np.ndarray:
    """Legendre drift polynomials of degree 1..``order`` over the span of ``times``.

    Returns
    -------
    (n_frames, order) float ndarray
        Column ``k - 1`` is ``P_k`` of the times mapped to [-1, 1] (no constant: the design's
        intercept is separate).
    """
    t = np.asarray(times, dtype=float)
    if order < 0:
        raise ConfigError(f"drift order must be >= 0, got {order}")
    span = t.max() - t.min() if t.size else 0.0
    x = (2 * (t - t.min()) / span - 1) if span > 0 else np.zeros_like(t)
    return np.polynomial.legendre.legvander(x, order)[:, 1:]


def design_matrix(
    times: np.ndarray,
    *,
    onset: float = 0.0,
    duration: float = np.inf,
    regressors: Sequence[str | Mapping[str, Any]] = ("ramp",),
    drift_order: int = 0,
    nuisance: Mapping[str, np.ndarray] | None = None,
    frame_duration: float | None = None,
    baseline_window: tuple[float | None, float | None] = (None, 0.0),
) -> pd.DataFrame:
    """Build a named GLM design for one time course.

    Parameters
    ----------
    times : (n_frames,) float array, s
        Frame times, on the same clock as ``onset`` (0 = infusion onset for ``timecourses``).
    onset, duration : float, s
        The event every regressor refers to unless its spec overrides ``onset``/``duration``.
    regressors : sequence of str or mapping
        Kinds from :data:`REGRESSORS` (``'boxcar', 'ramp', 'exponential', 'hrf'``) or mappings
        ``{'kind': ..., 'name': ..., 'onset': ..., 'duration': ..., **params}`` (e.g.
        ``{'kind': 'exponential', 'tau': 300.0}``). The column is named ``name`` or the kind.
    drift_order : int
        Legendre drift terms ``drift1 .. driftN``.
    nuisance : mapping name -> (n_frames,) array, optional
        Extra regressors (e.g. ``{'fwhm_hz': linewidth}``), centred on their mean over the
        baseline-window frames (all frames if none) so the intercept stays the baseline level.
    frame_duration : float, s, optional
        Frame span for exact frame averaging of the regressors.
    baseline_window : (start, end), s
        Frames used to centre the nuisance regressors.

    Returns
    -------
    DataFrame
        ``(n_frames, n_regressors)``: ``intercept``, the regressors, drifts, nuisances.

    Raises
    ------
    ConfigError
        Unknown kind, duplicate names, or a design that :func:`check_design` rejects.
    """
    t = np.asarray(times, dtype=float)
    cols: dict[str, np.ndarray] = {"intercept": np.ones(t.size)}
    for spec in regressors:
        params: dict[str, Any] = {"kind": spec} if isinstance(spec, str) else dict(spec)
        kind = params.pop("kind", None)
        if kind not in REGRESSORS:
            raise ConfigError(f"regressor kind must be one of {sorted(REGRESSORS)}, got {kind!r}")
        name = params.pop("name", kind)
        params.setdefault("onset", onset)
        params.setdefault("duration", duration)
        if kind == "ramp" and np.isinf(params["duration"]):
            raise ConfigError("a ramp regressor needs a finite duration (the infusion's)")
        if name in cols:
            raise ConfigError(f"duplicate regressor name {name!r}")
        try:
            cols[name] = REGRESSORS[kind](t, frame_duration=frame_duration, **params)
        except TypeError as exc:
            raise ConfigError(f"bad options for regressor {name!r}: {exc}") from None
    for k, column in enumerate(drift(t, order=drift_order).T, start=1):
        cols[f"drift{k}"] = column
    if nuisance:
        base = select_window(t, baseline_window)
        base = base if base.any() else np.ones(t.size, dtype=bool)
        for name, values in nuisance.items():
            v = np.asarray(values, dtype=float)
            if v.shape != t.shape:
                raise ConfigError(f"nuisance {name!r} has shape {v.shape}, expected {t.shape}")
            if name in cols:
                raise ConfigError(f"duplicate regressor name {name!r}")
            cols[name] = v - v[base].mean()
    design = pd.DataFrame(cols)
    check_design(design)
    return design


def check_design(design: pd.DataFrame, *, max_condition: float = 1e8) -> None:
    """Reject designs a least-squares fit cannot estimate.

    Raises
    ------
    ConfigError
        Non-finite values, more regressors than frames (or no residual degree of freedom),
        a constant column besides ``intercept``, or collinear columns (condition number of the
        column-normalised design above ``max_condition``), naming the columns concerned.
    """
    x = design.to_numpy(dtype=float)
    n, p = x.shape
    if not np.all(np.isfinite(x)):
        raise ConfigError("design matrix has non-finite values")
    if p >= n:
        raise ConfigError(f"design has {p} regressors for {n} frames: need fewer regressors")
    for name in design.columns:
        col = design[name].to_numpy(dtype=float)
        if name != "intercept" and np.ptp(col) <= 1e-12 * max(1.0, np.abs(col).max()):
            raise ConfigError(f"regressor {name!r} is constant over the frames")
    norms = np.linalg.norm(x, axis=0)
    if np.any(norms == 0):
        raise ConfigError("design has an all-zero column")
    xs = x / norms
    sv = np.linalg.svd(xs, compute_uv=False)
    if sv[-1] <= sv[0] / max_condition:
        _, _, vt = np.linalg.svd(xs)
        involved = [str(c) for c, w in zip(design.columns, vt[-1], strict=True) if abs(w) > 0.1]
        raise ConfigError(f"regressors {involved} are collinear (cannot be separated)")
