"""The smooth complex baseline of the model and its smoother decomposition.

A ridge-regularised cubic B-spline or a Legendre polynomial over the fit band. The baseline is
profiled out of the fit (:mod:`mrspipe.fit.model`): for a baseline basis ``B`` with penalty
``lam R`` the smoother ``S = B (B^T B + lam R)^-1 B^T`` is precomputed as ``S = U diag(d) U^T``;
the ridge weight ``lam`` is chosen to give ``tr(S)``, the effective degrees of freedom.

References
----------
Eilers PHC, Marx BD. Flexible smoothing with B-splines and penalties. Stat Sci 1996;11:89-121.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ConfigError

__all__ = ["BASELINES", "BASELINE_DOF_PER_PPM", "BASELINE_PENALTY_ORDER", "baseline_matrix"]

#: Default stiffness of the spline baseline: effective degrees of freedom ``tr(S)`` per ppm of
#: the fitted band (per real and imaginary part), with a third-difference penalty
#: (:data:`BASELINE_PENALTY_ORDER`) so that a quadratic trend costs nothing. 1.25 per ppm (5
#: over 0.2-4.2 ppm) lets the baseline follow distortions broader than about 1 ppm while
#: narrower signal (macromolecules at 0.1-0.3 ppm FWHM, the glutamate and glutamine
#: multiplets) has to be explained by the basis. Chosen on measurements, stated in
#: docs/methods/fitting.md ("Baseline stiffness"): the old default (2 per ppm, second
#: differences) took a quarter of glutamate on LCModel's in-vivo test spectrum and the
#: macromolecule spectrum of simulated spectra; at 1.25 per ppm a simulated broad hump
#: (sigma 1.5 ppm) still biases tNAA by <= 1 % and a narrower one (sigma 1 ppm) by ~3 %.
BASELINE_DOF_PER_PPM = 1.25
#: Order of the finite differences the spline baseline's penalty acts on.
BASELINE_PENALTY_ORDER = 3


def _poly_baseline(x: np.ndarray, *, order: int = 2, **_: object) -> tuple[np.ndarray, np.ndarray]:
    """Legendre polynomials up to ``order`` on ``x`` in [-1, 1]; no penalty."""
    if order < 0:
        raise ConfigError(f"baseline_order must be >= 0, got {order}")
    basis = np.polynomial.legendre.legvander(x, order)
    return basis, np.zeros((order + 1, order + 1))


def _spline_baseline(
    x: np.ndarray, *, knot_spacing: float = 0.1, **_: object
) -> tuple[np.ndarray, np.ndarray]:
    """Cubic B-splines, knots every ``knot_spacing`` (units of x), finite-difference penalty.

    The penalty is on the ``BASELINE_PENALTY_ORDER``-th differences of the coefficients (a
    P-spline, Eilers & Marx 1996): a polynomial of lower degree is not penalised.
    """
    from scipy.interpolate import BSpline

    if not knot_spacing > 0:
        raise ConfigError(f"baseline knot spacing must be positive, got {knot_spacing}")
    n_inner = max(int(np.ceil(2.0 / knot_spacing)), 1)
    inner = np.linspace(-1.0, 1.0, n_inner + 1)
    knots = np.concatenate([[-1.0] * 3, inner, [1.0] * 3])
    basis = BSpline.design_matrix(np.clip(x, -1.0, 1.0), knots, 3).toarray()
    diff = np.diff(np.eye(basis.shape[1]), n=BASELINE_PENALTY_ORDER, axis=0)
    return basis, diff.T @ diff


#: baseline name -> builder(x, **options) -> (basis (K, nb) real, penalty (nb, nb))
BASELINES: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "spline": _spline_baseline,
    "poly": _poly_baseline,
}


def baseline_matrix(
    ppm: np.ndarray,
    *,
    kind: str = "spline",
    order: int = 2,
    knot_spacing_ppm: float = 0.2,
    effective_dof: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Baseline basis over the fit band and its smoother decomposition.

    Parameters
    ----------
    ppm : (K,) float ndarray, ppm
        Chemical shift of the fitted points.
    kind : {'spline', 'poly'}
        Regularised cubic B-spline or Legendre polynomial.
    order : int
        Polynomial order (``'poly'``).
    knot_spacing_ppm : float, ppm
        Knot spacing (``'spline'``).
    effective_dof : float, optional
        Effective degrees of freedom ``tr(S)`` of the spline smoother (per real and imaginary
        part); the ridge weight is chosen to give it. Default :data:`BASELINE_DOF_PER_PPM`
        times the width of the band. Ignored for ``'poly'``.

    Returns
    -------
    basis : (K, n_baseline) float ndarray
    solve : (n_baseline, K) float ndarray
        ``(B^T B + lam R)^-1 B^T``: baseline coefficients from a residual.
    u : (K, n_baseline) float ndarray
    d : (n_baseline,) float ndarray
        ``S = u diag(d) u^T``, ``0 <= d <= 1``.
    """
    if kind not in BASELINES:
        raise ConfigError(f"unknown baseline {kind!r}; choose from {sorted(BASELINES)}")
    span = ppm.max() - ppm.min()
    if effective_dof is None:
        effective_dof = BASELINE_DOF_PER_PPM * float(span)
    x = 2.0 * (ppm - ppm.min()) / span - 1.0
    basis, penalty = BASELINES[kind](x, order=order, knot_spacing=2.0 * knot_spacing_ppm / span)
    gram = basis.T @ basis
    q, r = np.linalg.qr(basis)

    def smoother(lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        inv = np.linalg.inv(gram + lam * penalty + 1e-12 * np.trace(gram) * np.eye(len(gram)))
        core = r @ inv @ r.T
        d, e = np.linalg.eigh(0.5 * (core + core.T))
        return inv, np.clip(d, 0.0, 1.0), q @ e

    lam = 0.0
    if kind == "spline" and np.any(penalty) and effective_dof < basis.shape[1]:
        lo, hi = -8.0, 8.0  # bisection on log10(lam / scale) for tr(S) = effective_dof
        scale = np.trace(gram) / max(np.trace(penalty), 1e-300)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if smoother(scale * 10**mid)[1].sum() > effective_dof:
                lo = mid
            else:
                hi = mid
        lam = scale * 10 ** (0.5 * (lo + hi))
    inv, d, u = smoother(lam)
    return basis, inv @ basis.T, u, d
