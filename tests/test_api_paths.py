"""Public names importable before this session's module splits (at 9d365a9) still are.

The splits moved code to new modules (fit/finish.py, io/peaks.py, dynamic/linewidth.py, ...)
and the old modules re-export what they listed in ``__all__``. One exception:
``LinewidthCorrection``/``linewidth_correction`` left ``mrspipe.dynamic.glm`` for
``mrspipe.dynamic.linewidth``, which imports ``glm`` (a re-export would be an import cycle,
which tests/test_import_graph.py forbids); they stay importable from ``mrspipe.dynamic``.
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
    "mrspipe.dynamic": ("LinewidthCorrection", "linewidth_correction"),
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
