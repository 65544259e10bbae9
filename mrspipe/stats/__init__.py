"""Group statistics for crossover designs on the tidy ``responses``/``timecourses`` tables.

:func:`crossover_stats` runs everything and returns the ``stats`` table: ``metabolite, analysis,
term, subgroup, estimate, ci_low, ci_high, p_value, n`` plus ``p_perm`` (within-participant
permutation), ``p_holm`` and ``q_bh`` (across metabolites within each analysis/term/subgroup),
``primary``, ``test`` (the one test behind ``p_value``), ``df`` and, on effect-size rows,
``d_av`` and ``d_rm``. One contrast, one row.

=========================  ==============================  ========================================
analysis                   term                            meaning
=========================  ==============================  ========================================
``condition_mean``         ``<condition>``                 mean % change, one-sample t
``paired``                 ``<active>-<reference>``        THE paired contrast: period-adjusted
                                                           (Jones-Kenward) when the order is known
``paired_unadjusted``      ``<active>-<reference>``        plain paired difference (sensitivity)
``interaction``            ``condition:sex``               paired contrast in M minus in F
``interaction_unadjusted`` ``condition:sex``               Welch on plain differences (sensitivity)
``crossover``              ``period``, ``carryover``       Jones-Kenward period and carry-over
``effect_size``            ``dz`` (+ ``d_av``, ``d_rm``)   standardised paired effect (no test)
``baseline``               ``<active>-<reference>``        pre-infusion level, active - reference
``frame_lmm``              ``condition:time``, ...         frame-level LMM, F(1, Satterthwaite df)
``glm_paired``             ``<active>-<reference>``        paired contrast of the GLM response
``glm_interaction``        ``condition:sex``               the same, M minus F
``clinical_response``      ``<cond>@<tp>``, ``<a>-<b>@..`` responder rates; Newcombe, McNemar
``clinical``               ``condition:time@<timepoint>``  paired contrast of the score change
``clinical_crossover``     ``period@..``, ``carryover@..`` period and carry-over of the scores
``clinical_effect_size``   ``dz@..`` (+ ``d_av``, ``d_rm``) standardised score effects
``correlation``            ``pearson:<cond>@<tp>``, ...    glutamate response vs symptom reduction
=========================  ==============================  ========================================

Subgroups are ``all``, ``M`` and ``F``; participants of unknown sex count only in ``all``.
Differences are always active minus reference (``conditions=(active, reference)``) and M minus F.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .options import StatsOptions

if TYPE_CHECKING:
    from ._common import STATS_COLUMNS
    from .clinical import (
        clinical_rows,
        correlation_rows,
        newcombe_paired_interval,
        symptom_changes,
        wilson_interval,
    )
    from .crossover import (
        condition_mean_rows,
        effect_size_rows,
        interaction_rows,
        period_rows,
        treatment_rows,
    )
    from .group import PRIMARY_ANALYSES, adjust_multiplicity, crossover_stats, session_periods

#: public name -> submodule that defines it, imported on first use: the statistics need
#: scipy.stats (~0.4 s), which a study run's start (the configuration imports
#: :class:`StatsOptions`) and its worker processes do not
_LAZY = {
    "STATS_COLUMNS": "_common",
    "clinical_rows": "clinical",
    "correlation_rows": "clinical",
    "newcombe_paired_interval": "clinical",
    "symptom_changes": "clinical",
    "wilson_interval": "clinical",
    "condition_mean_rows": "crossover",
    "effect_size_rows": "crossover",
    "interaction_rows": "crossover",
    "period_rows": "crossover",
    "treatment_rows": "crossover",
    "PRIMARY_ANALYSES": "group",
    "adjust_multiplicity": "group",
    "crossover_stats": "group",
    "session_periods": "group",
}

__all__ = [
    "STATS_COLUMNS",
    "PRIMARY_ANALYSES",
    "StatsOptions",
    "crossover_stats",
    "session_periods",
    "adjust_multiplicity",
    "condition_mean_rows",
    "treatment_rows",
    "interaction_rows",
    "period_rows",
    "effect_size_rows",
    "symptom_changes",
    "clinical_rows",
    "correlation_rows",
    "wilson_interval",
    "newcombe_paired_interval",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
