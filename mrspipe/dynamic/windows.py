"""Window means of time courses: ``timecourses`` -> ``responses``, and % change per frame.

A window ``(start, end)`` selects the frames with ``start <= time_s < end`` (``None`` is an
open end; times in s relative to the infusion onset). Means are plain or inverse-variance
weighted (:data:`WEIGHTINGS`); their standard errors count the correlation of frames that
share transients (:func:`sliding_window_correlation`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .._logging import logger
from ..design import Window, select_window
from ..errors import ConfigError
from .timecourses import RESPONSE_COLUMNS, SESSION_KEYS

__all__ = [
    "WEIGHTINGS",
    "window_responses",
    "percent_change_timecourses",
    "sliding_window_correlation",
]


def _correlated_var(
    a: np.ndarray, lag_corr: np.ndarray | None, frames: np.ndarray | None = None
) -> float:
    """``sum_ij a_i a_j rho_|f_i - f_j|`` (``rho_0 = 1``; none = independent).

    ``frames``: the ascending frame numbers ``f`` of ``a`` (a frame left out is a gap, not a
    neighbour); None = consecutive frames.
    """
    total = float(np.sum(a**2))
    if lag_corr is not None:
        f = np.arange(a.size) if frames is None else np.asarray(frames)
        for k, rho in enumerate(lag_corr[1:], start=1):  # loop over lags, not frames
            j = np.minimum(np.searchsorted(f, f + k), f.size - 1)
            pair = f[j] == f + k  # the frame k later is there
            if pair.any():
                total += 2.0 * float(rho) * float(np.sum(a[pair] * a[j[pair]]))
    return total


def _plain_mean(
    est: pd.Series,
    sd: pd.Series,
    lag_corr: np.ndarray | None = None,
    frames: np.ndarray | None = None,
) -> tuple[float, float]:
    a = sd.to_numpy(dtype=float)
    return float(est.mean()), float(np.sqrt(_correlated_var(a, lag_corr, frames)) / len(sd))


def _ivw_mean(
    est: pd.Series,
    sd: pd.Series,
    lag_corr: np.ndarray | None = None,
    frames: np.ndarray | None = None,
) -> tuple[float, float]:
    sdv = sd.to_numpy(dtype=float)
    w = 1.0 / sdv**2
    if not np.all(np.isfinite(w)):
        raise ConfigError("inverse-variance weighting needs finite, non-zero crlb_sd")
    mean = float(np.sum(w * est.to_numpy()) / w.sum())
    return mean, float(np.sqrt(_correlated_var(w * sdv, lag_corr, frames)) / w.sum())


def sliding_window_correlation(window: int, step: int) -> np.ndarray:
    """Correlation of the noise of frames ``k`` apart when frames share transients.

    A sliding window of ``window`` transients moved by ``step`` makes frames ``k`` apart share
    ``max(0, window - k step)`` transients, so their noise correlates by that fraction of
    ``window`` (independent transients).

    Returns
    -------
    (K,) float ndarray
        ``rho_k`` for ``k = 0 .. K-1`` (``rho_0 = 1``), up to the first lag with no overlap.
    """
    if window < 1 or step < 1:
        raise ConfigError(f"sliding window needs window, step >= 1, got ({window}, {step})")
    k = np.arange(int(np.ceil(window / step)) + 1)
    return np.clip(1.0 - k * step / window, 0.0, None)


#: window averaging: name -> (estimates, crlb_sd[, lag correlations, frame numbers]) -> (mean,
#: standard error)
WEIGHTINGS: dict[str, Callable[..., tuple[float, float]]] = {
    "mean": _plain_mean,
    "inverse_variance": _ivw_mean,
}


def window_responses(
    timecourses: pd.DataFrame,
    *,
    baseline_window: Window = (None, 0.0),
    response_window: Window = (0.0, None),
    weighting: str = "mean",
    sliding: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Average each session's time course over a baseline and a response window.

    Parameters
    ----------
    timecourses : DataFrame
        The tidy ``timecourses`` table.
    baseline_window, response_window : (start, end), s relative to the onset
        ``None`` is an open end; frames with ``start <= time_s < end`` are averaged.
    weighting : {'mean', 'inverse_variance'}
        ``'mean'`` (default): plain mean, unbiased whatever the CRLBs, which are themselves
        estimates and shrink with a narrowing (BOLD) line. ``'inverse_variance'``: weights
        ``1 / crlb_sd**2``, lower variance when CRLBs are trustworthy.
    sliding : (window, step), transients, optional
        The frames are sliding windows of ``window`` transients moved by ``step``: neighbouring
        frames share transients, and the standard errors count that correlation
        (:func:`sliding_window_correlation`; frames of a window taken as consecutive) instead
        of treating every frame as independent, which understates them by up to
        ``sqrt(window / step)``.

    Returns
    -------
    DataFrame
        :data:`RESPONSE_COLUMNS` plus ``baseline_se, response_se, percent_change_se`` (from the
        CRLBs, first-order) and ``n_baseline, n_response`` (frames averaged). Frames with a
        ``NaN`` estimate (no data, or left out: ``session_timecourses(excluded_frames=)``) are
        not averaged or counted. A session with an empty window gets ``NaN`` (logged); all
        sessions empty raises :class:`ConfigError`.
    """
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"weighting must be one of {sorted(WEIGHTINGS)}, got {weighting!r}")
    avg = WEIGHTINGS[weighting]
    base_mask = select_window(timecourses["time_s"], baseline_window)
    resp_mask = select_window(timecourses["time_s"], response_window)
    if not base_mask.any() or not resp_mask.any():
        which = "baseline" if not base_mask.any() else "response"
        raise ConfigError(f"no frame of any session falls in the {which} window")
    keys = [*SESSION_KEYS, "metabolite"]
    lag = None if sliding is None else sliding_window_correlation(*sliding)
    tc = timecourses.assign(_b=base_mask, _r=resp_mask).sort_values("frame", kind="stable")
    est, sd = tc["estimate"], tc["crlb_sd"]
    frame = tc["frame"].to_numpy()
    usable = np.isfinite(est.to_numpy(dtype=float))  # a NaN frame is no frame
    in_base, in_resp = tc["_b"].to_numpy(dtype=bool), tc["_r"].to_numpy(dtype=bool)
    rows = []
    # each group's rows by position (in frame order), not sub-tables of every column
    for key, where in tc.groupby(keys, sort=True, dropna=False).indices.items():
        where = where[usable[where]]
        b, r = where[in_base[where]], where[in_resp[where]]
        bm, bse = avg(est.iloc[b], sd.iloc[b], lag, frame[b]) if len(b) else (np.nan, np.nan)
        rm, rse = avg(est.iloc[r], sd.iloc[r], lag, frame[r]) if len(r) else (np.nan, np.nan)
        if not (len(b) and len(r)):
            which = "baseline" if not len(b) else "response"
            logger.warning(
                "session %s/%s: no frame with an estimate in the %s window for %s",
                key[0],
                key[1],
                which,
                key[4],
            )
        rows.append((*key, bm, rm, bse, rse, len(b), len(r)))
    out = pd.DataFrame(
        rows,
        columns=[
            *keys,
            "baseline",
            "response",
            "baseline_se",
            "response_se",
            "n_baseline",
            "n_response",
        ],
    )
    ratio = out["response"] / out["baseline"]
    out["percent_change"] = 100.0 * (ratio - 1.0)
    rel = np.sqrt(
        (out["response_se"] / out["response"]) ** 2 + (out["baseline_se"] / out["baseline"]) ** 2
    )
    out["percent_change_se"] = 100.0 * ratio.abs() * rel
    extra = ["baseline_se", "response_se", "percent_change_se", "n_baseline", "n_response"]
    return out.loc[:, [*RESPONSE_COLUMNS, *extra]]


