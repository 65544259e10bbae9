"""Soft priors on the ratios of the appended macromolecule and lipid components.

LCModel ties its simulated macromolecule and lipid components together by expected amplitude
ratios with a prior SD (its ``CHRATO`` soft constraints), so that a free set of broad Gaussians
cannot take whatever shape the residual asks for (on Osprey's Philips sub-01, free components
came out as MM14 = MM17 = 0.9 tCr with MM09 = MM12 = 0). We add each prior as a penalty row
of the linear least-squares problem::

    z_k = (c_num(k) - r_k c_den(k)) / (sd_k c_ref)    ~ N(0, 1)

weighted by the noise SD ``sigma`` (so that a unit ``z`` costs as much as one standard
deviation of one spectral point: chi-square units). ``c_ref`` is the family's expected
denominator amplitude estimated from all members of the family (sum of the members' amplitudes
over the sum of their expected ratios), which stays positive when the denominator itself is
fitted as 0; ``sigma`` and ``c_ref`` come from a first fit without priors. The rows enter the
normal equations (``G + P^T P``), the cost, and the Fisher information, so the reported SD is
the posterior SD of the penalised estimate.

The ratios and SDs (amplitudes in protons-per-component units, the convention of
:data:`mrspipe.fit.default_mm.LCMODEL_COMPONENTS`) are those of Osprey's re-implementation of
LCModel's default soft constraints (``fit_createSoftConstrOspreyDistributionBased.m``;
Oeltzschner et al. 2020), which follow the LCModel manual's defaults for brain. ``Lip13`` is the
sum ``Lip13a + Lip13b`` (LCModel combines them the same way).

References
----------
Provencher SW. Estimation of metabolite concentrations from localized in vivo proton NMR
spectra. Magn Reson Med 1993;30:672-679.
Provencher SW. LCModel & LCMgui user's manual (2021), sections 11.7 (CHSIMU) and 11.8 (CHRATO).
Oeltzschner G, Zöllner HJ, Hui SCN, et al. Osprey: open-source processing, reconstruction &
estimation of magnetic resonance spectroscopy data. J Neurosci Methods 2020;343:108827.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["RATIO_PRIORS", "RatioPriors", "ratio_priors"]

#: (numerator members, denominator members, expected ratio, prior SD of the ratio)
RATIO_PRIORS: tuple[tuple[tuple[str, ...], tuple[str, ...], float, float], ...] = (
    (("MM12",), ("MM09",), 0.3, 0.1),
    (("MM14",), ("MM09",), 0.75, 0.45),
    (("MM17",), ("MM09",), 0.375, 0.1),
    (("MM20",), ("MM09",), 1.5, 0.375),
    (("Lip09",), ("Lip13a", "Lip13b"), 0.267, 0.1),
    (("Lip20",), ("Lip13a", "Lip13b"), 0.15, 0.07),
)


@dataclass(frozen=True)
class RatioPriors:
    """The prior rows of one basis (component order of the fit problem).

    Attributes
    ----------
    rows : (n_prior, n_met) float ndarray
        ``(e_num - r e_den) / sd`` per prior.
    reference : (n_prior, n_met) float ndarray
        ``reference @ c`` is the denominator amplitude expected from the whole family:
        members' sum over the sum of their expected ratios (denominator 1).
    labels : tuple of str
        ``"MM12/MM09"`` etc.
    """

    rows: np.ndarray
    reference: np.ndarray
    labels: tuple[str, ...]

    def penalty(self, conc: np.ndarray, sigma: np.ndarray, floor: np.ndarray) -> np.ndarray:
        """Penalty rows per frame, ``(n_frames, n_prior, n_met)``.

        Parameters
        ----------
        conc : (n_frames, n_met) float ndarray
            Amplitudes of a first fit (for the family reference ``c_ref``).
        sigma : (n_frames,) float ndarray
            Noise SD of one real spectral value (chi-square units of the rows).
        floor : (n_frames,) float ndarray
            Smallest ``c_ref`` (a family fitted as 0 keeps a finite weight).
        """
        ref = np.maximum(conc @ self.reference.T, floor[:, None])  # (F, n_prior)
        weight = sigma[:, None] / ref
        return weight[:, :, None] * self.rows[None]


def ratio_priors(names: Sequence[str], appended: Sequence[str]) -> RatioPriors | None:
    """Build the priors among the components the fit appended (None when there are none).

    Parameters
    ----------
    names : sequence of str
        All basis names, in the order of the fit problem.
    appended : sequence of str
        The names of the default components appended to the basis (priors only tie those:
        a user's own macromolecule spectra have unknown scales).
    """
    index = {n: i for i, n in enumerate(names) if n in set(appended)}
    families: dict[tuple[str, ...], list[tuple[tuple[str, ...], float]]] = {}
    kept = []
    for num, den, ratio, sd in RATIO_PRIORS:
        if all(n in index for n in num + den):
            kept.append((num, den, ratio, sd))
            families.setdefault(den, []).append((num, ratio))
    if not kept:
        return None
    n_met = len(names)
    rows = np.zeros((len(kept), n_met))
    reference = np.zeros((len(kept), n_met))
    for k, (num, den, ratio, sd) in enumerate(kept):
        for n in num:
            rows[k, index[n]] += 1.0 / sd
        for n in den:
            rows[k, index[n]] -= ratio / sd
        members = families[den]
        total = 1.0 + sum(r for _, r in members)
        for n in den + tuple(m for nums, _ in members for m in nums):
            reference[k, index[n]] = 1.0 / total
    labels = tuple("+".join(num) + "/" + "+".join(den) for num, den, _, _ in kept)
    return RatioPriors(rows=rows, reference=reference, labels=labels)
