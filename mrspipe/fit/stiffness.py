"""The spline baseline's stiffness chosen by the data: "as stiff as the data allow".

With ``baseline_stiffness="ftest"`` the effective dimension of the spline baseline is chosen
once per data set, on the mean of the frames: the mean spectrum is fitted with each stiffness
of :data:`DOF_PER_PPM` and the stiffest one is kept whose residual is not significantly worse
than that of the most flexible one, by an F-test on the extra residual against the model's
effective degrees of freedom (``tr(S)`` of the baseline plus the free concentrations and
nonlinear parameters), at the level :data:`ALPHA`. This is the spirit of LCModel's choice of
its baseline regularisation (the smoothest baseline consistent with the data, Provencher
1993) with a stated test in place of LCModel's probability rule.

Measured (bench/bench_stiffness.py): on spectra whose model is right the rule keeps the
default stiffness (29 of 30 spectra); with broad baseline humps it moves to the flexible end
and removes the +7 % Glu/tCr bias. On in-vivo spectra fitted with an **MM-free basis** the
misfit of the macromolecules is always significant, the rule picks the flexible baseline, and
the baseline then takes glutamate (LCModel's test spectrum: Glu/tCr 1.11 -> 0.60): use it with
a measured MM spectrum in the basis, never with the appended default components.

References
----------
Provencher SW. Estimation of metabolite concentrations from localized in vivo proton NMR
spectra. Magn Reson Med 1993;30:672-679.
"""

from __future__ import annotations

from collections.abc import Callable

from scipy import special

__all__ = ["ALPHA", "DOF_PER_PPM", "STIFFNESS", "choose_dof"]

#: baseline stiffness rules of ``fit_spectra``
STIFFNESS = ("fixed", "ftest")
#: candidate effective dimensions per ppm of the band, stiffest first (the default is 1.25)
DOF_PER_PPM = (1.25, 2.0, 3.0, 4.5)
#: level of the F-test: a more flexible baseline only when the stiffer one is worse at 0.1 %
ALPHA = 1e-3


def choose_dof(
    fit_mean: Callable[[float], tuple[float, float]], span_ppm: float, n_values: int
) -> tuple[float, dict[float, float]]:
    """Choose the baseline's effective dimension.

    Parameters
    ----------
    fit_mean : callable
        ``fit_mean(effective_dof) -> (cost, model_dof)``: the residual cost (baseline profiled
        out) of the mean spectrum and the model's effective degrees of freedom.
    span_ppm : float, ppm
        Width of the fit band.
    n_values : int
        Real values fitted (twice the points of the band).

    Returns
    -------
    effective_dof : float
        Over the band.
    p_values : dict
        F-test p-value of each candidate against the most flexible one.
    """
    dofs = [d * span_ppm for d in DOF_PER_PPM]
    costs, model = zip(*(fit_mean(d) for d in dofs), strict=True)
    ref_cost, ref_df = costs[-1], model[-1]
    resid_df = max(n_values - ref_df, 1.0)
    p_values: dict[float, float] = {}
    chosen = dofs[-1]
    for d, cost, df in zip(dofs[:-1], costs[:-1], model[:-1], strict=True):
        extra = max(ref_df - df, 1e-9)
        f = (max(cost - ref_cost, 0.0) / extra) / (max(ref_cost, 1e-300) / resid_df)
        # scipy.stats.f.sf's values without importing scipy.stats (~0.4 s per worker)
        p_values[d] = float(special.fdtrc(extra, resid_df, f))
    for d in dofs[:-1]:  # stiffest first
        if p_values[d] >= ALPHA:
            chosen = d
            break
    p_values[dofs[-1]] = 1.0
    return chosen, p_values
