"""The finishing step of :func:`~mrspipe.fit.fitting.fit_spectra`: parameters to results.

Per chunk of frames (:func:`finish_frames`): the concentrations (the NNLS at the fitted
nonlinear parameters), their covariance (Fisher matrix with a robust HAC middle, inflated by
the residual's correlation along the spectrum: :mod:`mrspipe.fit.crlb`), SNR, linewidths and
the QC flags. Over all frames (:func:`build_result`): the sums (tNAA, tCr, tCho, Glx) and the
:class:`~mrspipe.fit.result.FitResult`.
"""

from __future__ import annotations

import fnmatch
import logging
from typing import Any

import numpy as np

from ..data import MRSData
from .band import band_derivatives, band_model
from .crlb import canonical, fisher_covariance, hac_variances, sandwich_blocks, sum_weights
from .lipids import out_of_phase
from .model import FitProblem
from .qc import REFERENCE_SINGLETS, residual_inflation, singlet_fwhm, spectrum_fwhm
from .result import FitResult
from .solver import LinearSolution, solve_linear

__all__ = ["finish_frames", "store_chunk", "build_result", "noise_sd", "measured_fwhm"]

logger = logging.getLogger("mrspipe")


def noise_sd(problem: FitProblem, sol: LinearSolution) -> np.ndarray:
    """Noise SD of one real spectral value from the data part of the cost, ``(n_frames,)``."""
    cost = sol.cost if sol.penalty is None else sol.cost - sol.penalty
    n_free = (sol.conc != 0).sum(axis=1) + problem.n_params
    dof = 2.0 * sol.resid.shape[1] - problem.d2.sum() - n_free
    sigma = np.sqrt(np.clip(cost, 0.0, None) / np.maximum(dof, 1.0))
    return np.maximum(sigma, 1e-300)


