"""Lipid components with a phase of their own (out-of-voxel lipid), and its evidence.

Lipid signal from outside the voxel (the scalp, near the skull) is not refocused like the
voxel's and reaches the spectrum with a phase of its own: on Osprey's Philips sub-01 a 43 Hz
line at 1.14 ppm about 2.5 rad from the metabolites' phase. Nonnegative lipid components in
phase with the metabolites cannot follow its negative lobe, and glutamine and GABA take it.

:func:`with_lipid_phase` gives each appended lipid component ``L`` a second basis spectrum
``1j * L`` (named with :data:`ROTATED_SUFFIX`), both amplitudes free in sign: ``a L + b (1j L)``
is ``L`` with the complex amplitude ``a + 1j b``, any phase, and the model stays linear.
:func:`~mrspipe.fit.problem.build_problem` puts them in a lineshape group of their own (lipid
from outside the shimmed voxel is broad and off-resonance: sub-01's sits 19 Hz below Lip13).
:func:`out_of_phase` measures, per frame, how far the fitted lipid is from one that the in-phase
nonnegative model could give (a Wald statistic on the 90-degree parts and on negative in-phase
parts, with the fit's covariance) and the phase of the whole fitted lipid signal.

References
----------
Provencher SW. LCModel & LCMgui user's manual (2021), section 11.7 (the lipid components).
Kreis R. Issues of spectral quality in clinical 1H-magnetic resonance spectroscopy and a gallery
of artifacts. NMR Biomed 2004;17:361-381 (out-of-voxel lipid signal).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import special

from ..data import Basis

logger = logging.getLogger("mrspipe")

__all__ = [
    "LIPID_PHASES",
    "LIPID_PPM",
    "OUT_OF_PHASE_P",
    "PHASED_LIPIDS",
    "ROTATED_SUFFIX",
    "LipidPhase",
    "LIPID_RECORD",
    "choose_lipid_phase",
    "lipid_record",
    "out_of_phase",
    "with_lipid_phase",
]

#: appended lipid components that get a phase of their own: the 0.9-1.3 ppm lipids (Lip20,
#: under NAA and glutamate, stays in phase: freeing it moved tNAA by 4-6 % on real spectra)
PHASED_LIPIDS: tuple[str, ...] = ("Lip09", "Lip13a", "Lip13b")
#: name suffix of a lipid component's copy turned by 90 degrees (its quadrature part)
ROTATED_SUFFIX = "_90"
#: the lipid phase is only free when the fit band holds this shift (ppm, Lip13's centre): with
#: a band starting at 1.8 ppm, free components outside it cancel each other's tails
LIPID_PPM = 1.28
#: choices of ``lipid_phase``
LIPID_PHASES: tuple[str, ...] = ("auto", "free", "metabolites")
#: ``'auto'`` keeps the free lipid phase when the lipid is out of phase at this p-value
OUT_OF_PHASE_P = 1e-3


def with_lipid_phase(basis: Basis, lipids: Sequence[str]) -> tuple[Basis, np.ndarray]:
    """Give each named lipid component a free complex amplitude (a phase of its own).

    Parameters
    ----------
    basis : Basis
    lipids : sequence of str
        Names of ``basis`` to free (those absent are skipped).

    Returns
    -------
    basis : Basis
        With the rotated copies ``1j * L`` appended, named ``L`` + :data:`ROTATED_SUFFIX`
        (``basis`` itself when none is named).
    free : (n_met,) bool ndarray
        The amplitudes without a sign constraint: the named components and their copies.
    """
    wanted = set(lipids)
    rows = [i for i, n in enumerate(basis.names) if n in wanted]
    if rows:
        fids = np.asarray(basis.fids)
        basis = replace(
            basis,
            names=tuple(basis.names) + tuple(basis.names[i] + ROTATED_SUFFIX for i in rows),
            fids=np.concatenate([fids, 1j * fids[rows]]),
        )
    free = np.zeros(len(basis.names), bool)
    free[rows] = True
    free[len(free) - len(rows) :] = True
    return basis, free


@dataclass(frozen=True)
class LipidPhase:
    """How far the fitted lipid is from an in-phase nonnegative one, per frame.

    Attributes
    ----------
    phase : (n_frames,) float ndarray, rad
        Phase of the whole fitted lipid signal (the sum of the components' complex areas)
        relative to the metabolites; NaN where the lipid is 0.
    chi2 : (n_frames,) float ndarray
        Wald statistic of the 90-degree parts (all of them, with their covariance) plus the
        squared z-scores of negative in-phase parts.
    dof : (n_frames,) int ndarray
        Its degrees of freedom (number of 90-degree parts plus negative in-phase parts).
    p : (n_frames,) float ndarray
        ``chi2``'s upper tail probability.
    z : (n_frames,) float ndarray
        Size of the whole fitted lipid signal (its complex area) over its SD.
    """

    phase: np.ndarray
    chi2: np.ndarray
    dof: np.ndarray
    p: np.ndarray
    z: np.ndarray

    @property
    def flagged(self) -> np.ndarray:
        """``(n_frames,)`` bool: a lipid signal (z > 3) more than pi/4 out of phase (QC)."""
        return (np.abs(np.nan_to_num(self.phase)) > np.pi / 4) & (np.nan_to_num(self.z) > 3.0)


def out_of_phase(
    names: Sequence[str], basis_fids: np.ndarray, conc: np.ndarray, cov: np.ndarray
) -> LipidPhase | None:
    """Evidence of an out-of-phase lipid in fits with :func:`with_lipid_phase` (None: no pair).

    Parameters
    ----------
    names : sequence of str
        Basis names of the fit.
    basis_fids : (n_met, n_points) complex ndarray
        The fit's basis (the first point of a component is its area).
    conc : (n_frames, n_met) float ndarray
    cov : (n_frames, n_met, n_met) float ndarray
        Covariance of ``conc``.
    """
    index = {n: i for i, n in enumerate(names)}
    cut = len(ROTATED_SUFFIX)
    pairs = [
        (index[n[:-cut]], i)
        for n, i in index.items()
        if n.endswith(ROTATED_SUFFIX) and n[:-cut] in index
    ]
    if not pairs:
        return None
    ia, ib = (np.array(v) for v in zip(*pairs, strict=True))
    area = np.abs(np.asarray(basis_fids)[ia, 0])
    a, b = conc[:, ia], conc[:, ib]
    total = (a + 1j * b) @ area
    phase = np.where(np.abs(total) > 0, np.angle(total), np.nan)
    c_bb = cov[:, ib[:, None], ib[None, :]]
    ok = np.isfinite(c_bb).all(axis=(1, 2)) & np.isfinite(b).all(axis=1)
    c_bb = np.where(ok[:, None, None], c_bb, np.eye(ib.size))
    chi2 = np.einsum("fi,fij,fj->f", b, np.linalg.pinv(c_bb, hermitian=True), b)
    var_a = np.einsum("fii->fi", cov[:, ia[:, None], ia[None, :]])
    neg = (a < 0) & (var_a > 0) & np.isfinite(var_a)
    chi2 = chi2 + np.where(neg, a**2 / np.where(neg, var_a, 1.0), 0.0).sum(axis=1)
    dof = ib.size + neg.sum(axis=1)
    chi2 = np.where(ok, chi2, np.nan)
    # the whole lipid's complex area along its own direction, and its SD
    weights = np.zeros((2, conc.shape[1]))
    weights[0, ia], weights[1, ib] = area, area
    c_area = weights @ cov @ weights.T  # (F, 2, 2)
    unit = np.stack([np.cos(np.nan_to_num(phase)), np.sin(np.nan_to_num(phase))], axis=1)
    var = np.einsum("fi,fij,fj->f", unit, c_area, unit)
    z = np.abs(total) / np.sqrt(np.where(var > 0, var, np.nan))
    return LipidPhase(phase=phase, chi2=chi2, dof=dof, p=_chi2_sf(chi2, dof), z=z)


def _chi2_sf(chi2: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """Return ``scipy.stats.chi2.sf(chi2, dof)``: the same values for ``dof >= 1``.

    scipy.special's ``chdtrc`` is that survival function; importing scipy.stats would cost
    every worker process ~0.4 s at its start.
    """
    return np.asarray(special.chdtrc(dof, np.maximum(chi2, 0.0)), dtype=float)


def choose_lipid_phase(
    fit_mean: Callable[[], tuple[Sequence[str], np.ndarray, np.ndarray, np.ndarray]],
    source: str,
) -> tuple[str, dict[str, float]]:
    """Decide ``lipid_phase='auto'``: free when the mean spectrum's lipid is out of phase.

    Parameters
    ----------
    fit_mean : callable
        Fits the mean of the frames with the lipid phase free; returns the basis names, the
        basis FIDs, the estimates ``(1, n_met)`` and their covariance ``(1, n_met, n_met)``.
    source : str
        Named in the warning.

    Returns
    -------
    choice : {'free', 'metabolites'}
        ``'free'`` when :func:`out_of_phase` gives ``p <`` :data:`OUT_OF_PHASE_P`.
    test : dict
        ``phase_rad``, ``chi2``, ``dof``, ``p`` of the mean spectrum (empty: nothing to free).
    """
    names, basis_fids, conc, cov = fit_mean()
    found = out_of_phase(names, basis_fids, conc, cov)
    if found is None:
        return "metabolites", {}
    test = {
        "phase_rad": float(found.phase[0]),
        "chi2": float(found.chi2[0]),
        "dof": float(found.dof[0]),
        "p": float(found.p[0]),
    }
    if not found.p[0] < OUT_OF_PHASE_P:
        logger.info(
            "lipid in phase with the metabolites (out-of-phase p %.2g): lipid components "
            "nonnegative and in phase",
            test["p"],
        )
        return "metabolites", test
    logger.warning(
        "%s: out-of-voxel lipid? The lipid signal is %.1f rad from the metabolites' phase "
        "(chi2 %.1f on %d dof, p %.1g): the lipid components are fitted with a phase of their "
        "own (lipid_phase='auto'; 'metabolites' to keep them in phase)",
        source,
        test["phase_rad"],
        test["chi2"],
        int(test["dof"]),
        test["p"],
    )
    return "free", test


#: the columns that record a fit's lipid model (QC tables, a session's summary; described in
#: the tables' sidecars, :mod:`mrspipe.io.derivative_tables`): the model fitted (``free`` or
#: ``metabolites``), where it was decided (``data``: ``'auto'`` on this data set alone;
#: ``session``/``participant``/``study``: the pipeline's ``[fit] lipid_phase_scope``;
#: ``fixed``: set by the user), this data set's own test's p-value and lipid phase (rad)
LIPID_RECORD: tuple[str, ...] = (
    "lipid_phase_model",
    "lipid_phase_scope",
    "lipid_phase_p",
    "lipid_phase_mean_rad",
)


def lipid_record(model: str, scope: str, test: Mapping[str, float] | None) -> dict[str, Any]:
    """Return the :data:`LIPID_RECORD` values of one fit.

    Parameters
    ----------
    model : {'free', 'metabolites'}
        The lipid model fitted.
    scope : {'data', 'session', 'participant', 'study', 'fixed'}
        Where it was decided.
    test : mapping, optional
        The data set's own test (:func:`choose_lipid_phase`: ``p``, ``phase_rad``).
    """
    test = test or {}
    return {
        "lipid_phase_model": model,
        "lipid_phase_scope": scope,
        "lipid_phase_p": float(test.get("p", np.nan)),
        "lipid_phase_mean_rad": float(test.get("phase_rad", np.nan)),
    }
