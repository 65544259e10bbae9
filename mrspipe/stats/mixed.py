"""Mixed models for the crossover: condition x sex (statsmodels MixedLM) and x time (two-stage).

Coding: condition +1/2 (active) and -1/2 (reference), sex +1/2 (M) and -1/2 (F), time +1/2
(response window) and -1/2 (baseline window). With this effect coding every main effect is the
difference averaged over the other factors (``condition`` = active minus reference, ``sex`` = M
minus F, ``time`` = response minus baseline) and every two-way interaction is a difference of
differences (``condition:sex`` = (active - reference) in M minus in F; ``condition:time`` =
the active-minus-reference difference of the rise, GO-MARK's condition x time).

Per-session model (:func:`mixed_response_rows`): statsmodels MixedLM, random intercept per
participant, REML, Wald z intervals and p-values as statsmodels reports them (optimistic for few
participants: the paired t-tests are the small-sample reference). Per-frame model
(:func:`mixed_timecourse_rows`): the summary-statistics (two-stage) form of the mixed model with
session-level random effects, exact t tests (see its docstring and docs/methods/statistics.md).

statsmodels is the ``[stats]`` extra and is imported only when a model is fitted.
"""

from __future__ import annotations

import math
import warnings
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from .._logging import logger
from ..dynamic import normalise_sex, percent_change_timecourses, select_window
from ..errors import MissingExtraError
from ._common import SEXES, row, t_interval

__all__ = ["require_statsmodels", "fit_mixed", "mixed_response_rows", "mixed_timecourse_rows"]

#: model column -> readable term in the stats table
TERMS = {
    "condition": "condition",
    "sex": "sex",
    "time": "time",
    "condition:sex": "condition:sex",
    "condition:time": "condition:time",
    "time:sex": "time:sex",
    "condition:time:sex": "condition:time:sex",
}


def require_statsmodels() -> Any:
    """Import and return ``statsmodels.api``, or raise :class:`MissingExtraError`."""
    try:
        import statsmodels.api as sm
    except ImportError:
        raise MissingExtraError(
            'mixed models need statsmodels: pip install "mrspipe[stats]"'
        ) from None
    return sm


def fit_mixed(
    y: np.ndarray,
    exog: pd.DataFrame,
    groups: np.ndarray,
    *,
    alpha: float,
    exog_vc: dict[str, dict[Any, np.ndarray]] | None = None,
) -> tuple[pd.DataFrame, bool] | None:
    """Fit a random-intercept MixedLM, catching its warnings.

    Parameters
    ----------
    y : (n,) float array
    exog : DataFrame, (n, p)
        Fixed-effect design with an ``intercept`` column.
    groups : (n,) array
        Participant of each row.
    alpha : float
        1 - confidence level of the intervals.
    exog_vc : dict, optional
        Variance components as statsmodels takes them: ``exog_vc[name][group]`` is the
        ``(rows of group, k)`` matrix of that component (rows in data order).

    Returns
    -------
    (DataFrame, bool) or None
        Per fixed effect ``estimate, ci_low, ci_high, p_value`` (index = exog columns) and
        whether the optimiser converged (statsmodels ``ConvergenceWarning`` about convergence is
        recorded here, never raised); ``None`` if the fit failed outright (logged).
    """
    sm = require_statsmodels()
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = sm.MixedLM(
                np.asarray(y, float), exog, groups=np.asarray(groups), exog_vc=exog_vc
            )
            fit = model.fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            logger.warning("MixedLM failed: %s", exc)
            return None
    converged = bool(getattr(fit, "converged", True))
    for w in caught:
        logger.debug("MixedLM: %s: %s", w.category.__name__, w.message)
        if issubclass(w.category, ConvergenceWarning) and "converge" in str(w.message).lower():
            converged = False
    names = list(exog.columns)
    ci = fit.conf_int(alpha=alpha).loc[names]
    table = pd.DataFrame(
        {"estimate": fit.fe_params.loc[names], "ci_low": ci.iloc[:, 0], "ci_high": ci.iloc[:, 1],
         "p_value": fit.pvalues.loc[names]}
    )  # fmt: skip
    return table, converged


