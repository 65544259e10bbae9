"""Group statistics of a task fMRS design: response against baseline, no drug condition.

One session (or several runs) per participant, each with a baseline and a response window
(e.g. pain blocks against the rest before them). The question is whether the metabolite
changes from baseline in the group, in each sex, and whether the change differs by sex.

=====================  ======================  ==================================================
analysis               term                    meaning
=====================  ======================  ==================================================
``response``           ``response-baseline``   mean % change from baseline, one-sample t
                                               (subgroups ``all``, ``M``, ``F``)
``response``           ``sex``                 % change in M minus in F, Welch t (subgroup
                                               ``M-F``)
=====================  ======================  ==================================================

A participant's sessions (runs) are averaged first, so every participant counts once. Each row
also has ``p_perm``: a permutation p-value (sign flips of the one-sample changes; relabelling
of sex for the difference), all flips enumerated up to 2^16, else ``n_permutations`` random ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ._common import SEXES, STATS_COLUMNS, check_columns, row, t_interval, welch

__all__ = ["task_stats", "TASK_TERM"]

#: the term of the response rows
TASK_TERM = "response-baseline"
_EXACT_LIMIT = 16


def _sign_flip_p(x: np.ndarray, n_permutations: int, rng: np.random.Generator) -> float:
    """Two-sided sign-flip permutation p of the mean of ``x`` (vectorised over flips)."""
    n = x.size
    if n < 2:
        return math.nan
    if n <= _EXACT_LIMIT:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
    else:
        signs = rng.choice((-1.0, 1.0), size=(n_permutations, n))
    means = np.abs(signs @ x) / n
    observed = abs(x.mean())
    extra = 0 if n <= _EXACT_LIMIT else 1  # random flips: count the observed one
    return float((np.sum(means >= observed - 1e-12) + extra) / (len(signs) + extra))


def _label_p(x: np.ndarray, y: np.ndarray, n_permutations: int, rng: np.random.Generator) -> float:
    """Two-sided permutation p of ``mean(x) - mean(y)`` under random relabelling."""
    if x.size < 2 or y.size < 2:
        return math.nan
    pooled = np.concatenate([x, y])
    order = np.argsort(rng.random((n_permutations, pooled.size)), axis=1)
    perm = pooled[order]
    diffs = np.abs(perm[:, : x.size].mean(1) - perm[:, x.size :].mean(1))
    observed = abs(x.mean() - y.mean())
    return float((np.sum(diffs >= observed - 1e-12) + 1) / (n_permutations + 1))


def task_stats(
    responses: pd.DataFrame,
    *,
    metabolites: Sequence[str] | None = None,
    alpha: float = 0.05,
    n_permutations: int = 10000,
    rng: np.random.Generator | int | None = 0,
) -> pd.DataFrame:
    """Response-versus-baseline statistics of a task design, overall and by sex.

    Parameters
    ----------
    responses : DataFrame
        The ``responses`` table: ``participant_id, sex, metabolite, percent_change`` (one row
        per session and metabolite; ``condition`` is ignored).
    metabolites : sequence of str, optional
        Default: every metabolite of ``responses``.
    alpha : float
        1 - confidence level (0.05 -> 95 % intervals).
    n_permutations : int
        Random permutations when exact enumeration is too large.
    rng : numpy.random.Generator, int or None

    Returns
    -------
    DataFrame
        :data:`~mrspipe.stats.STATS_COLUMNS` plus ``p_perm``.

    Raises
    ------
    ConfigError
        Missing columns, unknown metabolites, ``alpha`` outside (0, 1).
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    check_columns(responses, ("participant_id", "sex", "metabolite", "percent_change"), "responses")
    rng = np.random.default_rng(rng)
    mets = list(dict.fromkeys(responses["metabolite"])) if metabolites is None else metabolites
    unknown = set(mets) - set(responses["metabolite"])
    if unknown:
        raise ConfigError(f"metabolites {sorted(unknown)} not in the responses table")
    per = (
        responses.assign(sex=responses["sex"].where(responses["sex"].isin(SEXES)))
        .groupby(["metabolite", "participant_id"], sort=False, dropna=False)
        .agg(percent_change=("percent_change", "mean"), sex=("sex", "first"))
        .reset_index()
    )
    rows: list[dict[str, Any]] = []
    for met in mets:  # a loop over the few metabolites
        sub = per[(per["metabolite"] == met) & np.isfinite(per["percent_change"])]
        values = {"all": sub["percent_change"].to_numpy(float)}
        for sex in SEXES:
            values[sex] = sub.loc[sub["sex"] == sex, "percent_change"].to_numpy(float)
        for group, x in values.items():
            est, ci, p, n = t_interval(x, alpha)
            if n:
                p_perm = _sign_flip_p(x, n_permutations, rng)
                test = f"one-sample t({n - 1}); sign-flip permutation"
                rows.append(
                    row(met, "response", TASK_TERM, group, est, ci, p, n, p_perm=p_perm, test=test)
                )
        m, f = values["M"], values["F"]
        if m.size >= 2 and f.size >= 2:
            est, ci, p, n = welch(m, f, alpha)
            p_perm = _label_p(m, f, n_permutations, rng)
            test = "Welch t-test, males vs females; label permutation"
            rows.append(row(met, "response", "sex", "M-F", est, ci, p, n, p_perm=p_perm, test=test))
    return pd.DataFrame(rows, columns=[*STATS_COLUMNS, "p_perm", "test"])
