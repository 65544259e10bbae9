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
sum ``Lip13a + Lip13b`` (LCModel combines them the same way). With lipids that have a phase of
their own (:mod:`~.lipids`: in-phase part ``L`` and 90-degree part ``L_90``) a lipid ratio
ties both parts (the complex amplitudes), with ``c_ref`` the modulus of the family's complex
amplitude; the ratio of Lip20 (in phase) to Lip13 (a phase of its own) is dropped. Tying the
in-phase parts alone forced an out-of-voxel lipid turned by more than 90 degrees (in-phase
parts negative) towards 0 and moved GABA by +50 %.

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

from .lipids import ROTATED_SUFFIX

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
    partner : (n_prior,) int ndarray, optional
        For a lipid prior with a phase of its own (:mod:`~.lipids`): the index of the same
        prior on the 90-degree parts (-1: none). The pair ties the complex amplitudes, and
        its ``c_ref`` is the modulus of the family's complex amplitude (the in-phase part
        alone is negative or 0 when the lipid is turned by more than 90 degrees).
    """

    rows: np.ndarray
    reference: np.ndarray
    labels: tuple[str, ...]
    partner: np.ndarray | None = None

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
        ref = conc @ self.reference.T  # (F, n_prior)
        if self.partner is not None:
            pair = self.partner >= 0
            ref[:, pair] = np.hypot(ref[:, pair], ref[:, self.partner[pair]])
        ref = np.maximum(ref, floor[:, None])
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

    def rotated(members: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(m + ROTATED_SUFFIX for m in members)

    families: dict[tuple[str, ...], list[tuple[tuple[str, ...], float]]] = {}
    kept: list[tuple[tuple[str, ...], tuple[str, ...], float, float]] = []
    twins: list[tuple[int, int]] = []
    for num, den, ratio, sd in RATIO_PRIORS:
        tied = num + den
        if not all(n in index for n in tied):
            continue
        has_90 = [m + ROTATED_SUFFIX in index for m in tied]
        if any(has_90) and not all(has_90):
            continue  # a ratio of a lipid with a phase of its own to one in phase: none
        kept.append((num, den, ratio, sd))
        families.setdefault(den, []).append((num, ratio))
        if all(has_90):  # the same ratio of the 90-degree parts: complex amplitudes tied
            twins.append((len(kept) - 1, len(kept)))
            kept.append((rotated(num), rotated(den), ratio, sd))
            families.setdefault(rotated(den), []).append((rotated(num), ratio))
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
    partner = None
    if twins:
        partner = np.full(len(kept), -1)
        for a, b in twins:
            partner[a], partner[b] = b, a
    return RatioPriors(rows=rows, reference=reference, labels=labels, partner=partner)
