"""Water scaling: millimolar concentrations from an unsuppressed water reference.

:func:`water_scaled` applies T1/T2 relaxation corrections and, optionally, GM/WM/CSF volume
fractions (Gasparovic et al. 2006)::

    [M] = (c / A_W) * n_W * [H2O] * (sum_t f_t d_t R_W,t) / ((1 - f_CSF) * R_M)

with ``c`` the fitted amplitude of the metabolite's basis spectrum, ``A_W`` the fitted water
amplitude (:func:`fit_water`, the FID amplitude at t = 0), ``n_W = 2`` water protons,
``[H2O] = 55 510 mM``, ``f_t`` volume fractions, ``d_t`` relative water densities (GM 0.78,
WM 0.65, CSF 0.97) and ``R = exp(-TE/T2) (1 - exp(-TR/T1))``. The basis is assumed to be
normalised per proton (a basis FID's value at t = 0 is its number of protons, as in LCModel
and FSL-MRS bases), so ``c`` is already per molecule. Without fractions, ``[H2O] * d * R_W``
is replaced by ``water_concentration`` if given (mM of NMR-visible water, relaxation
included), else by pure tissue of ``water_content`` (default 0.7 relative density).

References
----------
Gasparovic C, Song T, Devier D, et al. Use of tissue water as a concentration reference for
proton spectroscopic imaging. Magn Reson Med 2006;55:1219-1226.
"""

from __future__ import annotations

import numpy as np

from ..data import GAMMA_1H_MHZ_PER_T, Basis, MRSData
from ..errors import ConfigError
from ..relaxation import metabolite_relaxation
from ..relaxation import water_relaxation as water_relaxation_default
from .options import UNITS, QuantifyOptions

__all__ = [
    "PURE_WATER_MM",
    "WATER_DENSITY",
    "WATER_RELAXATION_3T",
    "GAMMA_1H_MHZ_PER_T",
    "relaxation_factor",
    "fit_water",
    "metabolite_relaxation_times",
    "water_scaled",
]

#: molar concentration of pure water, mM
PURE_WATER_MM = 55510.0
#: relative water density (content) of each tissue class (Gasparovic et al. 2006; Ernst 1993)
WATER_DENSITY: dict[str, float] = {"gm": 0.78, "wm": 0.65, "csf": 0.97}
#: water (T1, T2) at 3 T, s (see :mod:`mrspipe.relaxation` for the sources)
WATER_RELAXATION_3T: dict[str, tuple[float, float]] = water_relaxation_default(3.0)

#: the defaults (declared once, on QuantifyOptions)
_DEFAULT = QuantifyOptions()


def relaxation_factor(te: float, tr: float | None, t1: float, t2: float) -> float:
    """Signal fraction ``exp(-TE/T2) * (1 - exp(-TR/T1))`` (TR None: fully relaxed), s."""
    saturation = 1.0 if tr is None else 1.0 - np.exp(-tr / t1)
    return float(np.exp(-te / t2) * saturation)


def fit_water(
    water: MRSData, *, ppm_range: tuple[float, float] = (3.9, 5.4), water_ppm: float = 4.65
) -> np.ndarray:
    """Amplitude of the water peak of every frame of an unsuppressed reference.

    The water resonance is fitted as one Voigt line (shift, widths, phases free) plus a
    constant complex baseline over ``ppm_range``, with the batched solver of
    :mod:`mrspipe.fit`; the amplitude is the fitted FID value at t = 0.

    Returns
    -------
    (n_frames,) float ndarray
        In the data's units; frames that could not be fitted are NaN.
    """
    from ..fit import fit_spectra

    assert water.ppm_reference is not None
    t = water.time_s
    fid = np.exp(2j * np.pi * (water_ppm - water.ppm_reference) * water.spectrometer_frequency * t)
    basis = Basis(
        names=("H2O",),
        fids=fid[None],
        dwell_time=water.dwell_time,
        spectrometer_frequency=water.spectrometer_frequency,
        nucleus=water.nucleus,
        ppm_reference=water.ppm_reference,
    )
    res = fit_spectra(
        water,
        basis,
        ppm_range=ppm_range,
        baseline="poly",
        baseline_order=0,
        groups={},
        precision="double",
        default_macromolecules=False,  # water alone: no appended MM/lipid components
    )
    return res.estimates[:, 0]


