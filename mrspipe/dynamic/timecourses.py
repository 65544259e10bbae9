"""Tidy time-course tables: frame estimates -> ``timecourses`` (-> ``responses``: windows).

Times are in seconds relative to the first infusion onset of the session's ``events.tsv``.
A window ``(start, end)`` selects the frames with ``start <= time_s < end`` (``None`` is an open
end), so the default baseline ``(None, 0)`` is every frame before the onset and the default
response ``(0, None)`` every frame from the onset on. The window means (``responses``, % change
per frame) are in :mod:`mrspipe.dynamic.windows`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._logging import logger
from ..design import select_window
from ..errors import ConfigError, StudyLayoutError
from ..uncertainty import ratio_sd

__all__ = [
    "TIMECOURSE_COLUMNS",
    "RESPONSE_COLUMNS",
    "DEFAULT_RATIOS",
    "infusion_event",
    "infusion_onset",
    "normalise_sex",
    "add_ratios",
    "session_timecourses",
    "select_window",
]

TIMECOURSE_COLUMNS = tuple(
    "participant_id session_id condition sex frame time_s metabolite estimate crlb_sd".split()
)
#: optional columns of water-scaled concentrations kept in the time courses (NaN for ratios)
CONCENTRATION_COLUMNS = ("molality_mmol_kg", "molality_sd", "molarity_mm", "molarity_sd")
RESPONSE_COLUMNS = tuple(
    "participant_id session_id condition sex metabolite baseline response percent_change".split()
)
SESSION_KEYS = ("participant_id", "session_id", "condition", "sex")

#: ratio name -> (numerator, denominator); Glx/tNAA is the GO-MARK outcome.
DEFAULT_RATIOS: dict[str, tuple[str, str]] = {
    "Glx/tNAA": ("Glx", "tNAA"),
    "Glu/tNAA": ("Glu", "tNAA"),
    "Glu/tCr": ("Glu", "tCr"),
    "Glx/tCr": ("Glx", "tCr"),
}

_SEX = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"}


def normalise_sex(value: Any) -> Any:
    """Map ``M/F/male/female`` (any case) to ``'M'``/``'F'``; anything else to ``NaN``."""
    if isinstance(value, str):
        return _SEX.get(value.strip().lower(), np.nan)
    return np.nan


def infusion_event(
    events: pd.DataFrame, *, trial_type: str | None = None, source: Any = None
) -> tuple[float, float]:
    """Onset and duration of the first infusion in an ``events.tsv`` table.

    Parameters
    ----------
    events : DataFrame
        Columns ``onset`` (s from the first transient), ``duration`` (s, optional) and
        ``trial_type`` (optional).
    trial_type : str, optional
        The ``trial_type`` (case-insensitive) that marks the infusion or stimulus (e.g.
        ``heat`` and not ``pre_heat``); when no event has exactly it, a substring of it.
        Default: the first event whose ``trial_type`` contains ``'infusion'``, else the first event.
    source : path-like, optional
        The events file, named in error messages.

    Returns
    -------
    onset : float, s
    duration : float, s
        ``nan`` when the table has no ``duration`` (or it is ``n/a``); blocks of the same
        event that follow on without a gap count as one (their total span).

    Raises
    ------
    StudyLayoutError
        If the table has no ``onset`` column or no (matching) event.
    """
    if "onset" not in events.columns:
        raise StudyLayoutError("events table has no 'onset' column", source)
    ev = events[pd.to_numeric(events["onset"], errors="coerce").notna()]
    if ev.empty:
        raise StudyLayoutError("events table has no event with a numeric onset", source)
    ev = ev.assign(onset=pd.to_numeric(ev["onset"])).sort_values("onset", kind="stable")
    types = ev["trial_type"].astype(str).str.lower() if "trial_type" in ev.columns else None
    if trial_type is not None:
        if types is None:
            raise StudyLayoutError(f"no event with trial_type containing {trial_type!r}", source)
        chosen = types == trial_type.lower()  # the exact trial_type, else any containing it
        if not chosen.any():
            chosen = types.str.contains(trial_type.lower(), regex=False)
        if not chosen.any():
            raise StudyLayoutError(f"no event with trial_type containing {trial_type!r}", source)
        ev = ev[chosen.to_numpy()]
    elif types is not None and (match := types.str.contains("infusion", regex=False)).any():
        ev = ev[match.to_numpy()]
    row = ev.iloc[0]
    duration = pd.to_numeric(row.get("duration", np.nan), errors="coerce")
    if types is not None:  # back-to-back blocks of the same trial_type are one stimulus
        same = types.loc[ev.index].to_numpy() == str(row.get("trial_type", "")).lower()
        ev = ev[same]
    if pd.notna(duration) and "duration" in ev.columns and len(ev) > 1:
        # e.g. two heat blocks, 600-720 s and 720-840 s: one event 600-840 s
        onsets = ev["onset"].to_numpy(float)
        ends = onsets + pd.to_numeric(ev["duration"], errors="coerce").to_numpy(float)
        gaps = onsets[1:] > ends[:-1] + 1e-6  # True where a block does not follow on
        last = int(np.argmax(gaps)) if gaps.any() else len(onsets) - 1
        if np.isfinite(ends[: last + 1]).all():
            duration = float(ends[: last + 1].max() - onsets[0])
    return float(row["onset"]), float(duration) if pd.notna(duration) else math.nan


def infusion_onset(
    events: pd.DataFrame, *, trial_type: str | None = None, source: Any = None
) -> float:
    """Onset (s from the first transient) of the first infusion; see :func:`infusion_event`."""
    return infusion_event(events, trial_type=trial_type, source=source)[0]


def add_ratios(
    frames: pd.DataFrame,
    *,
    ratios: Mapping[str, tuple[str, str]] | None = None,
    covariance: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Append ratio metabolites (``Glx/tNAA``, ...) with propagated CRLB.

    For ``r = a / b`` the SD is the first-order propagation of
    :func:`mrspipe.quantify.ratio_sd` (``cov_ab = 0``, i.e. independence, unless given).

    Parameters
    ----------
    frames : DataFrame
        Long table with ``frame, metabolite, estimate, crlb_sd`` (other columns, e.g. ``time_s``,
        are carried over from the numerator rows).
    ratios : mapping, optional
        Ratio name -> ``(numerator, denominator)``; default :data:`DEFAULT_RATIOS`. Ratios whose
        metabolites are absent are skipped.
    covariance : DataFrame, optional
        ``frame, metabolite_a, metabolite_b, covariance`` (either order) from the fit.

    Returns
    -------
    DataFrame
        ``frames`` with the ratio rows appended.
    """
    ratios = DEFAULT_RATIOS if ratios is None else ratios
    names = frames["metabolite"].astype(str).to_numpy()
    present = set(names)
    frame = frames["frame"].to_numpy()
    estimate = frames["estimate"].to_numpy(dtype=float)
    var = frames["crlb_sd"].to_numpy(dtype=float) ** 2
    extra = []
    for name, (num, den) in ratios.items():
        if num not in present or den not in present:
            logger.debug("ratio %s skipped: %s or %s not fitted", name, num, den)
            continue
        rows_a = np.flatnonzero(names == num)
        rows_b = np.flatnonzero(names == den)
        # the denominator's row of each numerator frame (-1: none, NaN ratio)
        at = pd.Index(frame[rows_b]).get_indexer(frame[rows_a])
        pick = np.where(at >= 0, rows_b[np.maximum(at, 0)], -1)

        def take(values: np.ndarray, rows: np.ndarray = pick) -> np.ndarray:
            return np.where(rows >= 0, values[np.maximum(rows, 0)], np.nan)

        r, sd = ratio_sd(
            estimate[rows_a],
            take(estimate),
            var[rows_a],
            take(var),
            _covariance_of(covariance, num, den, frame[rows_a]),
        )
        out = frames.iloc[rows_a].assign(metabolite=name, estimate=r, crlb_sd=sd)
        if "crlb_percent" in out.columns:
            out["crlb_percent"] = 100.0 * out["crlb_sd"] / out["estimate"].abs()
        extra.append(out)
    if not extra:
        return frames
    return pd.concat([frames, *extra], ignore_index=True)


