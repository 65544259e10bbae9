"""Options of the fitting layer: :class:`FitOptions`, the one place of their defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._options import check_fields, option
from ..errors import ConfigError
from .lineshape_models import DEFAULT_LINESHAPE, LINESHAPES

__all__ = ["FitOptions"]


@dataclass(frozen=True, kw_only=True)
class FitOptions:
    """How a session's frames are fitted (``[fit]`` in ``study.toml``; units ppm).

    :func:`mrspipe.fit.fit_spectra` and :func:`mrspipe.fit.fit_dynamic` take their keyword
    defaults from here; :meth:`spectra_kwargs` gives the keywords of ``fit_spectra``.

    Attributes
    ----------
    backend : {'numpy', 'lmfit'}
    ppm_range : (float, float), ppm
    baseline : {'spline', 'poly'}
    baseline_knot_spacing : float, ppm
    baseline_order : int
    baseline_dof : float, optional
    lineshape : str
        A key of :data:`mrspipe.fit.lineshape_models.LINESHAPES`; ``'kernel'``: a free
        lineshape kernel estimated on the mean of the frames and folded into the basis
        (:mod:`mrspipe.fit.lineshape`), a Voigt per frame on top.
    default_macromolecules : bool
    mm_priors : bool
        Soft priors on the ratios of the appended components (:mod:`mrspipe.fit.priors`).
    lipid_phase : {'auto', 'free', 'metabolites'}
        Phase of the appended lipid components (:func:`mrspipe.fit.problem.with_lipid_phase`).
    lipid_phase_scope : {'participant', 'session', 'study'}
        With ``lipid_phase='auto'``, where ``mrspipe run`` decides it: once for all sessions
        of a participant (the default: a crossover's sessions are compared with one model),
        once for the study, or per session. Not a ``fit_spectra`` keyword (one data set).
    baseline_stiffness : {'fixed', 'ftest'}
        ``'ftest'``: the spline baseline's stiffness chosen by an F-test on the mean of the
        frames (:mod:`mrspipe.fit.stiffness`; not with an MM-free basis).
    dynamic : bool
        Fit the frames of a session jointly (the pipeline's choice; not a ``fit_spectra``
        keyword).
    metabolites : tuple of str
        Basis metabolites to fit; empty = all (applied to the basis by the caller).
    constant_metabolites : tuple of str
        With ``dynamic``: metabolites whose concentration is one value shared by all frames
        of a session (an assumption: see ``docs/methods/dynamic-fitting.md``).
    """

    backend: str = option("numpy", "fitting engine", choices=("numpy", "lmfit"))
    ppm_range: tuple[float, float] = option((0.2, 4.2), "fitted chemical-shift range, ppm")
    baseline: str = option(
        "spline",
        "baseline model: regularised cubic B-spline or Legendre polynomial",
        choices=("spline", "poly"),
    )
    baseline_knot_spacing: float = option(
        0.3, "spline baseline knot spacing, ppm", minimum=0.01, maximum=5.0
    )
    baseline_order: int = option(2, "polynomial baseline order", minimum=0)
    baseline_dof: float | None = option(
        None,
        "effective degrees of freedom of the spline baseline over the band (per real/imaginary "
        "part); unset = 1.25 per ppm (mrspipe.fit.model.BASELINE_DOF_PER_PPM)",
        minimum=1.0,
        config=False,
    )
    lineshape: str = option(
        DEFAULT_LINESHAPE,
        "lineshape model of every group: voigt, lorentz, kernel (a free kernel estimated on "
        "the mean of the frames, LCModel-like, folded into the basis with a Voigt per frame on "
        "top) or one added with mrspipe.fit.register_lineshape",
    )
    default_macromolecules: bool = option(
        True,
        "append LCModel's simulated macromolecule and lipid components to a basis without any",
    )
    mm_priors: bool = option(
        False,
        "tie the appended macromolecule/lipid components by LCModel's expected ratios "
        "(soft priors with an SD)",
    )
    lipid_phase: str = option(
        "auto",
        "phase of the appended lipid components: free (each a free complex amplitude: "
        "out-of-voxel lipid), metabolites (nonnegative, in phase with the metabolites) or auto "
        "(free when the mean spectrum's lipid is out of phase, p < 0.001, and the fitted range "
        "holds the 1.3 ppm lipid)",
        choices=("auto", "free", "metabolites"),
    )
    lipid_phase_scope: str = option(
        "participant",
        "with lipid_phase auto, mrspipe run decides it once for all sessions of a participant "
        "(participant: free for all of them when any session's lipid is out of phase, so a "
        "crossover's sessions are compared with one model), once for the study (study), or per "
        "session (session: two sessions of one participant may get different models)",
        choices=("participant", "session", "study"),
    )
    baseline_stiffness: str = option(
        "fixed",
        "spline baseline stiffness: fixed (baseline_dof, default 1.25 per ppm) or the stiffest "
        "one an F-test on the mean of the frames allows (not with an MM-free basis)",
        choices=("fixed", "ftest"),
    )
    dynamic: bool = option(
        False,
        "fit all frames of a session jointly (spectro-temporal) instead of frame by frame; it "
        "has no mm_priors, kernel lineshape, ftest stiffness or free lipid phase (warned, "
        "fitted without, recorded so)",
    )
    metabolites: tuple[str, ...] = option(
        (), "basis metabolites to fit; empty = every metabolite of the basis"
    )
    constant_metabolites: tuple[str, ...] = option(
        (),
        "with dynamic: basis metabolites held at one concentration for the whole session "
        "(e.g. Gln, GABA: a smaller Glu error, but a real change of theirs leaks into Glu); "
        "empty = every concentration free per frame",
    )

    def __post_init__(self) -> None:
        check_fields(self)
        if self.lineshape not in LINESHAPES:  # the registry is open: checked here, not by option()
            raise ConfigError(
                f"[fit] lineshape: expected one of {', '.join(map(repr, LINESHAPES))} (or one "
                f"added with mrspipe.fit.register_lineshape), got {self.lineshape!r}"
            )
        if self.baseline_stiffness == "ftest" and self.baseline != "spline":
            raise ConfigError(
                "[fit] baseline_stiffness = 'ftest' needs baseline = 'spline' (the F-test "
                f"chooses the spline's stiffness), got baseline = {self.baseline!r}"
            )

    def spectra_kwargs(self) -> dict[str, Any]:
        """Keywords of :func:`mrspipe.fit.fit_spectra` (not the pipeline's ``dynamic`` keys)."""
        return {
            "backend": self.backend,
            "ppm_range": self.ppm_range,
            "baseline": self.baseline,
            "baseline_order": self.baseline_order,
            "baseline_knot_spacing": self.baseline_knot_spacing,
            "baseline_dof": self.baseline_dof,
            "lineshape": self.lineshape,
            "default_macromolecules": self.default_macromolecules,
            "mm_priors": self.mm_priors,
            "lipid_phase": self.lipid_phase,
            "baseline_stiffness": self.baseline_stiffness,
        }
