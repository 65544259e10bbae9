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
from typing import Any

import numpy as np

from ._options import check_fields, option
from .data import Basis, MRSData
from .errors import ConfigError
from .relaxation import metabolite_relaxation
from .relaxation import water_relaxation as water_relaxation_default
from .uncertainty import ratio_sd

__all__ = [
    "QuantifyOptions",
    "ratio_sd",
    "PURE_WATER_MM",
    "WATER_DENSITY",
    "WATER_RELAXATION_3T",
    "UNITS",
    "metabolite_relaxation_times",
    "concentration_table",
    "describe",
    "ratios",
    "relaxation_factor",
    "fit_water",
    "water_scaled",
]

#: molar concentration of pure water, mM
PURE_WATER_MM = 55510.0
#: relative water density (content) of each tissue class (Gasparovic et al. 2006; Ernst 1993)
WATER_DENSITY: dict[str, float] = {"gm": 0.78, "wm": 0.65, "csf": 0.97}
#: water (T1, T2) at 3 T, s (see :mod:`mrspipe.relaxation` for the sources)
WATER_RELAXATION_3T: dict[str, tuple[float, float]] = water_relaxation_default(3.0)
#: concentration units: molality (mmol per kg tissue water) and molarity (mmol per L tissue)
UNITS = ("molality", "molarity")


@dataclass(frozen=True, kw_only=True)
class QuantifyOptions:
    """Water scaling: whether, in which units, with which tissue fractions and relaxation.

    Attributes
    ----------
    water_scaling : bool
        Write concentrations in mM when a session has a water reference.
    units : {'both', 'molality', 'molarity'}
    tissue_columns : (str, str, str)
        GM, WM and CSF volume-fraction columns of ``participants.tsv``/``sessions.tsv`` (or of
        ``tissue_tsv``); sessions without them are scaled without tissue correction.
    tissue_tsv : str or None
        TSV with ``participant_id`` (and optionally ``session_id``) and the fraction columns.
    metabolite_t1, metabolite_t2 : float or None, s
        One value for every metabolite; unset = the per-metabolite literature table
        (:mod:`mrspipe.relaxation`, nearest field).
    water_concentration : float or None, mM
    water_content : float
    water_protons : float
    """

    water_scaling: bool = option(
        True, "write concentrations (mM) beside the estimates when there is a water reference"
    )
    units: str = option(
        "both",
        "molality (mmol/kg tissue water, Gasparovic eq. 5-7), molarity (mmol/L tissue) or both",
        choices=("both", *UNITS),
    )
    tissue_columns: tuple[str, ...] = option(
        ("gm", "wm", "csf"),
        "GM, WM, CSF volume-fraction columns of participants.tsv/sessions.tsv or tissue_tsv",
    )
    tissue_tsv: str | None = option(
        None,
        "TSV of tissue fractions (participant_id, optional session_id, the tissue_columns); "
        "unset = the columns of participants.tsv/sessions.tsv",
        off="",
    )
    metabolite_t1: float | None = option(
        None,
        "metabolite T1 for every metabolite, s; unset = literature table per metabolite",
        minimum=0.0,
    )
    metabolite_t2: float | None = option(
        None,
        "metabolite T2 for every metabolite, s; unset = literature table per metabolite",
        minimum=0.0,
    )
    water_concentration: float | None = option(
        None,
        "NMR-visible water concentration with relaxation included, mM; unset = tissue model",
        minimum=0.0,
    )
    water_content: float = option(
        0.7, "relative water density of the tissue (no fractions given)", minimum=0.0
    )
    water_protons: float = option(2.0, "protons per water molecule", minimum=1.0, config=False)

    def __post_init__(self) -> None:
        check_fields(self)
        if len(self.tissue_columns) != 3:
            raise ConfigError(
                f"[quantify] tissue_columns needs 3 names (GM, WM, CSF), got {self.tissue_columns}"
            )


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


#: 1H gyromagnetic ratio / 2 pi, MHz/T
GAMMA_1H_MHZ_PER_T = 42.577


