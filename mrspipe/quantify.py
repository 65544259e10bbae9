"""Quantification: metabolite ratios and water-scaled concentrations.

* :func:`ratios`: concentration ratios to ``tCr`` or ``tNAA`` (or any metabolite/sum) with
  their SD propagated from the CRLB covariance (first-order, covariances included).
* :func:`water_scaled`: millimolar concentrations from an unsuppressed water reference with
  T1/T2 relaxation corrections and, optionally, GM/WM/CSF volume fractions (Gasparovic et al.
  2006)::

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

from dataclasses import dataclass

import numpy as np

from ._options import check_fields, option
from .data import Basis, MRSData
from .errors import ConfigError
from .uncertainty import ratio_sd

__all__ = [
    "QuantifyOptions",
    "ratio_sd",
    "PURE_WATER_MM",
    "WATER_DENSITY",
    "WATER_RELAXATION_3T",
    "ratios",
    "relaxation_factor",
    "fit_water",
    "water_scaled",
]

#: molar concentration of pure water, mM
PURE_WATER_MM = 55510.0
#: relative water density (content) of each tissue class (Gasparovic et al. 2006; Ernst 1993)
WATER_DENSITY: dict[str, float] = {"gm": 0.78, "wm": 0.65, "csf": 0.97}
#: water (T1, T2) at 3 T, s (Wansapura et al. 1999; Piechnik et al. 2009; Lu et al. 2005)
WATER_RELAXATION_3T: dict[str, tuple[float, float]] = {
    "gm": (1.82, 0.099),
    "wm": (1.08, 0.069),
    "csf": (4.16, 0.503),
}


@dataclass(frozen=True, kw_only=True)
class QuantifyOptions:
    """Water scaling of the concentrations (the defaults of :func:`water_scaled`; s, mM).

    Attributes
    ----------
    metabolite_t1, metabolite_t2 : float, s
    water_concentration : float or None, mM
    water_content : float
    water_protons : float
    """

    metabolite_t1: float = option(1.3, "metabolite T1, s", minimum=0.0, config=False)
    metabolite_t2: float = option(0.16, "metabolite T2, s", minimum=0.0, config=False)
    water_concentration: float | None = option(
        None,
        "NMR-visible water concentration with relaxation included, mM; unset = tissue model",
        minimum=0.0,
        config=False,
    )
    water_content: float = option(
        0.7, "relative water density of the tissue (no fractions given)", minimum=0.0, config=False
    )
    water_protons: float = option(2.0, "protons per water molecule", minimum=1.0, config=False)

    def __post_init__(self) -> None:
        check_fields(self)


_DEFAULT = QuantifyOptions()


def ratios(result, *, reference: str = "tCr", metabolites=None) -> dict[str, dict[str, np.ndarray]]:  # noqa: ANN001
    """Concentration ratios to a reference metabolite or sum, with propagated SD.

    Parameters
    ----------
    result : FitResult
    reference : str
        ``'tCr'``, ``'tNAA'`` or any metabolite/sum name of ``result``.
    metabolites : sequence of str, optional
        Numerators (default: every metabolite and sum except the reference).

    Returns
    -------
    dict of str to dict
        ``{name: {"ratio": (n_frames,), "sd": (n_frames,)}}``;
        ``var(a/b) = (a/b)^2 (var_a/a^2 + var_b/b^2 - 2 cov_ab/(a b))``.
    """
    names = list(result.names + result.sum_names) if metabolites is None else list(metabolites)
    names = [n for n in names if n != reference]
    out = {}
    for name in names:
        vals, cov = result.combination([name, reference])
        r, sd = ratio_sd(vals[:, 0], vals[:, 1], cov[:, 0, 0], cov[:, 1, 1], cov[:, 0, 1])
        out[name] = {"ratio": r, "sd": sd}
    return out


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
    from .fit import fit_spectra

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
    )
    return res.estimates[:, 0]


def water_scaled(
    estimates: np.ndarray,
    water_area: float | np.ndarray,
    *,
    te: float,
    tr: float | None = None,
    fractions: dict[str, float] | None = None,
    metabolite_t1: float = _DEFAULT.metabolite_t1,
    metabolite_t2: float = _DEFAULT.metabolite_t2,
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
    tr : float, s, optional
        Repetition time (None: fully relaxed).
    fractions : dict, optional
        Volume fractions ``{"gm": ..., "wm": ..., "csf": ...}`` summing to 1.
    metabolite_t1, metabolite_t2 : float, s
    water_relaxation : dict of tissue to (T1, T2), s
        Default :data:`WATER_RELAXATION_3T`.
    water_density : dict of tissue to float
        Default :data:`WATER_DENSITY`.
    water_concentration : float, mM, optional
        NMR-visible water concentration with relaxation included (overrides the tissue model
        when ``fractions`` is None).
    water_content : float
        Relative water density of the tissue when neither fractions nor
        ``water_concentration`` is given (water relaxation from the GM values).
    water_protons : float

    Returns
    -------
    (..., n_met) float ndarray, mM
        Per tissue volume excluding CSF when fractions are given.
    """
    relax = WATER_RELAXATION_3T if water_relaxation is None else water_relaxation
    density = WATER_DENSITY if water_density is None else water_density
    r_m = relaxation_factor(te, tr, metabolite_t1, metabolite_t2)
    if fractions is not None:
        unknown = set(fractions) - set(density)
        if unknown or set(fractions) - set(relax):
            raise ConfigError(f"unknown tissue classes {sorted(unknown)}; use gm, wm, csf")
        total = sum(fractions.values())
        if not np.isclose(total, 1.0, atol=1e-3) or min(fractions.values()) < 0:
            raise ConfigError(f"tissue fractions must be >= 0 and sum to 1, got {fractions}")
        f_csf = fractions.get("csf", 0.0)
        if f_csf >= 1.0:
            raise ConfigError("the voxel is all CSF; no tissue to quantify")
        visible = sum(
            f * density[t] * relaxation_factor(te, tr, *relax[t]) for t, f in fractions.items()
        )
        water_mm = PURE_WATER_MM * visible / (1.0 - f_csf)
    elif water_concentration is not None:
        water_mm = float(water_concentration)
    else:
        water_mm = PURE_WATER_MM * water_content * relaxation_factor(te, tr, *relax["gm"])
    area = np.asarray(water_area, dtype=float)[..., None]
    return np.asarray(estimates, dtype=float) / area * water_protons * water_mm / r_m
