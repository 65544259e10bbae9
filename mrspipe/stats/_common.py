"""Shared pieces of the group statistics: table checks, reshaping, small-sample intervals."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from ..dynamic import normalise_sex
from ..errors import ConfigError

__all__ = ["STATS_COLUMNS", "SEXES", "row", "check_columns", "wide_by_condition"]

STATS_COLUMNS = tuple("metabolite analysis term subgroup estimate ci_low ci_high p_value n".split())
SEXES = ("M", "F")


def row(
    metabolite: Any,
    analysis: str,
    term: str,
    subgroup: str,
    estimate: float,
    ci: tuple[float, float] = (math.nan, math.nan),
    p_value: float = math.nan,
    n: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    """One row of the ``stats`` table as a dict."""
    return {
        "metabolite": metabolite,
        "analysis": analysis,
        "term": term,
        "subgroup": subgroup,
        "estimate": float(estimate),
        "ci_low": float(ci[0]),
        "ci_high": float(ci[1]),
        "p_value": float(p_value),
        "n": int(n),
        **extra,
    }


def check_columns(df: pd.DataFrame, required: Iterable[str], what: str) -> None:
    """Raise :class:`ConfigError` naming the missing columns of table ``what``."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ConfigError(f"{what} table lacks columns {missing}")


def check_conditions(df: pd.DataFrame, conditions: Sequence[str]) -> tuple[str, str]:
    """Check the two condition names against the data; return them (active, reference)."""
    if len(conditions) != 2 or conditions[0] == conditions[1]:
        raise ConfigError(f"conditions must be two different names, got {conditions!r}")
    present = set(df["condition"].dropna().astype(str))
    absent = [c for c in conditions if c not in present]
    if absent:
        raise ConfigError(f"conditions {absent} not in the data (found {sorted(present)})")
    return str(conditions[0]), str(conditions[1])


