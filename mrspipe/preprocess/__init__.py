"""Preprocessing of time-resolved MRS: every transient, vectorised, with a QC table.

Each step works on ``(..., n_points)`` arrays and can be used alone; :func:`preprocess_session`
chains them on an :class:`~mrspipe.data.MRSData`.
"""

from .align import AlignResult, align_transients, register_to_reference
from .average import average_frames, frame_windows, match_linewidths
from .chain import QC_COLUMNS, PreprocessOptions, PreprocessResult, preprocess_session
from .coil import coil_weights, combine_coils, noise_covariance, whitening_matrix
from .ecc import eddy_current_correct, water_phase
from .measure import estimate_fwhm, estimate_snr, noise_sd, peak_position, ppm_mask
from .reference import REFERENCE_PEAKS, find_reference_offset, reference_ppm
from .reject import find_bad_transients, robust_z
from .water import WATER_MODELS, hlsvd, hlsvd_model, remove_water, remove_water_shared

__all__ = [
    "AlignResult",
    "PreprocessOptions",
    "PreprocessResult",
    "QC_COLUMNS",
    "REFERENCE_PEAKS",
    "align_transients",
    "average_frames",
    "coil_weights",
    "combine_coils",
    "eddy_current_correct",
    "estimate_fwhm",
    "estimate_snr",
    "find_bad_transients",
    "find_reference_offset",
    "frame_windows",
    "hlsvd",
    "hlsvd_model",
    "match_linewidths",
    "noise_covariance",
    "noise_sd",
    "peak_position",
    "ppm_mask",
    "preprocess_session",
    "reference_ppm",
    "register_to_reference",
    "remove_water",
    "remove_water_shared",
    "WATER_MODELS",
    "robust_z",
    "water_phase",
    "whitening_matrix",
]
