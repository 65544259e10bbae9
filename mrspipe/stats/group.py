"""The whole group analysis of a crossover: one tidy ``stats`` table, one row per contrast."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from .._logging import logger
from ..dynamic import RESPONSE_COLUMNS
from ..errors import ConfigError
from ._common import STATS_COLUMNS, check_columns, check_conditions, wide_by_condition
from .clinical import clinical_rows, correlation_rows, symptom_changes
from .crossover import (
    condition_mean_rows,
    effect_size_rows,
    interaction_rows,
    period_rows,
    treatment_rows,
)
from .options import StatsOptions

__all__ = ["crossover_stats", "session_periods", "adjust_multiplicity", "holm", "PRIMARY_ANALYSES"]

#: extra columns of the stats table, after :data:`STATS_COLUMNS`
EXTRA_COLUMNS = ("p_perm", "p_holm", "q_bh", "primary", "test", "df", "d_av", "d_rm")
#: analyses whose rows of the primary metabolite are its pre-specified primary tests
PRIMARY_ANALYSES = ("paired", "interaction")


def session_periods(
    responses: pd.DataFrame, sessions: pd.DataFrame | None = None
) -> tuple[pd.DataFrame | None, str]:
    """Period (1, 2, ...) of every session, and where the order came from.

    The order is, in this preference: ``acq_time`` of ``sessions`` (the BIDS sessions.tsv
    column, ISO 8601) when every session has one; a ``period`` column of ``responses``; the
    numbers in ``session_id`` (``ses-1`` before ``ses-2``). Returns ``(None, 'unknown')`` when
    none applies.

    Returns
    -------
    periods : DataFrame or None
        ``participant_id, session_id, condition, period``.
    source : str
        ``'acq_time'``, ``'period column'``, ``'session_id order'`` or ``'unknown'``.
    """
    keys = responses.drop_duplicates(["participant_id", "session_id"])
    keys = keys[["participant_id", "session_id", "condition"]].reset_index(drop=True)
    order: pd.Series | None = None
    source = "unknown"
    if sessions is not None and "acq_time" in sessions.columns:
        acq = sessions.set_index(["participant_id", "session_id"])["acq_time"]
        times = pd.to_datetime(
            acq.reindex(pd.MultiIndex.from_frame(keys[["participant_id", "session_id"]])),
            errors="coerce",
            format="ISO8601",
        )
        if times.notna().all():
            order, source = pd.Series(times.to_numpy(), index=keys.index), "acq_time"
    if order is None and "period" in responses.columns:
        per = responses.drop_duplicates(["participant_id", "session_id"])["period"]
        per = pd.to_numeric(per, errors="coerce").reset_index(drop=True)
        if per.notna().all():
            order, source = per, "period column"
    if order is None and keys["session_id"].astype(str).str.contains(r"\d").all():
        digits = keys["session_id"].astype(str).str.findall(r"\d+")
        order = pd.Series([tuple(int(x) for x in ds) for ds in digits], index=keys.index)
        source = "session_id order"
    if order is None:
        return None, source
    period: dict[Any, int] = {}
    for _, grp in keys.groupby("participant_id", sort=False):
        ranked = sorted(grp.index, key=lambda i: (order[i], i))
        period |= {i: rank for rank, i in enumerate(ranked, start=1)}
    return keys.assign(period=pd.Series(period)), source


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate).

    References
    ----------
    Holm S. A simple sequentially rejective multiple test procedure. Scand J Stat 1979.
    """
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    m = p.size
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def adjust_multiplicity(stats: pd.DataFrame) -> pd.DataFrame:
    """Holm (``p_holm``) and Benjamini-Hochberg (``q_bh``) across metabolites.

    A family is one ``(analysis, term, subgroup)``: the same test over the metabolites; rows
    without a p-value get NaN.
    """
    out = stats.assign(p_holm=np.nan, q_bh=np.nan)
    finite = out["p_value"].notna()
    for _, idx in out[finite].groupby(["analysis", "term", "subgroup"], sort=False).groups.items():
        p = out.loc[idx, "p_value"].to_numpy(float)
        out.loc[idx, "p_holm"] = holm(p)
        out.loc[idx, "q_bh"] = sps.false_discovery_control(p, method="bh")
    return out


