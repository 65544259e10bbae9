"""The result of :func:`mrspipe.fit.fit_dynamic`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from .estimates import Estimates, estimates_table, name_weights

__all__ = ["DynamicFitResult", "TABLE_COLUMNS"]

#: columns of :meth:`DynamicFitResult.table`
TABLE_COLUMNS: tuple[str, ...] = (
    "metabolite",
    "parameter",
    "regressor",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "percent_of_baseline",
    "percent_se",
)


@dataclass(frozen=True, eq=False)
class DynamicFitResult:
    """Response parameters, their covariance and the implied time courses of one session.

    Attributes
    ----------
    names : tuple of str
        Basis metabolites.
    regressors : tuple of str
        Regressors of the concentrations (``("intercept",)`` when declared ``fixed``).
    beta : (n_met, n_reg) float ndarray
        Concentration betas, basis units per unit of regressor; ``beta[:, 0]`` of the
        ``intercept`` is the baseline level.
    beta_cov : (n_met * n_reg, n_met * n_reg) float ndarray
        Their covariance, metabolite-major (``index = m * n_reg + k``).
    modelled : (n_met, n_reg) bool ndarray
        Which betas were fitted; the others (a metabolite declared without that regressor,
        e.g. ``fixed``) are held at 0 with zero variance.
    sum_names : tuple of str
    sum_weights : (n_sums, n_met) float ndarray
    global_names : tuple of str
        Every global unknown, ``"<column>:<regressor>"`` (e.g. ``"lorentz[metabolites]:bold"``,
        ``"conc[Glu]:ramp"``, ``"gauss2[metabolites]:fixed"``).
    global_estimates : (G,) float ndarray
    covariance : (G, G) float ndarray
        Covariance of all global unknowns (the free per-frame ones marginalised).
    timecourses : (n_frames, n_met) float ndarray
        Concentrations of every frame: implied by the design, or fitted per frame for
        metabolites declared ``free``.
    timecourse_sd : (n_frames, n_met) float ndarray
    timecourse_cov : (n_frames, n_met, n_met) float ndarray
        Covariance of the metabolites within each frame (global and free per-frame unknowns
        together; frames of a design share its betas, so their values are correlated across
        frames as well, which this per-frame covariance does not hold).
    theta : (n_frames, n_theta) float ndarray
        Nonlinear parameters of every frame (layout of :mod:`mrspipe.fit.model`).
    column_names : tuple of str
        Names of the per-frame quantities (``theta`` columns, then concentrations).
    residual_norm : (n_frames,) float ndarray
        ``sqrt(Re(r^H (I - S) r))`` of every frame (baseline profiled out).
    noise_sd : float
        Noise SD of the real part of a spectral point, from the residuals of all frames.
    converged : bool
    n_iter : int
    design : pandas.DataFrame
    model : dict
        The validated model spec.
    frame_fit : FitResult or None
        The frame-wise fit used for the start values.
    """

    names: tuple[str, ...]
    regressors: tuple[str, ...]
    beta: np.ndarray
    beta_cov: np.ndarray
    modelled: np.ndarray
    sum_names: tuple[str, ...]
    sum_weights: np.ndarray
    global_names: tuple[str, ...]
    global_estimates: np.ndarray
    covariance: np.ndarray
    timecourses: np.ndarray
    timecourse_sd: np.ndarray
    timecourse_cov: np.ndarray
    theta: np.ndarray
    column_names: tuple[str, ...]
    residual_norm: np.ndarray
    noise_sd: float
    converged: bool
    n_iter: int
    design: pd.DataFrame
    model: dict[str, Any] = field(default_factory=dict)
    frame_fit: Any = None

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.timecourses.shape[0])

    def weights_for(self, name: str) -> np.ndarray:
        """0/1 weights ``(n_met,)`` of a metabolite or a sum."""
        return name_weights(name, self.names, self.sum_names, self.sum_weights)

    def response(self, name: str, regressor: str) -> dict[str, float]:
        """Beta of a metabolite (or sum) on a regressor, and as % of its baseline level.

        Returns
        -------
        dict
            ``estimate, se, percent_of_baseline, percent_se`` (delta method on
            ``100 beta_k / beta_intercept``).
        """
        w = self.weights_for(name)
        k = self.regressors.index(regressor)
        n_r = len(self.regressors)
        est = w @ self.beta
        cov_b = self.beta_cov.reshape(len(w), n_r, len(w), n_r)
        cov = np.einsum("m,mknl,n->kl", w, cov_b, w)
        se = float(np.sqrt(max(cov[k, k], 0.0)))
        out = {
            "estimate": float(est[k]),
            "se": se,
            "percent_of_baseline": np.nan,
            "percent_se": np.nan,
        }
        if "intercept" in self.regressors:
            i0 = self.regressors.index("intercept")
            b0, bk = est[i0], est[k]
            var = cov[k, k] / b0**2 + bk**2 * cov[i0, i0] / b0**4 - 2 * bk * cov[k, i0] / b0**3
            out["percent_of_baseline"] = float(100.0 * bk / b0)
            out["percent_se"] = float(100.0 * np.sqrt(max(var, 0.0)))
        return out

    def table(self, *, level: float = 0.95) -> pd.DataFrame:
        """Tidy table of every response parameter (metabolites and sums) and global parameter.

        Parameters
        ----------
        level : float
            Confidence level of the normal intervals ``ci_low, ci_high``.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`TABLE_COLUMNS`; ``parameter`` is ``conc`` for the concentration
            betas (``percent_of_baseline = 100 beta / beta_intercept`` with its delta-method
            SE) and the class name for the global nonlinear parameters (``metabolite`` then
            names the lineshape group, percent NaN). Shared-baseline coefficients are left out
            (they are in :attr:`global_estimates`).
        """
        z = float(sps.norm.ppf(0.5 + level / 2))
        rows = []
        for name in self.names + self.sum_names:
            w = self.weights_for(name)
            for k, reg in enumerate(self.regressors):
                if not self.modelled[w > 0, k].any():
                    continue  # no member of this metabolite or sum has the regressor
                r = self.response(name, reg)
                rows.append(
                    (
                        name,
                        "conc",
                        reg,
                        r["estimate"],
                        r["se"],
                        r["estimate"] - z * r["se"],
                        r["estimate"] + z * r["se"],
                        r["percent_of_baseline"],
                        r["percent_se"],
                    )
                )
        sd = np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))
        for j, gname in enumerate(self.global_names):
            column, reg = gname.rsplit(":", 1)
            if column.startswith(("conc[", "baseline[")):
                continue
            param, _, group = column.partition("[")
            est = self.global_estimates[j]
            rows.append(
                (
                    group.rstrip("]") or "all",
                    param,
                    reg,
                    est,
                    sd[j],
                    est - z * sd[j],
                    est + z * sd[j],
                    np.nan,
                    np.nan,
                )
            )
        return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))

    def frame_table(self, source: str | None = None) -> pd.DataFrame:
        """Tabulate the implied time courses in the layout of ``FitResult.table``.

        Returns
        -------
        pandas.DataFrame
            ``source, frame, metabolite, estimate, crlb_sd, crlb_percent`` (sums included;
            ``crlb_sd`` is the SD of the frame's concentration: design-implied, or fitted per
            frame for metabolites declared ``free``).
        """
        n_m = len(self.names)
        w = np.concatenate([np.eye(n_m), self.sum_weights.reshape(-1, n_m)])
        names = self.names + self.sum_names
        est = self.timecourses @ w.T
        var = np.einsum("am,fmn,an->fa", w, self.timecourse_cov, w)
        sd = np.sqrt(np.clip(var, 0.0, None))
        return estimates_table(source, names, est, sd)

    def qc_table(self, source: str | None = None) -> pd.DataFrame:
        """Tabulate per-frame QC in the layout of ``FitResult.qc_table``, for the joint fit.

        The frame-wise start fit's columns (SNR, linewidths, shifts, residual, at-bound flags),
        except ``converged``: the joint fit's, the same in every frame, since the tables hold the
        joint fit's estimates. ``joint_converged`` and ``joint_n_iter`` say it explicitly and
        ``start_converged`` keeps the start fit's flag per frame.

        Returns
        -------
        pandas.DataFrame
            One row per frame.
        """
        n_f = self.n_frames
        if self.frame_fit is not None:
            qc = self.frame_fit.qc_table(source=source)
            start = qc["converged"].to_numpy(dtype=bool)
        else:
            qc = pd.DataFrame({"source": [source] * n_f, "frame": np.arange(n_f)})
            start = np.ones(n_f, bool)
        return qc.assign(
            converged=np.full(n_f, self.converged),
            start_converged=start,
            joint_converged=np.full(n_f, self.converged),
            joint_n_iter=np.full(n_f, self.n_iter),
        )

    def to_estimates(self, frame_times: np.ndarray | None = None) -> Estimates:
        """Return the metabolites and sums of every frame with their covariance.

        ``x_f B`` for the frame's design row ``x_f`` (or the per-frame value of a metabolite
        declared ``free``); the covariance of two names within a frame is from
        :attr:`timecourse_cov` (for a design, ``x_f Cov(B_a, B_b) x_fᵀ``).
        """
        n_m = len(self.names)
        w = np.concatenate([np.eye(n_m), self.sum_weights.reshape(-1, n_m)])
        cov = np.einsum("am,fmn,bn->fab", w, self.timecourse_cov, w)
        sd = np.sqrt(np.clip(np.einsum("faa->fa", cov), 0.0, None))
        return Estimates(
            names=self.names + self.sum_names,
            estimates=self.timecourses @ w.T,
            crlb_sd=sd,
            covariance=cov,
            frame_times=None if frame_times is None else np.asarray(frame_times, dtype=float),
        )