def measured_fwhm(problem: FitProblem, theta: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """FWHM (Hz) of the fitted reference singlet (NAA, else Cr/PCr) per frame, NaN if none."""
    canon = [canonical(n) for n in names]
    found = [(canon.index(ref), ppm) for ref, ppm in REFERENCE_SINGLETS if ref in canon]
    if not found:
        return np.full(len(theta), np.nan)
    i, peak = found[0]
    no_shift = theta.copy()
    no_shift[:, problem.layout.index("shift")] = 0.0
    cf = float((problem.freq[-1] - problem.freq[0]) / (problem.ppm[-1] - problem.ppm[0]))
    ref = float(problem.ppm[0] - problem.freq[0] / cf)
    bm = band_model(problem) if np.dtype(problem.dtype) == np.complex64 else None
    if bm is not None:  # the zero-filled spectrum over the band from the low-rank model
        spec, freq = bm.zero_filled(no_shift, i)
        return spectrum_fwhm(spec.real, freq, freq / cf + ref, peak_ppm=peak)
    h = problem.lineshapes(no_shift, np.complex128)[:, problem.group_of[i]]
    return singlet_fwhm(
        problem.basis_fids[i],
        h,
        dwell_time=float(problem.t[1] - problem.t[0]),
        spectrometer_frequency=cf,
        ppm_reference=ref,
        peak_ppm=peak,
    )


def finish_frames(
    problem: FitProblem,
    y: np.ndarray,
    theta: np.ndarray,
    conc: np.ndarray | LinearSolution | None,
    names: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Everything reported per frame from the fitted parameters (``conc`` None: NNLS)."""
    n_f, n_k = y.shape
    if isinstance(conc, LinearSolution):
        sol = conc
    else:
        sol = solve_linear(problem, theta, y, conc=conc)
    conc = sol.conc
    phase = problem.phase(theta)
    cols = sol.columns
    coef = problem.baseline_coefficients(sol.resid)
    full_resid = sol.resid - coef @ problem.baseline.T
    d_x = problem.stack(
        band_derivatives(problem, theta, conc, sol.model, full=True, shape=sol.shape)
    )
    d_p = problem.project(d_x)
    x = problem.stack(cols)
    d2 = problem.d2
    # the priors' rows are information on the concentrations (the SD is the posterior one):
    # sol.gram holds P^T P, so both blocks below include it
    fisher, middle = sandwich_blocks(sol.gram, x, sol.proj, d_x, d_p, d2)
    sigma = noise_sd(problem, sol)
    layout = problem.layout
    widths = layout.widths(theta)  # (F, G, n_widths)
    broadening = layout.lineshape.fwhm(widths[:, 0])
    fwhm = measured_fwhm(problem, theta, names)
    df = abs(float(problem.freq[1] - problem.freq[0]))
    width_pts = np.where(np.isfinite(fwhm), fwhm, broadening) / df
    # the HAC window of each frame from its own linewidth (not the chunk's): a frame's SD does
    # not depend on the frames fitted with it
    width_pts = np.where(np.isfinite(width_pts), width_pts, 1.0)
    window = np.clip(np.ceil(2.0 * width_pts), 2, 32).astype(int)
    d = 1.0 - (1.0 - problem.w) ** 2
    r_x = problem.stack(full_resid)

    def robust(a: np.ndarray) -> np.ndarray:
        return hac_variances(a, (x, d_x), (sol.proj, d_p), problem.u, d, r_x, window)

    cov, inflation = fisher_covariance(fisher, middle, sigma, problem.n_met, robust=robust)
    # and globally by the residual's correlation along the spectrum (smooth misfit)
    smooth = residual_inflation(full_resid, window)
    extra = np.maximum(smooth[:, None] / inflation, 1.0)
    cov = cov * np.sqrt(extra[:, :, None] * extra[:, None, :])
    inflation = inflation * extra
    if "NAA" in names:
        i_naa = names.index("NAA")
        unphased = cols[:, i_naa] * phase.conj() * conc[:, i_naa, None]
    else:
        unphased = sol.model * phase.conj()
    peak = unphased.real.max(axis=1)
    mm = np.array([fnmatch.fnmatchcase(n, "MM*") or n == "Mac" for n in names])
    shape_hi = widths >= layout.widths(problem.upper)
    tcr = np.array([n in ("Cr", "PCr") for n in names])
    lipid = out_of_phase(names, problem.basis_fids, conc, cov) if problem.free is not None else None
    return {
        "estimates": conc,
        "covariance": cov,
        "crlb_sd": np.sqrt(np.clip(np.einsum("fii->fi", cov), 0.0, None)),
        "snr": peak / sigma,
        "noise_sd": sigma,
        "fwhm_hz": fwhm,
        "broadening_hz": broadening,
        "sd_inflation": np.sqrt(inflation),
        "at_bound": conc <= 0 if problem.free is None else (conc <= 0) & ~problem.free,
        "mm_at_bound": (mm[None] & (conc <= 0)).any(axis=1) if mm.any() else np.zeros(n_f, bool),
        "lineshape_at_bound": shape_hi.any(axis=(1, 2)),
        "reference_at_bound": (conc[:, tcr] <= 0).all(axis=1) if tcr.any() else np.zeros(n_f, bool),
        "shift_hz": layout.shift(theta)[:, 0],
        "phase_rad": np.angle(np.exp(1j * theta[:, layout.phase0])),
        "residual_rel": np.linalg.norm(full_resid, axis=1) / np.linalg.norm(y, axis=1),
        "lipid_phase_rad": np.full(n_f, np.nan) if lipid is None else lipid.phase,
        "lipid_out_of_phase": np.zeros(n_f, bool) if lipid is None else lipid.flagged,
        "baseline_coef": coef,
        **{f"p_{k}": v for k, v in layout.to_params(theta).items()},
    }


def store_chunk(
    out: dict[str, np.ndarray], part: dict[str, np.ndarray], rows: np.ndarray, n_f: int
) -> None:
    """Copy one chunk's per-frame results into the full arrays of ``out`` (created on first use)."""
    for key, value in part.items():
        if key not in out:
            # frames never fitted (NaN or empty data): NaN numbers, False flags
            fill = False if value.dtype.kind == "b" else np.nan
            out[key] = np.full((n_f,) + value.shape[1:], fill, dtype=value.dtype)
        out[key][rows] = value


def build_result(
    data: MRSData,
    problem: FitProblem,
    names: tuple[str, ...],
    out: dict[str, np.ndarray],
    converged: np.ndarray,
    n_iter: np.ndarray,
    rows_good: np.ndarray,
    fids: np.ndarray,
    *,
    backend: str,
    options: dict[str, Any],
) -> FitResult:
    """Build the :class:`FitResult` of all frames from the stored per-frame results ``out``.

    Parameters
    ----------
    data : MRSData
        The fitted data (frame shape, axes, source for the messages).
    problem : FitProblem
        The problem that was fitted.
    names : tuple of str
        Component names of the (resampled, possibly extended) basis.
    out : dict of str to ndarray
        :func:`finish_frames`' results of every frame (:func:`store_chunk`), ``(n_frames, ...)``.
    converged, n_iter : (n_frames,) ndarray
        Per frame.
    rows_good : (n_good,) int ndarray
        The frames that were fitted.
    fids : (n_frames, n_points) complex ndarray
        The frames, for the result's model and residual spectra.
    backend : str
        The backend that fitted.
    options : dict
        The options recorded in :attr:`FitResult.options`; ``'ppm_range'`` and ``'lineshape'``
        are required (the fitted band and the lineshape model).
    """
    n_bad = int(np.nansum(out["reference_at_bound"][rows_good]))
    if n_bad:
        logger.warning(
            "%s: tCr fitted as 0 in %d of %d frames (implausible: a wrong local optimum or the "
            "wrong basis; ratios to tCr are NaN there; QC column reference_at_bound)",
            data.source or "data",
            n_bad,
            rows_good.size,
        )
    sum_names, weights = sum_weights(names)
    lo, hi = options["ppm_range"]
    params = {k[2:]: v for k, v in out.items() if k.startswith("p_")}
    params["n_iter"] = n_iter
    return FitResult(
        names=names,
        estimates=out["estimates"],
        crlb_sd=out["crlb_sd"],
        covariance=out["covariance"],
        sum_names=sum_names,
        sum_weights=weights,
        snr=out["snr"],
        fwhm_hz=out["fwhm_hz"],
        broadening_hz=out["broadening_hz"],
        sd_inflation=out["sd_inflation"],
        at_bound=out["at_bound"],
        mm_at_bound=out["mm_at_bound"],
        lineshape_at_bound=out["lineshape_at_bound"],
        reference_at_bound=out["reference_at_bound"],
        lipid_phase_rad=out["lipid_phase_rad"],
        lipid_out_of_phase=out["lipid_out_of_phase"],
        shift_hz=out["shift_hz"],
        phase_rad=out["phase_rad"],
        residual_rel=out["residual_rel"],
        converged=converged,
        noise_sd=out["noise_sd"],
        params=params,
        group_names=problem.group_names,
        group_of=problem.group_of,
        lineshape=options["lineshape"],
        baseline_coef=out["baseline_coef"],
        frame_shape=data.fids.shape[:-1],
        dims=data.dims,
        ppm=data.ppm,
        fit_band=np.flatnonzero((data.ppm >= lo) & (data.ppm <= hi)),
        backend=backend,
        options=options,
        _data_fids=fids,
        _basis_fids=problem.basis_fids,
        _baseline=problem.baseline,
        _dwell_time=data.dwell_time,
    )