def _metabolite_rows(
    responses: pd.DataFrame, met: Any, conds: tuple[str, str], opts: StatsOptions
) -> list[dict[str, Any]]:
    sub = responses[responses["metabolite"] == met]
    wide = wide_by_condition(sub, conds)
    dropped = sub["participant_id"].nunique() - len(wide)
    if dropped:
        logger.info("%s: %d participant(s) lack one of %s; left out", met, dropped, conds)
    term = f"{conds[0]}-{conds[1]}"
    rows = condition_mean_rows(responses, met, conds, opts)
    rows += treatment_rows(wide, met, term, opts)
    rows += interaction_rows(wide, met, opts)
    rows += period_rows(wide, met, opts)
    rows += effect_size_rows(wide, met, opts)
    base = wide_by_condition(sub, conds, value="baseline")
    rows += treatment_rows(base, met, term, opts, analysis="baseline", sensitivity=False)
    return rows


def crossover_stats(
    responses: pd.DataFrame,
    *,
    conditions: Sequence[str],
    metabolites: Sequence[str] | None = None,
    timecourses: pd.DataFrame | None = None,
    phenotype: pd.DataFrame | None = None,
    options: StatsOptions | None = None,
    alpha: float | None = None,
    mixedlm: bool | None = None,
    baseline_window: tuple[float | None, float | None] = (None, 0.0),
    response_window: tuple[float | None, float | None] = (0.0, None),
    baseline_timepoint: str | None = None,
    score_name: str | None = None,
    glm: pd.DataFrame | None = None,
    glm_term: str | None = None,
    sessions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """All group analyses of a two-condition crossover, as one tidy ``stats`` table.

    Parameters
    ----------
    responses : DataFrame
        The ``responses`` table (``percent_change`` and ``baseline`` per participant, session
        and metabolite); an optional ``period`` column gives the session order.
    conditions : (str, str)
        ``(active, reference)`` as named in the data, e.g. ``('naltrexone', 'placebo')``.
    metabolites : sequence of str, optional
        Default: every metabolite in ``responses``.
    timecourses : DataFrame, optional
        The ``timecourses`` table, for the frame-level model (``options.frame_model``).
    phenotype : DataFrame, optional
        Clinical scores (``participant_id``, ``session_id`` or ``condition``, ``timepoint``,
        ``score``); adds the ``clinical*`` and ``correlation`` rows.
    options : StatsOptions, optional
    alpha, mixedlm : optional
        Shortcuts for ``1 - options.ci_level`` and ``options.mixed_model``.
    baseline_window, response_window : (start, end), s
        Windows of the frame-level model; the response window also ends at each session's
        infusion end when ``sessions`` has ``infusion_duration_s``.
    baseline_timepoint, score_name : str, optional
        Baseline label of ``timepoint``; name of the score in the ``metabolite`` column
        (default: ``options.baseline_timepoint`` and ``options.score``).
    glm : DataFrame, optional
        Per-session GLM results (:func:`mrspipe.dynamic.glm_timecourses`); adds ``glm_paired``
        and ``glm_interaction`` rows on the response to ``glm_term`` (% of baseline).
    glm_term : str, optional
        The GLM response regressor (default: the first non-intercept, non-drift term).
    sessions : DataFrame, optional
        ``participant_id, session_id`` and ``acq_time`` (session order) and/or
        ``infusion_duration_s``.

    Returns
    -------
    DataFrame
        :data:`STATS_COLUMNS` plus ``p_perm, p_holm, q_bh, primary, test, df, d_av, d_rm``; its
        ``attrs``
        record ``period_source``.
    """
    opts = options or StatsOptions()
    if alpha is not None:
        opts = dataclasses.replace(opts, ci_level=1.0 - alpha)
    if mixedlm is not None:
        opts = dataclasses.replace(opts, mixed_model=mixedlm)
    baseline_timepoint = baseline_timepoint or opts.baseline_timepoint
    score_name = score_name or opts.score
    check_columns(responses, RESPONSE_COLUMNS, "responses")
    conds = check_conditions(responses, conditions)
    mets = list(dict.fromkeys(responses["metabolite"])) if metabolites is None else metabolites
    unknown = set(mets) - set(responses["metabolite"])
    if unknown:
        raise ConfigError(f"metabolites {sorted(unknown)} not in the responses table")
    periods, source = session_periods(responses, sessions)
    logger.info("session order (crossover period) from: %s", source)
    resp = responses.drop(columns="period", errors="ignore")
    if periods is not None:
        resp = resp.merge(
            periods[["participant_id", "session_id", "period"]],
            how="left",
            on=["participant_id", "session_id"],
        )
    rows: list[dict[str, Any]] = []
    if phenotype is not None:
        changes = symptom_changes(phenotype, resp, baseline_timepoint=baseline_timepoint)
        order = None
        if periods is not None:
            active = periods[periods["condition"] == conds[0]]
            order = active.set_index("participant_id")["period"]
        rows += clinical_rows(changes, conds, opts, score_name=score_name, periods=order)
    durations = _durations(sessions)
    for met in mets:
        rows += _metabolite_rows(resp, met, conds, opts)
        if opts.mixed_model and timecourses is not None:
            from .frames import frame_rows

            rows += frame_rows(
                timecourses,
                met,
                conds,
                opts,
                baseline_window=baseline_window,
                response_window=response_window,
                periods=periods,
                durations=durations,
            )
        if phenotype is not None:
            rows += correlation_rows(resp, changes, met, conds, opts.alpha)
    if glm is not None and not glm.empty:
        rows += _glm_rows(glm, mets, conds, opts, glm_term, periods)
    out = pd.DataFrame(rows)
    for col in (*STATS_COLUMNS, "p_perm", "test", "df", "d_av", "d_rm"):
        if col not in out.columns:
            out[col] = np.nan
    out = adjust_multiplicity(out)
    out["primary"] = (out["metabolite"] == opts.primary) & out["analysis"].isin(PRIMARY_ANALYSES)
    extra = [c for c in out.columns if c not in (*STATS_COLUMNS, *EXTRA_COLUMNS)]
    out = out.loc[:, [*STATS_COLUMNS, *EXTRA_COLUMNS, *extra]]
    out.attrs["period_source"] = source
    return out


def _durations(sessions: pd.DataFrame | None) -> dict[tuple[Any, Any], float] | None:
    if sessions is None or "infusion_duration_s" not in sessions.columns:
        return None
    vals = pd.to_numeric(sessions["infusion_duration_s"], errors="coerce")
    return {
        (p, s): float(v) if math.isfinite(v) else math.inf
        for p, s, v in zip(sessions["participant_id"], sessions["session_id"], vals, strict=True)
    }


def _glm_rows(
    glm: pd.DataFrame,
    mets: Sequence[Any],
    conds: tuple[str, str],
    opts: StatsOptions,
    glm_term: str | None,
    periods: pd.DataFrame | None,
) -> list[dict[str, Any]]:
    """Paired contrast and condition x sex of the per-session GLM response (% of baseline)."""
    terms = [
        t for t in dict.fromkeys(glm["term"]) if t != "intercept" and not str(t).startswith("drift")
    ]
    term = glm_term if glm_term is not None else (terms[0] if terms else None)
    sel = glm[(glm["term"] == term) & glm["metabolite"].isin(mets)]
    if sel.empty:
        return []
    sel = sel.rename(columns={"percent": "percent_change"}).drop(columns="period", errors="ignore")
    if periods is not None:
        sel = sel.merge(
            periods[["participant_id", "session_id", "period"]],
            how="left",
            on=["participant_id", "session_id"],
        )
    rows: list[dict[str, Any]] = []
    for met in sorted(sel["metabolite"].unique(), key=str):
        wide = wide_by_condition(sel[sel["metabolite"] == met], conds)
        found = treatment_rows(
            wide, met, f"{conds[0]}-{conds[1]}", opts, analysis="glm_paired", sensitivity=False
        )
        found += interaction_rows(wide, met, opts, analysis="glm_interaction", sensitivity=False)
        for r in found:
            r["test"] = f"{r['test']}; GLM regressor {term}"
        rows += found
    return rows
