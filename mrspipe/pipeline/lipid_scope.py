"""One lipid model for all sessions of a participant, or of the study (``lipid_phase_scope``).

``[fit] lipid_phase = 'auto'`` frees the lipid components' phase when a data set's lipid is out
of phase with its metabolites (:func:`mrspipe.fit.lipids.choose_lipid_phase`). Decided per
session, two sessions of one participant (drug and placebo of a crossover) can be fitted with
different models; the model moves the levels (Gln about +10 %, GABA about +17 % when it
switches), so the between-condition comparison of levels would compare models as well.

With ``lipid_phase_scope = 'participant'`` (the default) or ``'study'``, :func:`run_study
<mrspipe.pipeline.run_study>` runs in two passes over the sessions:

1. each session is loaded and preprocessed once, its preprocessed frames and transient QC are
   written, and ``'auto'``'s test is made on the mean of its frames
   (:func:`mrspipe.fit.lipid_phase_test`; ``prepare_session``);
2. :func:`plan_lipids` decides per participant (or for the study): the lipid phase is free for
   every session of the group when **any** session's own test is significant (p < 0.001), else
   in phase; each session is then fitted with that model from its stored preprocessed frames.

Why "any": fitting a free phase that the data do not need costs precision (two more
amplitudes per lipid), not bias; keeping a lipid in phase that is out of phase biases Gln and
GABA by tens of %. A test on the mean of the sessions' spectra would also let two lipids of
different phases cancel. The price of "any" is multiple testing: with ``k`` sessions whose
lipids are in phase, the group is freed with probability ``1 - (1 - 0.001)**k`` (0.2 % for a
two-session crossover, about 4 % for a 40-session study scope), a small loss of precision.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..fit.lipids import OUT_OF_PHASE_P, lipid_record

__all__ = ["LipidPlan", "plan_lipids", "group_key", "SCOPES"]

logger = logging.getLogger("mrspipe")

#: choices of ``[fit] lipid_phase_scope``
SCOPES: tuple[str, ...] = ("participant", "session", "study")


@dataclass(frozen=True)
class LipidPlan:
    """The lipid model one session is fitted with, decided for its participant or the study.

    Attributes
    ----------
    model : {'free', 'metabolites'}
        The model every session of the group is fitted with.
    scope : {'participant', 'study'}
    test : dict
        This session's own test (``phase_rad, chi2, dof, p``; empty: nothing tested).
    freed_by : tuple of str
        The group's sessions (``"<participant> <session>"``) whose own test is significant.
    """

    model: str
    scope: str
    test: dict[str, float] = field(default_factory=dict)
    freed_by: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        """Return the :data:`~mrspipe.fit.lipids.LIPID_RECORD` columns of this session's fit."""
        return lipid_record(self.model, self.scope, self.test)


def group_key(participant_id: str, scope: str) -> str:
    """Return the group a session's lipid model is decided in: participant or ``'study'``."""
    return "study" if scope == "study" else str(participant_id)


def _significant(test: Mapping[str, Any]) -> bool:
    p = test.get("p")
    return p is not None and math.isfinite(float(p)) and float(p) < OUT_OF_PHASE_P


def plan_lipids(
    tests: Mapping[tuple[str, str | None], Mapping[str, float]], scope: str
) -> dict[tuple[str, str | None], LipidPlan]:
    """Decide one lipid model per participant (or for the study) from the sessions' own tests.

    Parameters
    ----------
    tests : mapping of (participant_id, session_id) to dict
        Each prepared session's test (:func:`mrspipe.fit.lipid_phase_test`); failed sessions
        are absent (they neither vote nor get a plan).
    scope : {'participant', 'study'}

    Returns
    -------
    dict of (participant_id, session_id) to LipidPlan
        ``model`` is ``'free'`` for every session of a group when any of its sessions' tests
        is significant (p < :data:`~mrspipe.fit.lipids.OUT_OF_PHASE_P`), else
        ``'metabolites'``.
    """
    groups: dict[str, list[tuple[str, str | None]]] = {}
    for key in tests:
        groups.setdefault(group_key(key[0], scope), []).append(key)
    plans: dict[tuple[str, str | None], LipidPlan] = {}
    for group, keys in groups.items():
        freed = tuple(f"{p} {s or ''}".strip() for p, s in keys if _significant(tests[(p, s)]))
        model = "free" if freed else "metabolites"
        for key in keys:
            plans[key] = LipidPlan(model, scope, dict(tests[key]), freed)
        if freed and len(freed) < len(keys):
            logger.warning(
                "%s: the lipid is out of phase in %s only; all %d of %s sessions are fitted "
                "with the lipid phase free (lipid_phase_scope=%r: one model for their level "
                "comparison)",
                group,
                ", ".join(freed),
                len(keys),
                "the study's" if scope == "study" else "its",
                scope,
            )
    return plans
