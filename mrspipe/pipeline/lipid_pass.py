"""The first pass of a study run that decides the lipid model per participant or for the study.

See :mod:`~mrspipe.pipeline.lipid_scope` for the rule; this module runs it on the run's workers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .._logging import progress
from ..fit.lipids import LIPID_PPM
from ..fit.options import FitOptions
from ..fit.problem import appends_lipids
from .lipid_scope import LipidPlan, plan_lipids
from .session import SessionResult
from .steps import Steps, default_fit, default_lipid_test

__all__ = ["decide_lipids", "lipid_pass_needed"]

logger = logging.getLogger("mrspipe")


def lipid_pass_needed(fit: FitOptions, steps: Steps, basis: Any = None) -> bool:
    """Whether the run decides ``lipid_phase='auto'`` per participant/study (a first pass).

    Not for ``lipid_phase_scope='session'``, a fixed ``lipid_phase``, the joint dynamic fit
    (lipids in phase), an injected fit step without its own ``lipid_test`` step, or when
    there is nothing to decide: the band lacks the 1.28 ppm lipid, or ``basis`` (its names)
    gets no lipid component appended (it has macromolecules of its own).
    """
    if fit.lipid_phase != "auto" or fit.lipid_phase_scope == "session" or fit.dynamic:
        return False
    lo, hi = sorted(fit.ppm_range)
    if not lo <= LIPID_PPM <= hi:
        return False
    names = getattr(basis, "names", None)
    if names is not None and not appends_lipids(
        names, default_macromolecules=fit.default_macromolecules, lipids=False
    ):
        return False
    if steps.lipid_test is None:
        return False
    return not (steps.lipid_test is default_lipid_test and steps.fit is not default_fit)


def decide_lipids(
    workers: Any, sessions: Sequence[Any], fit: FitOptions, steps: Steps
) -> tuple[dict[tuple[str, str | None], LipidPlan], list[SessionResult]]:
    """Preprocess every session once, test its lipid, and decide one model per group.

    Parameters
    ----------
    workers : Workers
        The run's workers (:meth:`~.executor.Workers.prepare`).
    sessions : sequence of Session
    fit : FitOptions
    steps : Steps

    Returns
    -------
    plans : dict of (participant_id, session_id) to LipidPlan
        Empty when :func:`lipid_pass_needed` is False (each session decides for itself).
    failed : list of SessionResult
        Sessions that failed in the first pass (not run again; the others go on).
    """
    if not lipid_pass_needed(fit, steps, workers.basis):
        return {}, []
    results = list(progress(workers.prepare(sessions), total=len(sessions), desc="preprocess"))
    failed = [r for r in results if not r.ok]
    tests = {
        (r.participant_id, r.session_id): dict(r.summary.get("lipid_test") or {})
        for r in results
        if r.ok
    }
    plans = plan_lipids(tests, fit.lipid_phase_scope)
    n_free = sum(1 for p in plans.values() if p.model == "free")
    logger.info(
        "lipid model decided per %s: %d of %d sessions with the lipid phase free",
        fit.lipid_phase_scope,
        n_free,
        len(plans),
    )
    return plans, failed
