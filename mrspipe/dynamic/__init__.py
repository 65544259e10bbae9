"""Dynamic (functional) MRS: time courses, windows, regressors and a GLM on time courses.

The tidy tables exchanged with :mod:`mrspipe.stats` and :mod:`mrspipe.report`:

* ``timecourses``: ``participant_id, session_id, condition, sex, frame, time_s, metabolite,
  estimate, crlb_sd`` (``time_s`` in s relative to the first infusion onset);
* ``responses``: ``participant_id, session_id, condition, sex, metabolite, baseline, response,
  percent_change``.
"""

from __future__ import annotations

from ..design import (
    REGRESSORS,
    boxcar,
    check_design,
    design_matrix,
    drift,
    exponential,
    hrf,
    hrf_boxcar,
    ramp,
)
from .ar1 import ar1_reml
from .glm import GLMResult, fit_glm, glm_timecourses
from .linewidth import LinewidthCorrection, linewidth_correction
from .options import GLMOptions, PoolingOptions, Windows
from .timecourses import (
    DEFAULT_RATIOS,
    RESPONSE_COLUMNS,
    TIMECOURSE_COLUMNS,
    add_ratios,
    infusion_event,
    infusion_onset,
    normalise_sex,
    select_window,
    session_timecourses,
)
from .windows import (
    WEIGHTINGS,
    percent_change_timecourses,
    sliding_window_correlation,
    window_responses,
)

__all__ = [
    "Windows",
    "GLMOptions",
    "PoolingOptions",
    "TIMECOURSE_COLUMNS",
    "RESPONSE_COLUMNS",
    "DEFAULT_RATIOS",
    "WEIGHTINGS",
    "REGRESSORS",
    "infusion_event",
    "infusion_onset",
    "normalise_sex",
    "add_ratios",
    "session_timecourses",
    "select_window",
    "window_responses",
    "sliding_window_correlation",
    "percent_change_timecourses",
    "boxcar",
    "ramp",
    "exponential",
    "hrf",
    "hrf_boxcar",
    "drift",
    "design_matrix",
    "check_design",
    "GLMResult",
    "fit_glm",
    "ar1_reml",
    "glm_timecourses",
    "LinewidthCorrection",
    "linewidth_correction",
]
