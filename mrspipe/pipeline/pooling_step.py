"""The study-level stage between the session fits and the group step: pooled neighbours.

``[pooling] metabolites`` (default Gln and GABA): their responses are pooled across the
sessions of each condition and every session's Glu, sums and ratios are conditioned on them
(:func:`mrspipe.dynamic.pooling.pool_neighbours`). The session folders keep each session's own
estimates; the group tables (``group/timecourses``, ``group/responses``), the statistics and
the report use the pooled ones, and ``group/pooling`` lists what was pooled.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ..config import StudyConfig
from ..errors import MRSError
from ..io import derivatives as deriv
from ..io.derivatives import GROUP_TABLES
from .session import SessionResult, bounded_windows, sliding_frames

__all__ = ["pool_study_tables"]

logger = logging.getLogger("mrspipe")


def pool_study_tables(
    out: Any,
    sessions: list[Any],
    results: list[SessionResult],
    tables: dict[str, Any],
    config: StudyConfig,
) -> tuple[dict[str, Any], Any]:
    """``tables`` (``timecourses``, ``responses`` of every finished session) pooled.

    Returns the tables (unchanged when pooling is off or impossible) and the summary table
    (``group/pooling.tsv``; no rows when nothing was pooled). Sessions without a covariance
    table (``covariance.tsv``) or without the pooled metabolites take part unchanged.
    """
    import pandas as pd

    from ..dynamic.pooling import pool_neighbours

    names = config.pooling.metabolites
    tc = tables["timecourses"]
    nothing = pd.DataFrame({c: [] for c in GROUP_TABLES["pooling"][0]})
    if not names or not set(names) & set(tc["metabolite"]):
        return tables, nothing
    covs = []
    for s in sessions:
        paths = deriv.session_paths(out, s.participant_id, s.session_id)
        if not paths.table("covariance").is_file():
            continue
        try:
            cov = deriv.read_session_table(paths, "covariance")
        except (OSError, MRSError) as exc:  # this session's estimates stay its own
            logger.warning(
                "%s %s: no covariance for pooling (%s)", s.participant_id, s.session_id, exc
            )
            continue
        covs.append(cov.assign(participant_id=s.participant_id, session_id=s.session_id))
    if not covs:
        logger.warning("pooling: no session has a covariance table; estimates left as fitted")
        return tables, nothing
    windows = {}
    for r in results:
        if r.ok:
            d = r.summary.get("infusion_duration_s")
            w = bounded_windows(config.windows, math.nan if d is None else float(d))
            windows[(r.participant_id, r.session_id)] = (w.baseline, w.response)
    pooled_tc, responses, summary = pool_neighbours(
        tc,
        pd.concat(covs, ignore_index=True),
        metabolites=names,
        windows=windows,
        min_sessions=config.pooling.min_sessions,
        responses=tables["responses"],
        **sliding_frames(config.preprocess),
    )
    if summary.empty:
        return tables, nothing
    # the responses keep the session tables' columns (water-scaled concentrations, ...)
    cols = list(tables["responses"].columns)
    responses = responses.reindex(columns=cols)
    logger.info(
        "pooled the responses of %s over %d sessions; Glu, sums and ratios conditioned on them",
        ", ".join(summary["metabolite"].unique()),
        int(summary.groupby("condition", dropna=False)["n_sessions"].first().sum()),
    )
    return {"timecourses": pooled_tc, "responses": responses}, summary
