"""The answer to the study's question, read from the ``stats`` table: rows and plain sentences.

Which rows of ``stats.tsv`` answer the question is decided here and only here
(:data:`ROLES`), by analysis, term and subgroup names, so the statistics can add or rename
analyses without the report printing the wrong row:

* crossover design (two conditions): the ``<active>-<control>`` contrast of the primary
  metabolite overall and by sex, then the ``condition:sex`` interaction;
* task design (no condition contrast): the response against baseline overall and by sex, then
  the sex difference.

Each role lists the analyses that may hold it in order of preference; the first present wins,
subgroup by subgroup. The test named in the sentence is the row's ``test`` column when the
statistics give one, else the analysis in words. Only pandas is
used (imported inside the functions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .tables import MISSING, fmt_number

__all__ = ["ROLES", "SUBGROUPS", "AnswerRow", "Answer", "find_answer", "primary_metabolite"]

#: role -> (analyses in order of preference, term or None = the condition contrast)
ROLES: dict[str, tuple[tuple[str, ...], str | None]] = {
    # the period-adjusted paired contrast first when the statistics provide it by name
    "contrast": (
        # ``paired`` is the period-adjusted contrast once the statistics adjust for period;
        # the plain (sensitivity) and GLM versions only when nothing else is there
        (
            "paired_period",
            "period_adjusted",
            "paired",
            "crossover",
            "mixedlm",
            "paired_unadjusted",
            "glm_paired",
        ),
        None,
    ),
    "interaction": (
        (
            "interaction",
            "mixedlm",
            "mixedlm_timecourse",
            "interaction_unadjusted",
            "glm_interaction",
            "paired",
        ),
        "condition:sex",
    ),
    "response": (("response", "one_sample", "condition_mean"), None),
    "sex_difference": (("sex_difference", "response", "interaction", "mixedlm"), "M-F"),
}
#: subgroups in the order the answer states them, with their words
SUBGROUPS: dict[str, str] = {"all": "all participants", "M": "males", "F": "females"}
#: terms that name a sex difference in a task design (alternatives to ``M-F``)
_SEX_TERMS = ("M-F", "sex", "male-female")
#: analyses never read as the answer (effect sizes, baseline levels, clinical scores, ...)
_NOT_ANSWERS = (
    "clinical",
    "clinical_response",
    "clinical_crossover",
    "clinical_effect_size",
    "correlation",
    "effect_size",
    "baseline",
)
#: words for the analyses, for the sentences
ANALYSIS_WORDS: dict[str, str] = {
    "paired": "paired t-test",
    "paired_period": "period-adjusted paired t-test",
    "period_adjusted": "period-adjusted paired t-test",
    "crossover": "2×2 crossover t-test (Jones–Kenward)",
    "mixedlm": "linear mixed model",
    "mixedlm_timecourse": "two-stage time-course model",
    "interaction": "Welch t-test of the paired differences, males vs females",
    "response": "one-sample t-test",
    "one_sample": "one-sample t-test",
    "condition_mean": "one-sample t-test",
    "sex_difference": "Welch t-test, males vs females",
}


@dataclass(frozen=True)
class AnswerRow:
    """One row of the answer: a stats row and the sentence stating it."""

    role: str
    subgroup: str
    analysis: str
    term: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n: Any
    extra_p: dict[str, float]
    sentence: str


@dataclass
class Answer:
    """The answer section: the primary outcome and the rows found for it."""

    metabolite: str | None
    design: str  # 'crossover' or 'task'
    contrast_words: str
    rows: list[AnswerRow] = field(default_factory=list)

    def role(self, role: str) -> list[AnswerRow]:
        """Rows of one role (``contrast``, ``interaction``, ``response``, ``sex_difference``)."""
        return [r for r in self.rows if r.role == role]


def _num(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x


def primary_metabolite(stats: Any, design: dict[str, Any]) -> str | None:
    """Return the primary outcome: ``design['primary']``, else a ``primary`` row, else the first.

    Returns None when the stats table is empty.
    """
    if design.get("primary"):
        return str(design["primary"])
    if stats is None or not len(stats) or "metabolite" not in stats.columns:
        return None
    if "primary" in stats.columns:
        marked = stats[stats["primary"].astype(str).str.lower().isin(("true", "1", "yes"))]
        if len(marked):
            return str(marked["metabolite"].iloc[0])
    metabolites = design.get("metabolites") or []
    present = [str(m) for m in stats["metabolite"].dropna().unique()]
    for m in metabolites:
        if str(m) in present:
            return str(m)
    return present[0] if present else None


def _fmt(x: float) -> str:
    """Two decimals (three significant figures below 0.01), with a true minus sign."""
    if not math.isfinite(x):
        return MISSING
    s = f"{x:.2f}" if abs(x) >= 0.01 or x == 0 else f"{x:.2g}"
    return s.replace("-", "−")


def _p_text(p: float, extra: dict[str, float]) -> str:
    if not math.isfinite(p):
        return "p not computed"
    text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    words = {"p_perm": "permutation p", "p_holm": "Holm-adjusted p", "q_bh": "BH q"}
    more = [
        f"{words[k]} {'< 0.001' if v < 0.001 else f'= {v:.3f}'}"
        for k, v in extra.items()
        if math.isfinite(v)
    ]
    return "; ".join([text, *more])


def _sentence(role: str, subgroup: str, row: dict[str, Any], what: str, outcome: str) -> str:
    est, lo, hi = row["estimate"], row["ci_low"], row["ci_high"]
    ci = (
        f"95 % CI {_fmt(lo)} to {_fmt(hi)}"
        if math.isfinite(lo) and math.isfinite(hi)
        else "no confidence interval"
    )
    n = row["n"]
    n_text = f"n = {fmt_number(n)}" if n is not None and _num(n) == _num(n) else "n unknown"
    p = _p_text(row["p_value"], row["extra_p"])
    how = row.get("test") or ANALYSIS_WORDS.get(row["analysis"], row["analysis"])
    if role in ("contrast", "response"):
        who = SUBGROUPS.get(subgroup, subgroup)
        return (
            f"{what}, {who} ({n_text}): {outcome} {_fmt(est)} percentage points ({ci}; {p}; {how})."
        )
    return f"{what} ({n_text}): {_fmt(est)} percentage points ({ci}; {p}; {how})."


def find_answer(
    stats: Any,
    *,
    conditions: list[str],
    design: dict[str, Any],
) -> Answer:
    """Find the rows answering the study's question and word them.

    Parameters
    ----------
    stats : pandas.DataFrame or None
        The ``stats`` table (``metabolite, analysis, term, subgroup, estimate, ci_low,
        ci_high, p_value, n``; optional ``p_perm, p_holm, q_bh, primary``).
    conditions : list of str
        Conditions, active first; fewer than two means a task design (response vs baseline).
    design : dict
        The report design (``primary``, ``metabolites``; ``design == 'task'`` marks a task
        design whatever the condition labels).

    Returns
    -------
    Answer
        With no rows when the table holds none of the roles.
    """
    metabolite = primary_metabolite(stats, design)
    crossover = len(conditions) >= 2 and design.get("design") != "task"
    contrast_words = f"{conditions[0]} − {conditions[1]}" if crossover else "response − baseline"
    answer = Answer(metabolite, "crossover" if crossover else "task", contrast_words)
    if metabolite is None or stats is None or not len(stats):
        return answer
    need = {"metabolite", "analysis", "term", "estimate"}
    if not need <= set(stats.columns):
        return answer
    rows = stats[
        (stats["metabolite"].astype(str) == metabolite)
        & ~stats["analysis"].astype(str).isin(_NOT_ANSWERS)
    ]
    subgroup = (
        rows["subgroup"].astype(str)
        if "subgroup" in rows.columns
        else rows["analysis"].map(lambda _: "all")
    )
    outcome = f"{metabolite} response"
    plan: list[tuple[str, str | None, str]]
    if crossover:
        contrast_term = f"{conditions[0]}-{conditions[1]}"
        plan = [("contrast", contrast_term, g) for g in SUBGROUPS]
        plan.append(("interaction", "condition:sex", "all"))
        what = {"contrast": contrast_words.capitalize(), "interaction": ""}
        what["interaction"] = f"Condition × sex interaction (males − females of {contrast_words})"
    else:
        plan = [("response", None, g) for g in SUBGROUPS]
        plan.append(("sex_difference", None, "all"))
        what = {
            "response": "Response − baseline",
            "sex_difference": "Sex difference of the response (males − females)",
        }
    for role, term, group in plan:
        analyses, role_term = ROLES[role]
        for analysis in analyses:
            # a sex difference may sit in subgroup ``all`` or ``M-F``
            groups = (group, "M-F") if role == "sex_difference" else (group,)
            sel = rows[(rows["analysis"].astype(str) == analysis) & subgroup.isin(groups)]
            if role == "sex_difference":
                sel = sel[sel["term"].astype(str).isin(_SEX_TERMS)]
            elif role == "response":
                sel = sel[~sel["term"].astype(str).isin((*_SEX_TERMS, "dz"))]
            else:
                sel = sel[sel["term"].astype(str) == (term or role_term)]
            if not len(sel):
                continue
            rec = sel.iloc[0]
            extra = {k: _num(rec[k]) for k in ("p_perm", "p_holm", "q_bh") if k in sel.columns}
            test = rec.get("test")
            row = {
                "analysis": analysis,
                "test": str(test) if isinstance(test, str) and test.strip() else None,
                "estimate": _num(rec["estimate"]),
                "ci_low": _num(rec.get("ci_low")),
                "ci_high": _num(rec.get("ci_high")),
                "p_value": _num(rec.get("p_value")),
                "n": rec.get("n"),
                "extra_p": extra,
            }
            answer.rows.append(
                AnswerRow(
                    role=role,
                    subgroup=group,
                    analysis=analysis,
                    term=str(rec["term"]),
                    estimate=row["estimate"],
                    ci_low=row["ci_low"],
                    ci_high=row["ci_high"],
                    p_value=row["p_value"],
                    n=row["n"],
                    extra_p=extra,
                    sentence=_sentence(role, group, row, what[role], outcome),
                )
            )
            break
    return answer