def metabolite_relaxation_times(
    names: list[str] | tuple[str, ...] | None,
    n_met: int,
    *,
    field_t: float | None = None,
    t1: float | None = None,
    t2: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-metabolite (T1, T2), s: a given value for all, else the literature table by name.

    Returns
    -------
    t1, t2 : (n_met,) float ndarray, s
        From :func:`mrspipe.relaxation.metabolite_relaxation` at the field nearest ``field_t``
        (generic values for a name not in the table or when ``names`` is None).
    """
    looked = [metabolite_relaxation(n, field_t) for n in (names or ["?"] * n_met)]
    if len(looked) != n_met:
        raise ConfigError(f"{len(looked)} names for {n_met} metabolites")
    t1s = np.array([r.t1 if t1 is None else t1 for r in looked], dtype=float)
    t2s = np.array([r.t2 if t2 is None else t2 for r in looked], dtype=float)
    return t1s, t2s


def _relax(te: float, tr: float | None, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    saturation = 1.0 if tr is None else 1.0 - np.exp(-tr / t1)
    return np.asarray(np.exp(-te / t2) * saturation, dtype=float)


def water_scaled(
    estimates: np.ndarray,
    water_area: float | np.ndarray,
    *,
    te: float,
    tr: float | None = None,
    names: list[str] | tuple[str, ...] | None = None,
    field_t: float | None = None,
    unit: str = "molarity",
    water_te: float | None = None,
    water_tr: float | None = None,
    fractions: dict[str, float] | None = None,
    metabolite_t1: float | None = None,
    metabolite_t2: float | None = None,
    water_relaxation: dict[str, tuple[float, float]] | None = None,
    water_density: dict[str, float] | None = None,
    water_concentration: float | None = _DEFAULT.water_concentration,
    water_content: float = _DEFAULT.water_content,
    water_protons: float = _DEFAULT.water_protons,
) -> np.ndarray:
    """Millimolar concentrations from fitted amplitudes and a water reference.

    Parameters
    ----------
    estimates : (..., n_met) float ndarray
        Fitted amplitudes (basis units, per-proton normalised basis).
    water_area : float or (...,) ndarray
        Water amplitude from the same voxel (:func:`fit_water`), same units as the data.
    te : float, s
        Echo time of the metabolite data.
    tr : float, s, optional
        Repetition time of the metabolite data (None: fully relaxed).
    names : sequence of str, optional
        Metabolite (or sum) names, for the per-metabolite relaxation table.
    field_t : float, T, optional
        Field strength choosing the relaxation table (None: 3 T).
    unit : {'molarity', 'molality'}
        mmol per litre of tissue, or mmol per kg of tissue water (Gasparovic et al. 2006 eq. 5-7:
        volume fractions become water-mole fractions ``f_t d_t / sum f d``).
    water_te, water_tr : float, s, optional
        Of the water reference (default ``te``/``tr``).
    fractions : dict, optional
        Volume fractions ``{"gm": ..., "wm": ..., "csf": ...}`` summing to 1.
    metabolite_t1, metabolite_t2 : float, s, optional
        One value for every metabolite (default: the literature table by name).
    water_relaxation : dict of tissue to (T1, T2), s
        Default: :func:`mrspipe.relaxation.water_relaxation` at ``field_t``.
    water_density : dict of tissue to float
        Default :data:`WATER_DENSITY`.
    water_concentration : float, mM, optional
        NMR-visible water concentration (molar) with relaxation included; overrides the tissue
        model when ``fractions`` is None (molality: divided by ``water_content``).
    water_content : float
        Relative water density of the tissue when no fractions are given (water relaxation
        from the GM values).
    water_protons : float

    Returns
    -------
    (..., n_met) float ndarray, mM (molarity) or mmol/kg (molality)
        Per tissue volume (tissue water) excluding CSF when fractions are given.
    """
    if unit not in UNITS:
        raise ConfigError(f"unit must be one of {UNITS}, got {unit!r}")
    est = np.asarray(estimates, dtype=float)
    relax = water_relaxation_default(field_t) if water_relaxation is None else water_relaxation
    density = WATER_DENSITY if water_density is None else water_density
    w_te = te if water_te is None else water_te
    w_tr = tr if water_tr is None else water_tr
    t1, t2 = metabolite_relaxation_times(
        names, est.shape[-1], field_t=field_t, t1=metabolite_t1, t2=metabolite_t2
    )
    r_m = _relax(te, tr, t1, t2)
    if fractions is not None:
        unknown = set(fractions) - set(density)
        if unknown or set(fractions) - set(relax):
            raise ConfigError(f"unknown tissue classes {sorted(unknown)}; use gm, wm, csf")
        total = sum(fractions.values())
        if not np.isclose(total, 1.0, atol=1e-3) or min(fractions.values()) < 0:
            raise ConfigError(f"tissue fractions must be >= 0 and sum to 1, got {fractions}")
        if fractions.get("csf", 0.0) >= 1.0:
            raise ConfigError("the voxel is all CSF; no tissue to quantify")
        if unit == "molality":
            water = sum(f * density[t] for t, f in fractions.items())
            weights = {t: f * density[t] / water for t, f in fractions.items()}
        else:
            weights = {t: f * density[t] for t, f in fractions.items()}
        visible = sum(w * relaxation_factor(w_te, w_tr, *relax[t]) for t, w in weights.items())
        # metabolites are absent from CSF: divide by the non-CSF volume (molarity) or the
        # non-CSF water-mole fraction (molality)
        f_csf = weights.get("csf", 0.0) if unit == "molality" else fractions.get("csf", 0.0)
        water_mm = PURE_WATER_MM * visible / (1.0 - f_csf)
    elif water_concentration is not None:
        water_mm = float(water_concentration)
        if unit == "molality":
            water_mm /= water_content
    else:
        content = 1.0 if unit == "molality" else water_content
        water_mm = PURE_WATER_MM * content * relaxation_factor(w_te, w_tr, *relax["gm"])
    area = np.asarray(water_area, dtype=float)[..., None]
    return est / area * water_protons * water_mm / r_m
