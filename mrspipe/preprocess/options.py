"""Options of the preprocessing chain (:func:`~.chain.preprocess_session`).

One frozen dataclass with every default written once; ``[preprocess]`` in ``study.toml`` and
the CLI flags are built from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._options import check_fields, option
from . import average, coil
from . import water as water_removal

__all__ = ["PreprocessOptions"]


@dataclass(frozen=True, kw_only=True)
class PreprocessOptions:
    """Options of :func:`preprocess_session` (all keyword-only; units s, Hz, ppm).

    Attributes
    ----------
    coil_method : {'svd', 'water', 'sum'}
        Coil combination (when there is a ``coil`` axis), see :func:`.coil.combine_coils`.
    eddy_current : bool
        Klose correction when a water (or separate ECC) reference is given.
    remove_water : bool
        HLSVD removal of components in ``water_band``.
    water_band : (float, float), ppm
    hlsvd_components : int
    hlsvd_points : int
    water_model : {'shared', 'per_transient'}
        'shared' (default): after alignment, one HLSVD per series on the mean transient, its
        amplitudes re-fitted per transient by linear least squares (fast);
        'per_transient': a full HLSVD of every transient before alignment.
    align : bool
    align_range : (float, float), ppm
    align_reference : {'median', 'mean'}
    align_n_reference : int or None
        Early transients forming the alignment reference (default all up to 64).
    align_iterations : int
    align_lb_hz : float or None, Hz
    align_window : int
        Register moving averages of this many transients (very low SNR); 1 = single ones.
    align_window_step : int
        Register every this-many-th window only and interpolate the shifts.
    reject : bool
    reject_threshold : float
        Robust z-score limit.
    reference_ppm : bool
        Shift so NAA is at 2.008 and Cr at 3.027 ppm.
    phase : bool
        Zero-order phase so the NAA and Cr singlets are absorptive (after referencing).
    block : int
        Frame = block of this many transients (at most all of them).
    window : int or None
        Sliding-window frames of this many transients, moving by ``step``; replaces ``block``.
    step : int
        Sliding-window step.
    linewidth_match : {'lorentz', 'gauss'} or None
        Broaden the frames to the broadest one.
    qc_fwhm_window : int
        FWHM in the QC table is measured on the moving average of this many aligned
        transients centred on each (a single transient is too noisy for a width).
    rng : int or numpy.random.Generator or None
        For the randomised SVD of HLSVD (fixed seed by default: reproducible output).
    """

    coil_method: str = option(
        "svd",
        "coil combination (when the data have a coil axis): noise-whitened SVD, "
        "water-weighted, or plain sum",
        choices=(*coil.METHODS, "sum"),
    )
    eddy_current: bool = option(
        True, "eddy-current correction (Klose) when a water reference is given"
    )
    remove_water: bool = option(True, "remove residual water with HLSVD")
    water_band: tuple[float, float] = option(
        (4.5, 4.9), "band of the removed HLSVD components, ppm"
    )
    hlsvd_components: int = option(20, "number of HLSVD components", minimum=1)
    hlsvd_points: int = option(256, "points of the HLSVD Hankel matrix", minimum=8, config=False)
    water_model: str = option(
        "shared",
        "HLSVD once on the aligned mean with per-transient amplitudes (fast), or a full "
        "HLSVD of every transient",
        choices=tuple(water_removal.WATER_MODELS),
    )
    align: bool = option(True, "frequency and phase alignment (spectral registration)")
    align_range: tuple[float, float] = option((1.8, 4.2), "band used for the alignment, ppm")
    align_reference: str = option(
        "median", "how the alignment reference is formed", choices=("median", "mean")
    )
    align_n_reference: int | None = option(
        None, "early transients forming the alignment reference", minimum=1, config=False
    )
    align_iterations: int = option(1, "reference refinements", minimum=1, config=False)
    align_lb_hz: float | None = option(
        None, "line broadening before registration, Hz", minimum=0.0, config=False
    )
    align_window: int = option(
        1,
        "align moving averages of this many transients (very low SNR); 1 = single transients",
        minimum=1,
    )
    align_window_step: int = option(
        1, "register every this-many-th window only", minimum=1, config=False
    )
    reject: bool = option(True, "reject outlier transients")
    reject_threshold: float = option(
        4.0, "rejection limit, robust z-score of the transient metrics", minimum=0.5
    )
    reference_ppm: bool = option(True, "shift so NAA is at 2.008 ppm and Cr at 3.027 ppm")
    phase: bool = option(
        True, "zero-order phase so the NAA and Cr singlets are absorptive (after referencing)"
    )
    block: int = option(16, "transients averaged into one frame (non-overlapping)", minimum=1)
    window: int | None = option(
        None,
        "sliding-window length in transients; unset (or 0) = blocks, else replaces block",
        minimum=1,
        off=0,
    )
    step: int = option(1, "sliding-window step in transients", minimum=1)
    linewidth_match: str | None = option(
        None,
        "broaden every frame to the broadest one with this lineshape; unset (or none) = off",
        choices=tuple(average.LINESHAPES),
        off="none",
    )
    qc_fwhm_window: int = option(
        8, "QC FWHM on the moving average of this many transients", minimum=1, config=False
    )
    rng: Any = 0

    def __post_init__(self) -> None:
        check_fields(self)