def _natural_key(text: str) -> tuple[Any, ...]:
    return tuple(int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", text))


def wide_by_condition(
    df: pd.DataFrame, conditions: tuple[str, str], *, value: str = "percent_change"
) -> pd.DataFrame:
    """One row per participant with both conditions.

    Returns
    -------
    DataFrame
        Index ``participant_id``; columns ``a, b`` (``value`` in the active and reference
        condition), ``sex`` (``M``/``F``/``NaN``) and ``period_a`` (1 if the active condition
        came first, 2 if second, ``NaN`` when the order is unknown).
    """
    a_name, b_name = conditions
    sub = df[df["condition"].isin(conditions)].copy()
    sub["sex"] = sub["sex"].map(normalise_sex)
    dup = sub.duplicated(["participant_id", "condition"])
    if dup.any():
        pid = sub.loc[dup, "participant_id"].iloc[0]
        raise ConfigError(f"participant {pid} has more than one row for a condition")
    # a condition with no row left (e.g. its sessions were all left out) pairs no one
    vals = sub.pivot(index="participant_id", columns="condition", values=value).reindex(
        columns=list(conditions)
    )
    sex = sub.groupby("participant_id")["sex"].agg(
        lambda s: s.dropna().iloc[0] if s.notna().any() else np.nan
    )
    out = pd.DataFrame({"a": vals[a_name], "b": vals[b_name], "sex": sex})
    out["period_a"] = _period_of_active(sub, a_name)
    return out.dropna(subset=["a", "b"])


def _period_of_active(sub: pd.DataFrame, a_name: str) -> pd.Series:
    """Return the rank (1, 2, ...) of the active session within each participant."""
    unknown = pd.Series(np.nan, index=pd.Index(sub["participant_id"].unique()), dtype=float)
    if "period" in sub.columns:
        keys = pd.to_numeric(sub["period"], errors="coerce")
        if keys.isna().any():
            return unknown
        sort_key: dict[Any, Any] = keys.to_dict()
    elif "session_id" in sub.columns and sub["session_id"].astype(str).str.contains(r"\d").all():
        sort_key = {i: _natural_key(str(s)) for i, s in sub["session_id"].items()}
    else:
        return unknown
    ranks: dict[Any, int] = {}
    for _, grp in sub.groupby("participant_id"):
        for rank, idx in enumerate(sorted(grp.index, key=sort_key.__getitem__), start=1):
            ranks[idx] = rank
    active = sub[sub["condition"] == a_name]
    return pd.Series([ranks[i] for i in active.index], index=active["participant_id"], dtype=float)


def t_interval(x: np.ndarray, alpha: float) -> tuple[float, tuple[float, float], float, int]:
    """Mean, its t confidence interval, the one-sample t-test p-value and n."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return mean, (math.nan, math.nan), math.nan, n
    se = x.std(ddof=1) / math.sqrt(n)
    q = sps.t.ppf(1 - alpha / 2, n - 1)
    p = float(2 * sps.t.sf(abs(mean / se), n - 1)) if se > 0 else math.nan
    return mean, (mean - q * se, mean + q * se), p, n


def welch(
    x: np.ndarray, y: np.ndarray, alpha: float
) -> tuple[float, tuple[float, float], float, int]:
    """Welch two-sample difference ``mean(x) - mean(y)``: estimate, CI, p, total n."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n1, n2 = x.size, y.size
    diff = float(x.mean() - y.mean()) if n1 and n2 else math.nan
    if n1 < 2 or n2 < 2:
        return diff, (math.nan, math.nan), math.nan, n1 + n2
    v1, v2 = x.var(ddof=1) / n1, y.var(ddof=1) / n2
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    q = sps.t.ppf(1 - alpha / 2, df)
    return diff, (diff - q * se, diff + q * se), float(2 * sps.t.sf(abs(diff / se), df)), n1 + n2


def pooled(
    x: np.ndarray, y: np.ndarray, alpha: float, *, scale: float = 1.0
) -> tuple[float, tuple[float, float], float, int]:
    """Pooled-variance two-sample ``scale * (mean(x) - mean(y))``: estimate, CI, p, n."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n1, n2 = x.size, y.size
    diff = scale * float(x.mean() - y.mean())
    df = n1 + n2 - 2
    s2 = ((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / df
    se = abs(scale) * math.sqrt(s2 * (1 / n1 + 1 / n2))
    q = sps.t.ppf(1 - alpha / 2, df)
    return diff, (diff - q * se, diff + q * se), float(2 * sps.t.sf(abs(diff / se), df)), n1 + n2


def cohens_dz(d: np.ndarray, alpha: float) -> tuple[float, tuple[float, float]]:
    """Cohen's d_z = mean/sd of paired differences, with the exact noncentral-t interval.

    References
    ----------
    Steiger JH, Fouladi RT. Noncentrality interval estimation and the evaluation of statistical
    models. In: What if there were no significance tests? 1997. Lakens D. Calculating and
    reporting effect sizes. Front Psychol 2013.
    """
    d = np.asarray(d, dtype=float)
    n = d.size
    sd = d.std(ddof=1) if n > 1 else math.nan
    if n < 2 or not sd > 0:
        return math.nan, (math.nan, math.nan)
    dz = float(d.mean() / sd)
    t_obs, df = dz * math.sqrt(n), n - 1
    # the interval is about t_obs -/+ z sqrt(1 + t_obs^2 / (2 df)); bracket generously
    width = 3.0 * sps.norm.ppf(1 - alpha / 2) * math.sqrt(1 + t_obs**2 / (2 * df)) + 1.0

    def excess(nc: float, prob: float) -> float:
        cdf = sps.nct.cdf(t_obs, df, nc)
        if not np.isfinite(cdf):  # far tails underflow to NaN in scipy: the cdf is ~0 or ~1
            cdf = 0.0 if nc > t_obs else 1.0
        return float(cdf) - prob

    def ncp_at(prob: float) -> float:
        return optimize.brentq(excess, t_obs - width, t_obs + width, args=(prob,))

    return dz, (ncp_at(1 - alpha / 2) / math.sqrt(n), ncp_at(alpha / 2) / math.sqrt(n))


def fisher_ci(r: float, n: int, alpha: float, *, spearman: bool = False) -> tuple[float, float]:
    """Fisher-z interval of a correlation (Bonett-Wright variance for Spearman's rho)."""
    if n < 4 or not np.isfinite(r) or abs(r) >= 1:
        return math.nan, math.nan
    var = (1 + r**2 / 2) / (n - 3) if spearman else 1 / (n - 3)
    z, q = math.atanh(r), sps.norm.ppf(1 - alpha / 2)
    return math.tanh(z - q * math.sqrt(var)), math.tanh(z + q * math.sqrt(var))
