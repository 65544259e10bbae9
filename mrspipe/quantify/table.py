"""Concentration columns of a long ``fits.tsv`` table (one row per frame and metabolite)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .options import UNITS, QuantifyOptions
from .water import water_scaled

__all__ = ["concentration_table"]

#: the defaults (declared once, on QuantifyOptions)
_DEFAULT = QuantifyOptions()


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


def _sums_from_members(fits: Any, conc: np.ndarray) -> np.ndarray:
    """Replace each sum's value by the sum of its members' values in the same source/frame.

    A member that is NaN counts as 0; a source/frame without any member gives NaN.
    """
    import pandas as pd

    from ..fit.crlb import SUMS

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
