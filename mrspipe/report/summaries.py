"""The numbers behind the report figures, computed from the tidy group tables.

Every figure in the report plots a table built here, so what a figure shows can be tested
against a plain ``groupby`` of the input (the tests check numbers, not pixels). Only numpy
and pandas are used; pandas is imported inside the functions.

Conventions: times in s relative to the infusion onset; percent change is
``100 * (estimate / baseline - 1)`` where ``baseline`` is the mean estimate of a session over
the baseline window; the uncertainty band is the standard error of the mean across
participants (``std(ddof=1) / sqrt(n)``, NaN when fewer than two participants contribute).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._logging import logger

__all__ = [
    "ALL",
    "resolve_window",
    "session_percent_change",
    "timecourse_summary",
    "paired_responses",
    "forest_rows",
    "qc_overview",
    "study_conditions",
    "study_metabolites",
]

#: label of the panel holding every participant (whatever their sex)
ALL = "all"
#: metabolites shown first when the design does not say which to plot
_PREFERRED = ("Glx", "Glu", "Gln", "Glx/tNAA", "Glx/tCr", "tNAA", "tCr", "GABA")
_SESSION = ["participant_id", "session_id", "condition", "sex", "metabolite"]


def resolve_window(window: Any, default: tuple[float, float]) -> tuple[float, float]:
    """Return a ``(start, end)`` window in s, ``default`` when ``window`` is missing.

    ``None`` ends stand for an open window (``-inf`` / ``+inf``).
    """
    if window is None:
        return default
    start, end = window
    start = -math.inf if start is None else float(start)
    end = math.inf if end is None else float(end)
    return (start, end)


def study_conditions(table: Any, design: dict[str, Any] | None = None) -> list[str]:
    """Conditions in report order: ``design['conditions']`` if given, else sorted from data.

    With two conditions the first is the active one (the contrast is first minus second).
    """
    design = design or {}
    if design.get("conditions"):
        return [str(c) for c in design["conditions"]]
    if table is None or "condition" not in getattr(table, "columns", ()):
        return []
    return sorted(str(c) for c in table["condition"].dropna().unique())


def study_metabolites(
    timecourses: Any, stats: Any = None, design: dict[str, Any] | None = None, *, limit: int = 3
) -> list[str]:
    """Metabolites to plot: ``design['metabolites']``, else preferred names found in the data.

    Preferred order: Glx, Glu, Gln, ratios of Glx, tNAA, tCr, GABA; then the order of the data.
    At most ``limit`` names are returned when chosen automatically.
    """
    design = design or {}
    if design.get("metabolites"):
        return [str(m) for m in design["metabolites"]]
    present: list[str] = []
    for table in (stats, timecourses):
        if table is not None and "metabolite" in getattr(table, "columns", ()):
            present += [str(m) for m in table["metabolite"].dropna().unique()]
    present = list(dict.fromkeys(present))
    chosen = [m for m in _PREFERRED if m in present]
    chosen += [m for m in present if m not in chosen]
    return chosen[:limit]


def session_percent_change(timecourses: Any, *, baseline_window: tuple[float, float]) -> Any:
    """Add ``baseline`` and ``percent_change`` to every row of a time-course table.

    Parameters
    ----------
    timecourses : pandas.DataFrame
        Columns ``participant_id, session_id, condition, sex, frame, time_s, metabolite,
        estimate`` (``time_s`` in s relative to the onset).
    baseline_window : (float, float), s
        Frames with ``start <= time_s < end`` form each session's baseline.

    Returns
    -------
    pandas.DataFrame
        A copy with ``baseline`` (mean estimate of the session's baseline frames, per
        metabolite) and ``percent_change`` (``100 * (estimate / baseline - 1)``). Sessions
        without baseline frames, or with a zero baseline, get NaN and are logged.
    """
    tc = timecourses.copy()
    keys = [c for c in _SESSION if c != "sex"]
    start, end = baseline_window
    in_base = (tc["time_s"] >= start) & (tc["time_s"] < end)
    base = (
        tc.loc[in_base]
        .groupby(keys, dropna=False, sort=False)["estimate"]
        .mean()
        .rename("baseline")
        .reset_index()
    )
    # all-missing keys (sessions without a session or condition label) come back from the
    # groupby as float NaN; merge them as the objects they are in ``tc``
    base = base.astype({k: tc[k].dtype for k in keys if tc[k].dtype == object})
    tc = tc.merge(base, on=keys, how="left")
    baseline = tc["baseline"].where(tc["baseline"] != 0)
    tc["percent_change"] = 100.0 * (tc["estimate"] / baseline - 1.0)
    missing = tc.loc[tc["percent_change"].isna() & tc["estimate"].notna(), keys]
    if len(missing):
        n = len(missing.drop_duplicates())
        logger.warning("%d session/metabolite series have no usable baseline frames", n)
    return tc


def _time_bins(tc: Any, bin_s: float | None) -> tuple[Any, float]:
    """Put times on a common grid: bins of ``bin_s`` (default: median frame spacing).

    The spacing is taken within sessions (consecutive frames of one series), so sessions
    whose frames are offset by a few seconds still fall into the same bins.
    """
    t = tc["time_s"].to_numpy(dtype=float)
    if bin_s is None:
        keys = ["participant_id", "session_id", "metabolite"]
        steps = tc.sort_values("time_s").groupby(keys, sort=False)["time_s"].diff().to_numpy()
        steps = steps[np.isfinite(steps) & (steps > 0)]
        bin_s = float(np.median(steps)) if steps.size else 1.0
    return np.round(t / bin_s) * bin_s, bin_s


def timecourse_summary(
    timecourses: Any,
    *,
    baseline_window: tuple[float, float],
    metabolites: Sequence[str] | None = None,
    bin_s: float | None = None,
) -> Any:
    """Mean % change time course by panel (sex and all), condition, metabolite and time.

    Each participant's frames are first expressed as % change from their own session baseline
    (:func:`session_percent_change`) and put on a common time grid (bins of ``bin_s``, by
    default the median frame spacing: frames already on a shared grid keep their times). The
    mean and SEM are then taken across participants. Participants with a missing sex count in
    the ``'all'`` panel only.

    Parameters
    ----------
    timecourses : pandas.DataFrame
        The ``timecourses`` group table.
    baseline_window : (float, float), s
        Baseline window relative to the onset.
    metabolites : sequence of str, optional
        Restrict to these metabolites.
    bin_s : float, optional, s
        Width of the common time bins.

    Returns
    -------
    pandas.DataFrame
        Columns ``panel, condition, metabolite, time_s, mean, sem, n`` (``mean``/``sem`` in %,
        ``n`` participants), sorted by panel, condition, metabolite and time.
    """
    import pandas as pd

    cols = ["panel", "condition", "metabolite", "time_s", "mean", "sem", "n"]
    tc = timecourses
    if metabolites is not None:
        tc = tc[tc["metabolite"].isin(list(metabolites))]
    if tc.empty:
        return pd.DataFrame(columns=cols)
    tc = session_percent_change(tc, baseline_window=baseline_window)
    tc["time_s"], _ = _time_bins(tc, bin_s)
    tc = tc.dropna(subset=["percent_change"])
    # one value per participant, condition, metabolite and time bin
    per = (
        tc.groupby(["participant_id", "condition", "metabolite", "time_s"], sort=False)
        .agg(percent_change=("percent_change", "mean"), sex=("sex", "first"))
        .reset_index()
    )
    sexed = per.dropna(subset=["sex"]).assign(panel=lambda d: d["sex"].astype(str))
    stacked = pd.concat([per.assign(panel=ALL), sexed], ignore_index=True)
    grouped = stacked.groupby(["panel", "condition", "metabolite", "time_s"])["percent_change"]
    out = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    out["sem"] = out["sd"] / np.sqrt(out["n"])
    out.loc[out["n"] < 2, "sem"] = np.nan
    return out[cols].sort_values(cols[:4], ignore_index=True)


def paired_responses(
    responses: Any, *, conditions: Sequence[str], metabolite: str, value: str = "percent_change"
) -> Any:
    """One row per participant with the response in each condition (wide, for slope plots).

    Parameters
    ----------
    responses : pandas.DataFrame
        The ``responses`` group table.
    conditions : sequence of str
        Conditions to put side by side (columns, in this order).
    metabolite : str
    value : str
        Column to spread (``percent_change`` by default).

    Returns
    -------
    pandas.DataFrame
        Columns ``participant_id, sex, *conditions``; a participant missing a condition has
        NaN there (the slope plot draws complete pairs as lines and lone values as dots).
        Several sessions of one participant in one condition are averaged.
    """
    import pandas as pd

    sub = responses[
        (responses["metabolite"] == metabolite) & responses["condition"].isin(conditions)
    ]
    if sub.empty:
        return pd.DataFrame(columns=["participant_id", "sex", *conditions])
    wide = sub.pivot_table(
        index="participant_id", columns="condition", values=value, aggfunc="mean", dropna=False
    )
    wide = wide.reindex(columns=list(conditions))
    sex = sub.groupby("participant_id")["sex"].first()
    wide.insert(0, "sex", sex.reindex(wide.index))
    wide.columns.name = None
    return wide.reset_index()


#: What the forest plot shows by default: the condition contrast of the response (% change) by
#: subgroup, and its condition x sex interaction; all in percentage points, so one axis fits.
FOREST_ANALYSES: dict[str, tuple[str, ...]] = {
    "paired": ("dz",),  # analysis -> terms left out (d_z is unitless)
    "interaction": (),
}


def forest_rows(
    stats: Any,
    *,
    metabolites: Sequence[str] | None = None,
    analyses: dict[str, tuple[str, ...]] | None = FOREST_ANALYSES,
) -> Any:
    """Rows of the stats table that have an estimate and a finite CI, labelled for a forest plot.

    Parameters
    ----------
    stats : pandas.DataFrame
        The ``stats`` table.
    metabolites : sequence of str, optional
        Keep only these metabolites.
    analyses : dict of str to tuple of str, optional
        Analyses to show, each with the terms to leave out (default :data:`FOREST_ANALYSES`:
        the paired contrast by subgroup and the interaction); ``None`` keeps every analysis.

    Returns
    -------
    pandas.DataFrame
        The selected rows plus ``label`` (``"metabolite · analysis · term · subgroup"``), in
        the order of the input.
    """
    import pandas as pd

    need = ["estimate", "ci_low", "ci_high"]
    if stats is None or stats.empty or not set(need) <= set(stats.columns):
        return pd.DataFrame(columns=[*getattr(stats, "columns", []), "label"])
    rows = stats
    if metabolites is not None:
        rows = rows[rows["metabolite"].isin(list(metabolites))]
    if analyses is not None and "analysis" in rows.columns:
        keep = rows["analysis"].isin(list(analyses))
        if "term" in rows.columns:
            dropped = rows["analysis"].map(lambda a: analyses.get(a, ()))
            keep &= np.array([t not in d for t, d in zip(rows["term"], dropped, strict=True)])
        rows = rows[keep]
    values = rows[need].apply(pd.to_numeric, errors="coerce")
    rows = rows[np.isfinite(values.to_numpy(dtype=float)).all(axis=1)].copy()
    if rows.empty:
        return rows.assign(label=pd.Series(dtype=str)).reset_index(drop=True)
    parts = [c for c in ("metabolite", "analysis", "term", "subgroup") if c in rows.columns]
    rows["label"] = rows[parts].astype(str).agg(" · ".join, axis=1)
    return rows.reset_index(drop=True)


def qc_overview(sessions_qc: Any) -> dict[str, Any]:
    """Study-level QC numbers for the report text and the checklist.

    Returns
    -------
    dict
        ``n_sessions, n_ok, n_failed, n_transients, n_rejected, rejected_percent,
        snr_median, snr_range, fwhm_hz_median, fwhm_hz_range`` (medians/ranges over the
        sessions that did not fail; NaN when unknown), ``n_frames, n_frames_excluded`` (frames
        left out of the time courses: their fit did not converge) and ``n_sessions_excluding``
        (sessions with such frames).
    """
    out: dict[str, Any] = {"n_sessions": 0, "n_ok": 0, "n_failed": 0}
    if sessions_qc is None or sessions_qc.empty:
        return out
    status = sessions_qc.get("status")
    failed = (status.astype(str) == "failed") if status is not None else False
    ok = sessions_qc[~failed] if status is not None else sessions_qc
    out.update(n_sessions=len(sessions_qc), n_ok=len(ok), n_failed=len(sessions_qc) - len(ok))
    n_tr = float(ok["n_transients"].sum()) if "n_transients" in ok else math.nan
    n_rej = float(ok["n_rejected"].sum()) if "n_rejected" in ok else math.nan
    out.update(n_transients=n_tr, n_rejected=n_rej)
    out["rejected_percent"] = 100.0 * n_rej / n_tr if n_tr else math.nan
    excluded = (
        ok["n_frames_excluded"].astype(float).fillna(0.0) if "n_frames_excluded" in ok else None
    )
    out["n_frames"] = float(ok["n_frames"].sum()) if "n_frames" in ok else math.nan
    out["n_frames_excluded"] = float(excluded.sum()) if excluded is not None else math.nan
    out["n_sessions_excluding"] = int((excluded > 0).sum()) if excluded is not None else 0
    for col, key in (("snr_median", "snr"), ("fwhm_hz_median", "fwhm_hz")):
        vals = ok[col].astype(float).dropna() if col in ok else []
        has = len(vals) > 0
        out[f"{key}_median"] = float(np.median(vals)) if has else math.nan
        out[f"{key}_range"] = (float(np.min(vals)), float(np.max(vals))) if has else None
    return out