def percent_change_timecourses(
    timecourses: pd.DataFrame,
    *,
    baseline_window: Window = (None, 0.0),
    weighting: str = "mean",
) -> pd.DataFrame:
    """Express each session's time course as % change from its baseline-window mean.

    Returns
    -------
    DataFrame
        ``timecourses`` with ``baseline`` (the session's baseline mean), ``percent_change``
        (``100 (estimate / baseline - 1)``) and ``percent_change_sd`` (``100 crlb_sd /
        baseline``, the frame's own uncertainty; the baseline's is common to the session).
    """
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"weighting must be one of {sorted(WEIGHTINGS)}, got {weighting!r}")
    avg = WEIGHTINGS[weighting]
    mask = select_window(timecourses["time_s"], baseline_window)
    if not mask.any():
        raise ConfigError("no frame of any session falls in the baseline window")
    mask &= np.isfinite(timecourses["estimate"].to_numpy(dtype=float))  # NaN frames: none
    keys = [*SESSION_KEYS, "metabolite"]
    # one group id per row (a label that is None everywhere, e.g. no sex recorded, is a key
    # like any other): no merge on label columns whose dtype depends on the data
    group = timecourses.groupby(keys, sort=False, dropna=False).ngroup()
    base = (
        timecourses[mask]
        .groupby(group[mask], sort=False)
        .apply(lambda g: avg(g["estimate"], g["crlb_sd"])[0], include_groups=False)
    )
    out = timecourses.copy()
    out["baseline"] = group.map(base).to_numpy(dtype=float)
    out["percent_change"] = 100.0 * (out["estimate"] / out["baseline"] - 1.0)
    out["percent_change_sd"] = 100.0 * out["crlb_sd"] / out["baseline"].abs()
    return out
