"""The fit problem of a data grid and a basis: checks, default macromolecules, precomputation.

:func:`build_problem` checks a basis against the data, puts it on the data's grid, appends
default macromolecule/lipid components when it has none (:func:`with_default_macromolecules`)
and precomputes the :class:`~mrspipe.fit.model.FitProblem` (fit band, baseline smoother,
parameter layout and bounds) that :func:`mrspipe.fit.fit_spectra` and
:func:`mrspipe.fit.fit_dynamic` solve.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping, Sequence

import numpy as np

from ..data import Basis, MRSData
from ..errors import BasisMismatchError, ConfigError
from ..spectral import is_flipped, match_basis
from .baseline import baseline_matrix
from .layout import ParameterLayout
from .lineshape_models import DEFAULT_LINESHAPE
from .lipids import LIPID_PHASES, LIPID_PPM, PHASED_LIPIDS, with_lipid_phase
from .model import MACRO_PATTERNS, FitProblem, resolve_groups
from .options import FitOptions
from .priors import ratio_priors

__all__ = ["build_problem", "with_default_macromolecules", "appends_lipids"]

logger = logging.getLogger("mrspipe")

#: the one place of the fit defaults
_DEFAULT = FitOptions()


def appends_lipids(names: Sequence[str], *, default_macromolecules: bool, lipids: bool) -> bool:
    """Whether :func:`with_default_macromolecules` appends lipid components to these names.

    Only appended lipids can get a phase of their own (``lipid_phase``), so without them
    ``lipid_phase='auto'`` has nothing to decide. For a basis fitted without user groups.
    """
    if not default_macromolecules:
        return False
    own = [n for n in names for p in MACRO_PATTERNS if fnmatch.fnmatchcase(n, p)]
    return not own or (lipids and not any(fnmatch.fnmatchcase(n, "Lip*") for n in own))


def with_default_macromolecules(
    basis: Basis, groups: Mapping[str, Sequence[str]] | None = None, *, lipids: bool = False
) -> tuple[Basis, Mapping[str, Sequence[str]] | None]:
    """Append LCModel's simulated macromolecule and lipid components a basis lacks.

    A basis without macromolecule spectra leaves the macromolecule signal of short-TE in-vivo
    spectra to the baseline, which then also takes broad metabolite signal (glutamate); one
    without lipids leaves lipid contamination to the baseline and the metabolites. As LCModel
    does by default, Gaussian components (:data:`mrspipe.fit.default_mm.LCMODEL_COMPONENTS`,
    widths in ppm) are appended, with a warning:

    * no ``Mac``/``MM*``/``Lip*`` spectrum (nor a user group other than ``"metabolites"``):
      MM09-MM20, Lip09, Lip13a/b and Lip20; unless groups are given they share the metabolites'
      lineshape, as in LCModel (a free macromolecule group broadened into a second baseline
      and took glutamate on LCModel's test spectrum);
    * with ``lipids=True``, macromolecules but no ``Lip*`` (and no user groups): the lipid
      components only, in a lineshape group ``"lipids"`` of their own.

    Returns
    -------
    basis : Basis
        ``basis`` itself when nothing is missing.
    groups : mapping or None
        The lineshape groups to use.
    """
    import dataclasses

    from .default_mm import default_components

    def matches(patterns: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(n, p) for n in basis.names for p in patterns)

    user = [m for g, members in (groups or {}).items() if g != "metabolites" for m in members]
    if matches([*MACRO_PATTERNS, *user]):
        if not lipids or groups is not None or matches(["Lip*"]):
            return basis, groups
        wanted: tuple[str, ...] = ("Lip",)
        new_groups: Mapping[str, Sequence[str]] | None = {
            "macromolecules": [p for p in MACRO_PATTERNS if not p.startswith("Lip")],
            "lipids": ["Lip*"],
        }
    else:
        wanted = ("MM", "Lip")
        new_groups = {} if groups is None else groups
    mm = default_components(basis)
    keep = [i for i, n in enumerate(mm.names) if n.startswith(wanted)]
    # scale to the basis: the components have 1 per proton at t = 0; the basis' own scale per
    # proton is unknown, so match the median first-point amplitude of its spectra
    scale = float(np.median(np.abs(basis.fids[:, 0]))) / float(np.median(np.abs(mm.fids[:, 0])))
    names = tuple(mm.names[i] for i in keep)
    logger.warning(
        "%s has no %s spectra: adding LCModel's simulated components %s "
        "(default_macromolecules=False to fit without)",
        basis.source or "the basis",
        "lipid" if wanted == ("Lip",) else "macromolecule/lipid",
        ", ".join(names),
    )
    out = dataclasses.replace(
        basis,
        names=tuple(basis.names) + names,
        fids=np.concatenate([np.asarray(basis.fids), scale * mm.fids[keep]]),
    )
    return out, new_groups


def build_problem(
    data: MRSData,
    basis: Basis,
    *,
    ppm_range: tuple[float, float] = _DEFAULT.ppm_range,
    baseline: str = _DEFAULT.baseline,
    baseline_order: int = _DEFAULT.baseline_order,
    baseline_knot_spacing: float = _DEFAULT.baseline_knot_spacing,
    baseline_dof: float | None = _DEFAULT.baseline_dof,
    groups: Mapping[str, Sequence[str]] | None = None,
    lineshape: str = DEFAULT_LINESHAPE,
    max_shift_hz: float | None = None,
    max_phase1: float = 2e-3,
    precision: str = "single",
    default_macromolecules: bool = _DEFAULT.default_macromolecules,
    default_lipids: bool = False,
    mm_priors: bool = _DEFAULT.mm_priors,
    lipid_phase: str = _DEFAULT.lipid_phase,
    lipid_group: bool = True,
) -> tuple[FitProblem, Basis]:
    """Check the basis against the data and precompute the fit problem.

    The lineshape model (a key of :data:`mrspipe.fit.lineshape_models.LINESHAPES`) gives the width
    parameters and their bounds; the shift is bounded by ``max_shift_hz`` (Hz, default
    0.25 ppm), the first-order phase by ``max_phase1`` (s). ``lipid_phase`` (one of
    :data:`~.lipids.LIPID_PHASES`) says whether the appended lipid components
    (:data:`~.lipids.PHASED_LIPIDS`) have a phase of their own
    (:func:`~.lipids.with_lipid_phase`): ``'free'``, ``'metabolites'``
    (nonnegative, in phase with the metabolites) or ``'auto'`` (here: free when the fit band
    holds :data:`~.lipids.LIPID_PPM`; :func:`~mrspipe.fit.fit_spectra` first decides ``'auto'``
    on the mean spectrum). Lipids with a phase of their own get a lineshape group ``lipids``
    of their own unless ``groups`` are given or ``lipid_group`` is False (then they keep the
    group :func:`with_default_macromolecules` gave them).

    Returns
    -------
    problem : FitProblem
    basis : Basis
        On the data grid.

    Raises
    ------
    BasisMismatchError
        Nucleus differs, the basis does not cover ``ppm_range``, or it is frequency-flipped.
    ConfigError
        Invalid option values.
    """
    precisions = {"single": np.complex64, "double": np.complex128}
    if precision not in precisions:
        raise ConfigError(f"unknown precision {precision!r}; choose from {sorted(precisions)}")
    lo, hi = (float(v) for v in ppm_range)
    if not lo < hi:
        raise ConfigError(f"ppm_range must be increasing, got {ppm_range}")
    if lipid_phase not in LIPID_PHASES:
        raise ConfigError(f"unknown lipid_phase {lipid_phase!r}; choose from {list(LIPID_PHASES)}")
    if basis.nucleus != data.nucleus:
        raise BasisMismatchError(
            f"basis is for {basis.nucleus} but the data are {data.nucleus}", basis.source
        )
    bppm = basis.ppm
    if bppm.min() > lo or bppm.max() < hi:
        raise BasisMismatchError(
            f"basis covers {bppm.min():.2f}..{bppm.max():.2f} ppm, not the fit range "
            f"{lo:g}..{hi:g} ppm",
            basis.source,
        )
    dppm = data.ppm
    if dppm.min() > lo or dppm.max() < hi:
        raise ConfigError(
            f"the data cover {dppm.min():.2f}..{dppm.max():.2f} ppm, not the fit range "
            f"{lo:g}..{hi:g} ppm"
        )
    assert basis.ppm_reference is not None and data.ppm_reference is not None
    if basis.nucleus == "1H" and is_flipped(
        basis.fids, basis.dwell_time, basis.spectrometer_frequency, basis.ppm_reference
    ):
        raise BasisMismatchError(
            "basis looks frequency-flipped (its metabolite signal is mirrored about the "
            "receiver frequency); conjugate it",
            basis.source,
        )
    sample = data.fids.reshape(-1, data.n_points)[:64]
    sample = sample[np.isfinite(sample).all(axis=1)]
    if (
        data.nucleus == "1H"
        and sample.size
        and is_flipped(sample, data.dwell_time, data.spectrometer_frequency, data.ppm_reference)
    ):
        logger.warning(
            "%s: the data look frequency-flipped (metabolite signal mirrored about "
            "the receiver frequency); the fit will be poor",
            data.source or "data",
        )
    basis = match_basis(basis, data)
    own = len(basis.names)
    user_groups = groups
    if default_macromolecules and basis.nucleus == "1H":
        basis, groups = with_default_macromolecules(basis, groups, lipids=default_lipids)
    free = None
    if lipid_phase == "free" or (lipid_phase == "auto" and lo <= LIPID_PPM <= hi):
        appended = [n for n in basis.names[own:] if n in PHASED_LIPIDS]
        if appended:
            basis, free = with_lipid_phase(basis, appended)
            if lipid_group and user_groups is None and not (groups or {}).get("lipids"):
                # out-of-voxel lipid is broad and off-resonance: its own shift and widths
                groups = {**(groups or {}), "lipids": list(np.asarray(basis.names)[free])}
    # lipids with a phase of their own: the priors tie their complex amplitudes (priors.py)
    priors = ratio_priors(basis.names, basis.names[own:]) if mm_priors else None
    if mm_priors and priors is None:
        logger.warning(
            "mm_priors: no macromolecule/lipid components were appended (the basis has its "
            "own, or default_macromolecules is off); fitted without ratio priors"
        )
    n = data.n_points
    fit_band = np.flatnonzero((dppm >= lo) & (dppm <= hi))
    if fit_band.size < 16:
        raise ConfigError(f"only {fit_band.size} points in the fit range {lo:g}..{hi:g} ppm")
    band = np.fft.fftshift(np.arange(n))[fit_band]
    bl, bl_solve, u, d = baseline_matrix(
        dppm[fit_band],
        kind=baseline,
        order=baseline_order,
        knot_spacing_ppm=baseline_knot_spacing,
        effective_dof=baseline_dof,
    )
    group_names, group_of = resolve_groups(basis.names, groups)
    layout = ParameterLayout.of(lineshape, group_names)
    if max_shift_hz is None:
        max_shift_hz = 0.25 * data.spectrometer_frequency
    lower, upper = layout.bounds(max_shift_hz=max_shift_hz, max_phase1=max_phase1)
    problem = FitProblem(
        basis_fids=np.asarray(basis.fids, dtype=np.complex128),
        t=data.time_s,
        band=band,
        freq=data.freq_hz[fit_band],
        ppm=dppm[fit_band],
        group_of=group_of,
        layout=layout,
        baseline=bl,
        baseline_solve=bl_solve,
        u=u,
        w=1.0 - np.sqrt(1.0 - d),
        lower=lower,
        upper=upper,
        dtype=precisions[precision],
        priors=priors,
        free=free,
    )
    return problem, basis