def _covariance_of(
    covariance: pd.DataFrame | None, num: str, den: str, frames: np.ndarray
) -> np.ndarray:
    """Covariance of ``num`` and ``den`` (either order) in each of ``frames``; 0 where absent.

    Of several tables for the pair (both orders given), the one listed last counts.
    """
    if covariance is None:
        return np.zeros(len(frames))
    a = covariance["metabolite_a"].astype(str).to_numpy()
    b = covariance["metabolite_b"].astype(str).to_numpy()
    forward, backward = (a == num) & (b == den), (a == den) & (b == num)
    if forward.any() and backward.any() and num != den:
        # the pair's two orders are two groups: the later one (by first row) wins
        later = np.flatnonzero(forward)[0] > np.flatnonzero(backward)[0]
        rows = np.flatnonzero(forward if later else backward)
    else:
        rows = np.flatnonzero(forward | backward)
    if rows.size == 0:
        return np.zeros(len(frames))
    at = pd.Index(covariance["frame"].to_numpy()[rows]).get_indexer(frames)
    values = covariance["covariance"].to_numpy(dtype=float)[rows]
    out = np.where(at >= 0, values[np.maximum(at, 0)], 0.0)
    return np.where(np.isnan(out), 0.0, out)


def session_timecourses(
    frames: pd.DataFrame,
    session: Mapping[str, Any] | Any,
    *,
    onset: float | None = None,
    events: pd.DataFrame | None = None,
    trial_type: str | None = None,
    frame_times: Sequence[float] | np.ndarray | None = None,
    ratios: Mapping[str, tuple[str, str]] | None = None,
    covariance: pd.DataFrame | None = None,
    excluded_frames: Sequence[int] | np.ndarray = (),
) -> pd.DataFrame:
    """Build one session's rows of the tidy ``timecourses`` table.

    Parameters
    ----------
    frames : DataFrame
        Frame-wise fit estimates ``frame, metabolite, estimate, crlb_sd`` and ``time_s`` (s from
        the first transient), e.g. ``FitResult.table()``; ``time_s`` may instead come from
        ``frame_times``.
    session : mapping or object
        ``participant_id, session_id, condition, sex`` as keys or attributes (e.g. a
        ``mrspipe.io.bids.Session``). ``sex`` is normalised to ``M``/``F``/``NaN``.
    onset : float, s, optional
        Infusion onset from the first transient. Give this or ``events``.
    events : DataFrame, optional
        The session's ``events.tsv``; the onset comes from :func:`infusion_onset`.
    trial_type : str, optional
        Passed to :func:`infusion_onset`.
    frame_times : (n_frames,) float array, s, optional
        Time of each frame (indexed by ``frame``) when ``frames`` has no ``time_s``.
    ratios, covariance
        Passed to :func:`add_ratios`; ``ratios={}`` adds none.
    excluded_frames : sequence of int, optional
        Frames left out (e.g. those whose fit did not converge): their rows stay, with ``NaN``
        estimates and SDs (ratios and concentrations included), so the windows
        (:func:`~mrspipe.dynamic.window_responses`), the GLM and the statistics skip them and a
        gap in time stays a gap.

    Returns
    -------
    DataFrame
        Columns :data:`TIMECOURSE_COLUMNS`, ``time_s`` relative to the onset.
    """
    if (onset is None) == (events is None):
        raise ConfigError("give exactly one of onset= or events= to place the infusion")
    if onset is None:
        onset = infusion_onset(events, trial_type=trial_type)  # type: ignore[arg-type]
    missing = {"frame", "metabolite", "estimate", "crlb_sd"} - set(frames.columns)
    if missing:
        raise ConfigError(f"frame estimates lack columns {sorted(missing)}")
    df = frames.copy()
    if frame_times is not None:
        times = np.asarray(frame_times, dtype=float)
        idx = df["frame"].to_numpy(dtype=int)
        if idx.min() < 0 or idx.max() >= times.size:
            raise ConfigError(f"frame index out of range of frame_times ({times.size} frames)")
        df["time_s"] = times[idx]
    elif "time_s" not in df.columns:
        raise ConfigError("frame estimates have no time_s column and no frame_times were given")
    if len(excluded_frames):
        out = df["frame"].isin(np.asarray(excluded_frames, dtype=int)).to_numpy()
        masked = ["estimate", "crlb_sd", "crlb_percent", *CONCENTRATION_COLUMNS]
        df.loc[out, [c for c in masked if c in df.columns]] = np.nan
    df = add_ratios(df, ratios=ratios, covariance=covariance)
    df["time_s"] = df["time_s"].astype(float) - float(onset)
    for key in SESSION_KEYS:
        value = session.get(key) if isinstance(session, Mapping) else getattr(session, key, None)
        df[key] = normalise_sex(value) if key == "sex" else value
    df = df.sort_values(["metabolite", "frame"], kind="stable")
    # water-scaled concentrations (mrspipe.quantify) ride along after the SPEC columns
    extra = [c for c in CONCENTRATION_COLUMNS if c in df.columns]
    return df.loc[:, [*TIMECOURSE_COLUMNS, *extra]].reset_index(drop=True)