def _design(data: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Intercept, the coded factors and all their interactions, named ``a:b:c``."""
    cols: dict[str, np.ndarray] = {"intercept": np.ones(len(data))}
    order = ["condition", "time", "sex"]
    present = [f for f in order if f in factors]
    for k in range(1, len(present) + 1):
        for combo in combinations(present, k):
            cols[":".join(combo)] = np.prod([data[f"_{f}"].to_numpy() for f in combo], axis=0)
    return pd.DataFrame(cols, index=data.index)


def _rows(
    fitted: tuple[pd.DataFrame, bool] | None,
    metabolite: Any,
    subgroup: str,
    n: int,
    analysis: str = "mixedlm",
) -> list[dict[str, Any]]:
    if fitted is None:
        return []
    table, converged = fitted
    return [
        row(
            metabolite,
            analysis,
            TERMS[name],
            subgroup,
            r.estimate,
            (r.ci_low, r.ci_high),
            r.p_value,
            n,
            converged=converged,
        )  # fmt: skip
        for name, r in table.iterrows()
        if name in TERMS
    ]


def _code(df: pd.DataFrame, conditions: tuple[str, str]) -> pd.DataFrame:
    out = df[df["condition"].isin(conditions)].copy()
    out["_condition"] = np.where(out["condition"] == conditions[0], 0.5, -0.5)
    sex = out["sex"].map(normalise_sex)
    out["_sex"] = sex.map({"M": 0.5, "F": -0.5}).astype(float)
    return out


def mixed_response_rows(
    responses: pd.DataFrame, metabolite: Any, conditions: tuple[str, str], alpha: float
) -> list[dict[str, Any]]:
    """Per-session model ``percent_change ~ condition * sex + (1 | participant)``.

    Participants of unknown sex are left out of this model. Rows: analysis ``mixedlm``, terms
    ``condition, sex, condition:sex``, subgroup ``all``, ``n`` = participants.
    """
    data = _code(responses[responses["metabolite"] == metabolite], conditions)
    data = data.dropna(subset=["_sex", "percent_change"])
    n = data["participant_id"].nunique()
    if n < 4 or data["_sex"].nunique() < 2:
        logger.info("%s: too few participants of known sex for the mixed model", metabolite)
        return []
    fitted = fit_mixed(data["percent_change"], _design(data, ["condition", "sex"]),
                       data["participant_id"], alpha=alpha)  # fmt: skip
    return _rows(fitted, metabolite, "all", n)


def _session_cells(data: pd.DataFrame) -> pd.DataFrame:
    """Stage 1: per participant the four cell means ``(condition, window)`` of the % change.

    Returns one row per participant with both conditions and both windows present: columns
    ``ab, ar, rb, rr`` (active/reference x baseline/response window mean, percentage points)
    and ``_sex`` (+1/2, -1/2 or NaN).
    """
    cells = (
        data.groupby(["participant_id", "_condition", "_time"])["percent_change"].mean()
        .unstack(["_condition", "_time"])
    )  # fmt: skip
    names = {(0.5, -0.5): "ab", (0.5, 0.5): "ar", (-0.5, -0.5): "rb", (-0.5, 0.5): "rr"}
    cells = cells.reindex(columns=pd.MultiIndex.from_tuples(list(names))).set_axis(
        list(names.values()), axis=1
    )
    complete = cells.dropna()
    if len(complete) < len(cells):
        logger.info("per-frame model: %d participant(s) without both conditions and both windows "
                    "left out", len(cells) - len(complete))  # fmt: skip
    sex = data.groupby("participant_id")["_sex"].first()
    return complete.assign(_sex=sex.reindex(complete.index))


def _contrasts(cells: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-participant contrasts of the effect-coded 2 x 2 within design (percentage points)."""
    ab, ar, rb, rr = (cells[c].to_numpy(float) for c in ("ab", "ar", "rb", "rr"))
    return {
        "": (ab + ar + rb + rr) / 4,  # participant mean: carries sex
        "condition": ((ab + ar) - (rb + rr)) / 2,
        "time": ((ar + rr) - (ab + rb)) / 2,
        "condition:time": (ar - ab) - (rr - rb),
    }


def _ols_sex(
    y: np.ndarray, sex: np.ndarray, alpha: float
) -> list[tuple[float, float, float, float]]:
    """OLS ``y ~ 1 + sex`` (sex +-1/2), t with ``n - 2`` degrees of freedom.

    Returns ``(estimate, ci_low, ci_high, p_value)`` of the intercept and of the slope.
    """
    x = np.column_stack([np.ones_like(sex), sex])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    df = y.size - 2
    s2 = float(np.sum((y - x @ beta) ** 2)) / df
    se = np.sqrt(s2 * np.diag(np.linalg.inv(x.T @ x)))
    q = sps.t.ppf(1 - alpha / 2, df)
    out = []
    for b, e in zip(beta, se, strict=True):
        p = float(2 * sps.t.sf(abs(b / e), df)) if e > 0 else math.nan
        out.append((float(b), float(b - q * e), float(b + q * e), p))
    return out


def mixed_timecourse_rows(
    timecourses: pd.DataFrame,
    metabolite: Any,
    conditions: tuple[str, str],
    alpha: float,
    *,
    baseline_window: tuple[float | None, float | None] = (None, 0.0),
    response_window: tuple[float | None, float | None] = (0.0, None),
) -> list[dict[str, Any]]:
    """Per-frame ``% change ~ condition * time * sex`` by the two-stage summary-statistics method.

    Each session's time course is normalised to % change from its baseline-window mean; frames
    in the baseline window have ``time = -1/2``, in the response window ``+1/2``, others are left
    out. Stage 1 averages the frames of each session within each window (cell means), so a
    session, not a frame, is the unit of evidence: autocorrelated or drifting frames and
    session-to-session variation of the rise are all carried by the cell means. Stage 2 forms
    per participant the effect-coded within-participant contrasts (mean, ``condition``,
    ``time``, ``condition:time``) and regresses each on sex (+-1/2): the intercept is the term,
    the slope its ``:sex`` interaction (the participant mean's slope is ``sex``), with t
    intervals on ``n - 2`` degrees of freedom (``n - 1`` one-sample t within one sex).

    For complete data (both conditions per participant) these are exactly the fixed effects of
    the linear mixed model with random participant effects on every within-participant contrast
    (intercept, condition, time, condition:time; a random intercept and rise per session nested
    in participant) fitted to the cell means, with exact small-sample t tests instead of Wald z;
    participants without both conditions and both windows are left out (logged). The analysis
    keeps its name ``mixedlm_timecourse``; ``converged`` is always true (closed form).
    The model with sex (subgroup ``all``, known-sex participants) gives all seven terms; a
    model per sex (subgroups ``M``, ``F``) gives ``condition, time, condition:time``.
    """
    tc = timecourses[timecourses["metabolite"] == metabolite]
    tc = percent_change_timecourses(tc, baseline_window=baseline_window)
    base = select_window(tc["time_s"], baseline_window)
    resp = select_window(tc["time_s"], response_window)
    tc = tc[base | resp].assign(_time=np.where(resp[base | resp], 0.5, -0.5))
    data = _code(tc, conditions).dropna(subset=["percent_change"])
    cells = _session_cells(data)
    out: list[dict[str, Any]] = []
    known = cells.dropna(subset=["_sex"])
    sex = known["_sex"].to_numpy(float)
    if len(known) >= 4 and np.unique(sex).size == 2:
        for name, y in _contrasts(known).items():
            for res, term in zip(_ols_sex(y, sex, alpha), (name, f"{name}:sex"), strict=True):
                term = term.strip(":") or "intercept"
                if term in TERMS:
                    out.append(row(metabolite, "mixedlm_timecourse", TERMS[term], "all", res[0],
                                   res[1:3], res[3], len(known), converged=True))  # fmt: skip
    for label, code in zip(SEXES, (0.5, -0.5), strict=True):
        part = cells[cells["_sex"] == code]
        if len(part) < 3:
            continue
        for name, y in _contrasts(part).items():
            if name:
                est, ci, p, n = t_interval(y, alpha)
                out.append(row(metabolite, "mixedlm_timecourse", TERMS[name], label, est, ci, p,
                               n, converged=True))  # fmt: skip
    return out