def concentration_table(
    fits: object,
    water_area: float,
    *,
    te: float,
    tr: float | None,
    water_te: float | None,
    water_tr: float | None,
    field_t: float | None,
    fractions: dict[str, float] | None,
    options: QuantifyOptions = _DEFAULT,
) -> dict[str, np.ndarray]:
    """Concentration columns for a long ``fits.tsv`` table (one row per frame and metabolite).

    Parameters
    ----------
    fits : pandas.DataFrame
        With ``metabolite``, ``estimate`` and ``crlb_sd`` columns.
    water_area : float
        Water amplitude (:func:`fit_water`), the data's units.
    te, tr, water_te, water_tr : float, s
    field_t : float, T
    fractions : dict or None
        GM/WM/CSF volume fractions.
    options : QuantifyOptions

    Returns
    -------
    dict of str to (n_rows,) ndarray
        ``molality_mmol_kg`` / ``molality_sd`` and/or ``molarity_mm`` / ``molarity_sd``; the SDs
        scale the fit SD (the water amplitude's own error is not included). A sum whose members
        are in the table is the sum of their concentrations (each with its own relaxation); its
        SD is scaled with the main member's factor.
    """
    names = [str(n) for n in dict.fromkeys(fits["metabolite"])]  # type: ignore[index]
    index = np.array([names.index(str(m)) for m in fits["metabolite"]])  # type: ignore[index]
    units = UNITS if options.units == "both" else (options.units,)
    out: dict[str, np.ndarray] = {}
    for unit in units:
        per_unit = water_scaled(
            np.ones((1, len(names))),
            water_area,
            te=te,
            tr=tr,
            names=names,
            field_t=field_t,
            unit=unit,
            water_te=water_te,
            water_tr=water_tr,
            fractions=fractions,
            metabolite_t1=options.metabolite_t1,
            metabolite_t2=options.metabolite_t2,
            water_concentration=options.water_concentration,
            water_content=options.water_content,
            water_protons=options.water_protons,
        )[0][index]
        col = "molality_mmol_kg" if unit == "molality" else "molarity_mm"
        out[col] = _sums_from_members(fits, fits["estimate"].to_numpy(float) * per_unit)  # type: ignore[index]
        out[unit + "_sd"] = fits["crlb_sd"].to_numpy(float) * per_unit  # type: ignore[index]
    return out


def describe(options: QuantifyOptions = _DEFAULT) -> str:
    """One sentence for the report (MRSinMRS 3d): how concentrations were quantified."""
    if not options.water_scaling:
        return "ratios to tCr/tNAA (basis-unit estimates); no water scaling"
    units = "molality and molarity" if options.units == "both" else options.units
    relax = (
        f"metabolite T1 {options.metabolite_t1} s, T2 {options.metabolite_t2} s"
        if options.metabolite_t1 is not None and options.metabolite_t2 is not None
        else "per-metabolite T1/T2 at 3 T (Mlynarik 2001, Wyss 2018; water Wansapura 1999)"
    )
    tissue = (
        f"tissue fractions from {options.tissue_tsv}"
        if options.tissue_tsv
        else f"tissue fractions from columns {', '.join(options.tissue_columns)} when present"
    )
    return (
        f"ratios to tCr/tNAA; with a water reference, water-scaled {units} "
        f"(Gasparovic et al. 2006), {relax}, {tissue}"
    )


def _sums_from_members(fits: Any, conc: np.ndarray) -> np.ndarray:
    """Replace each sum's value by the sum of its members' values in the same source/frame.

    A member that is NaN counts as 0; a source/frame without any member gives NaN.
    """
    import pandas as pd

    from .fit.crlb import SUMS

    names = fits["metabolite"].astype(str).to_numpy()
    if not np.isin(names, list(SUMS)).any():
        return conc
    keys = [c for c in ("source", "frame") if c in fits]
    key = pd.Series("", fits.index)
    for i, column in enumerate(keys):  # vectorised "source#frame" (a row-wise join is slow)
        key = key + ("#" if i else "") + fits[column].astype(str)
    group, labels = pd.factorize(key.to_numpy())
    out = conc.copy()
    for total, members in SUMS.items():
        rows = names == total
        parts = np.isin(names, list(members))
        if not rows.any() or not parts.any():
            continue
        values = np.where(np.isnan(conc[parts]), 0.0, conc[parts])
        summed = np.bincount(group[parts], weights=values, minlength=len(labels))
        found = np.bincount(group[parts], minlength=len(labels)) > 0
        out[rows] = np.where(found[group[rows]], summed[group[rows]], np.nan)
    return out
