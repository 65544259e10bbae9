"""Public names importable before this session's module splits (at 9d365a9) still are.

The splits moved code to new modules (fit/finish.py, io/peaks.py, dynamic/linewidth.py, ...)
and the old modules re-export what they listed in ``__all__``. Exceptions: the names that
left ``mrspipe.dynamic.glm`` (for ``dynamic/linewidth.py``) and ``mrspipe.dynamic.timecourses``
(for ``dynamic/windows.py``), whose new modules import the old ones (a re-export would be an
import cycle, which tests/test_import_graph.py forbids); they stay importable from
``mrspipe.dynamic``.
"""

from __future__ import annotations

import importlib

import pytest

#: module -> its ``__all__`` at 9d365a9
BEFORE_SPLITS: dict[str, tuple[str, ...]] = {
    "mrspipe.fit.fitting": (
        "fit_spectra", "build_problem", "with_default_macromolecules", "BACKENDS",
    ),
    "mrspipe.io.sanity": (
        "Finding", "CHECKS", "check_mrs", "check_timing", "check_ppm_reference",
        "check_orientation", "check_reference", "estimate_ppm_offset", "errors_of",
        "looks_like_water",
    ),
    "mrspipe.io.derivatives": (
        "SessionPaths", "session_paths", "file_fingerprint", "fingerprint_matches", "read_done",
        "write_done", "write_session_table", "read_session_table", "save_preprocessed",
        "write_errors", "write_group_table", "write_run_info", "is_output_folder",
        "remove_group_outputs", "remove_partial_files", "GROUP_TABLES", "OUTPUT_NAMES",
        "SIDECARS", "TABLE_NAMES", "generated_by",
    ),
    "mrspipe.dynamic.glm": (
        "GLMResult", "fit_glm", "ar1_reml", "prais_winsten", "glm_timecourses",
    ),
    "mrspipe.dynamic.timecourses": (
        "TIMECOURSE_COLUMNS", "RESPONSE_COLUMNS", "DEFAULT_RATIOS", "infusion_event",
        "infusion_onset", "normalise_sex", "add_ratios", "session_timecourses", "select_window",
    ),
    "mrspipe.dynamic": (
        "LinewidthCorrection", "linewidth_correction", "percent_change_timecourses",
        "window_responses", "sliding_window_correlation",
    ),
    "mrspipe.simulate.study": (
        "simulate_study", "simulate_session", "DEFAULT_CONCENTRATIONS", "DEFAULT_RESPONSE",
    ),
    "mrspipe.io.bids": (
        "Session", "find_sessions", "read_participants", "read_sessions_table", "read_events",
        "write_dataset_description", "write_participants", "write_sessions_table",
        "write_session", "write_phenotype", "BIDS_VERSION",
    ),
    "mrspipe.preprocess.chain": (
        "PreprocessOptions", "PreprocessResult", "preprocess_session", "QC_COLUMNS",
    ),
    "mrspipe.preprocess.align": (
        "AlignResult", "register_to_reference", "align_transients", "REFERENCES",
    ),
    "mrspipe.pipeline.session": (
        "SessionOptions", "SessionResult", "run_session", "clear_basis_cache",
    ),
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(BEFORE_SPLITS))
def test_names_public_before_the_splits_still_import(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [n for n in BEFORE_SPLITS[module] if not hasattr(mod, n)]
    assert not missing, f"{module} lost {missing}"
