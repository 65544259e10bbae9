"""Gauss-Newton / Levenberg-Marquardt for the joint spectro-temporal fit, vectorised over frames.

Unknowns: per-frame *local* parameters ``u_f`` (classes declared ``free``) and *global*
parameters ``gamma`` (``fixed`` and ``design`` classes, and the concentration betas). Every
per-frame quantity (column ``c``: the nonlinear parameters of :class:`~.model.FitProblem`,
then the concentrations) is ``v_fc = u_fc`` (local) or ``sum_j L_fjc gamma_j`` (global), so the
Jacobian of frame ``f`` is ``V_f`` (derivatives of the frame model by its columns, analytic:
:meth:`~.model.FitProblem.derivatives` and the phased basis columns) chained through ``L_f``.

The Gauss-Newton matrix has the arrowhead ("bundle adjustment") structure::

    H = [[blockdiag(D_f), B], [B^T, C]],  D_f = Q_f[loc, loc],  B_f = Q_f[loc, :] L_f^T,
    C = sum_f L_f Q_f L_f^T,  Q_f = Re(V_f^H (I - S) V_f)

(the smooth baseline is profiled out by the metric ``I - S`` of the frame fitter). It is solved
by the Schur complement ``C - sum_f B_f^T D_f^-1 B_f`` on the global unknowns: a few einsums
over frames and one small dense solve, no loop over frames. The model is linear in the
concentration betas, so a single step from any point solves them exactly.

References
----------
Triggs B, McLauchlan PF, Hartley RI, Fitzgibbon AW. Bundle adjustment - a modern synthesis.
Vision Algorithms: Theory and Practice, 2000 (the Schur-complement solve).
Clarke WT, Jezzard P, Jbabdi S. Dynamic fitting of functional MRS, diffusion weighted MRS, and
edited MRS using a single interface. NeuroImage 2024 (the spectro-temporal model of FSL-MRS).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .dynamic_design import ModelLayout
from .model import FitProblem

__all__ = [
    "Assembly",
    "assemble",
    "frame_cost",
    "newton_step",
    "joint_covariance",
    "levenberg_marquardt_joint",
]


@dataclass
class Assembly:
    """Per-frame products of the Jacobian at one point.

    ``q`` ``(F, C, C)``: ``V^T (I - S) V``; ``g`` ``(F, C)``: ``V^T (I - S) r``; ``cost``
    ``(F,)``; optional ``middle`` ``(F, C, C)``: ``V^T (I - S)^2 V``.
    """

    q: np.ndarray
    g: np.ndarray
    cost: np.ndarray
    middle: np.ndarray | None = None


def _frame_model(
    problem: FitProblem, theta: np.ndarray, conc: np.ndarray, dtype: type | None
) -> np.ndarray:
    """Phased metabolite model over the band, ``(F, K)`` complex (one FFT per frame)."""
    dt = problem.dtype if dtype is None else dtype
    h = problem.lineshapes(theta, dt)  # (F, G, N)
    onehot = problem.group_of[None, :] == np.arange(problem.n_groups)[:, None]
    w = (conc[:, None, :] * onehot[None]).astype(dt)  # (F, G, M)
    z = np.einsum("fgn,fgn->fn", w @ problem.basis_fids.astype(dt, copy=False), h)
    return problem.fft_band(z) * problem.phase(theta)


def _extra_model(
    problem: FitProblem, layout: ModelLayout, vals: np.ndarray, extra: np.ndarray | None
) -> np.ndarray | float:
    """Shared baseline of each frame, phased with the frame, ``(F, K)`` (0 when none)."""
    if extra is None or layout.n_extra == 0:
        return 0.0
    p = layout.n_theta + layout.n_met
    return (vals[:, p:] @ extra) * problem.phase(vals[:, : layout.n_theta])


def frame_cost(
    problem: FitProblem,
    layout: ModelLayout,
    y: np.ndarray,
    vals: np.ndarray,
    *,
    dtype: type | None = None,
    chunk: int = 256,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Profiled cost ``Re(r^H (I - S) r)`` of every frame, ``(F,)``."""
    p, m = layout.n_theta, layout.n_met
    out = np.empty(len(y))
    for s in range(0, len(y), chunk):
        sl = slice(s, s + chunk)
        model = _frame_model(problem, vals[sl, :p], vals[sl, p : p + m], dtype)
        r = problem.stack(y[sl] - model - _extra_model(problem, layout, vals[sl], extra))
        rp = problem.project(r)
        out[sl] = np.einsum("fk,fk->f", r, r) - np.einsum("fb,b,fb->f", rp, problem.d2, rp)
    return out


def assemble(
    problem: FitProblem,
    layout: ModelLayout,
    y: np.ndarray,
    vals: np.ndarray,
    *,
    dtype: type | None = None,
    middle: bool = False,
    chunk: int = 128,
    extra: np.ndarray | None = None,
) -> Assembly:
    """Jacobian products of every frame at the per-frame values ``vals`` ``(F, C)``.

    Frames are processed in chunks of ``chunk`` (bounded memory); each chunk is vectorised.
    ``extra`` ``(n_extra, K)`` complex: the shared-baseline columns (phased with each frame).
    """
    p, n_m = layout.n_theta, layout.n_met
    n_f, n_c = vals.shape
    q = np.empty((n_f, n_c, n_c))
    g = np.empty((n_f, n_c))
    cost = np.empty(n_f)
    mid = np.empty((n_f, n_c, n_c)) if middle else None
    d2 = problem.d2
    for s in range(0, n_f, chunk):
        sl = slice(s, s + chunk)
        theta, conc = vals[sl, :p], vals[sl, p : p + n_m]
        cols = problem.columns(theta, dtype)
        cols *= problem.phase(theta)[:, None, :]
        model = np.einsum("fm,fmk->fk", conc, cols) + _extra_model(problem, layout, vals[sl], extra)
        deriv = problem.derivatives(theta, conc, model, dtype)
        parts = [deriv, cols]
        if extra is not None and layout.n_extra:
            parts.append(extra[None] * problem.phase(theta)[:, None, :])
        v = problem.stack(np.concatenate(parts, axis=1))  # (f, C, 2K)
        vp = problem.project(v)
        q[sl] = problem.inner(v, vp, v, vp)
        r = problem.stack(y[sl] - model)
        rp = problem.project(r)
        g[sl] = problem.inner(v, vp, r[:, None], rp[:, None])[..., 0]
        cost[sl] = np.einsum("fk,fk->f", r, r) - np.einsum("fb,b,fb->f", rp, d2, rp)
        if mid is not None:
            mid[sl] = v @ v.transpose(0, 2, 1) - (vp * (2 * d2 - d2**2)) @ vp.transpose(0, 2, 1)
    return Assembly(q, g, cost, mid)


def _blocks(mat: np.ndarray, layout: ModelLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrowhead blocks ``D (F,q,q)``, ``B (F,q,G)``, ``C (G,G)`` of a per-frame ``(F,C,C)``."""
    loc, lmap = layout.local, layout.frame_map
    d = mat[:, loc][:, :, loc]
    b = mat[:, loc, :] @ lmap.transpose(0, 2, 1)
    lq = lmap @ mat  # (F, G, C)
    c = np.tensordot(lq, lmap, axes=([0, 2], [0, 2]))
    return d, b, c


def newton_step(
    asm: Assembly,
    layout: ModelLayout,
    lam: float,
    frozen_local: np.ndarray,
    frozen_global: np.ndarray,
    penalty: np.ndarray | None = None,
    gamma: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """Damped Gauss-Newton step by the Schur complement on the global unknowns.

    ``penalty`` ``(G, G)`` adds ``gamma^T P gamma`` to the cost (the smoothness of a shared
    spline baseline); ``gamma`` is the current point.

    Returns
    -------
    d_local : (F, q) float ndarray
    d_global : (G,) float ndarray
    pred : float
        Predicted decrease of the total cost (undamped model).
    var_local, var_global : (F, q), (G,) float ndarray
        Diagonals of the (damped) inverse: variances up to ``sigma^2``.
    """
    d, b, c = _blocks(asm.q, layout)
    gl = asm.g[:, layout.local]
    gg = np.einsum("fjc,fc->j", layout.frame_map, asm.g)
    if penalty is not None:
        c = c + penalty
        gg = gg - penalty @ gamma
    n_f, n_q = gl.shape
    dd = np.abs(np.einsum("fii->fi", d))
    sl = 1.0 / np.sqrt(np.maximum(dd, 1e-14 * dd.max(initial=0.0) + 1e-300))
    dc = np.abs(np.diag(c))
    sg = 1.0 / np.sqrt(np.maximum(dc, 1e-14 * dc.max(initial=0.0) + 1e-300))
    ds = d * sl[:, :, None] * sl[:, None, :]
    bs = b * sl[:, :, None] * sg[None, None, :]
    cs = c * sg[:, None] * sg[None, :]
    gls, ggs = gl * sl, gg * sg
    # frozen unknowns: identity rows, no coupling, zero right-hand side
    ds = np.where(frozen_local[:, :, None] | frozen_local[:, None, :], 0.0, ds)
    bs = np.where(frozen_local[:, :, None] | frozen_global[None, None, :], 0.0, bs)
    cs = np.where(frozen_global[:, None] | frozen_global[None, :], 0.0, cs)
    gls = np.where(frozen_local, 0.0, gls)
    ggs = np.where(frozen_global, 0.0, ggs)
    iq, ig = np.arange(n_q), np.arange(len(gg))
    ds[:, iq, iq] += np.where(frozen_local, 1.0, lam + 1e-12)
    cs[ig, ig] += np.where(frozen_global, 1.0, lam + 1e-12)
    dinv = np.linalg.inv(ds) if n_q else ds
    db = dinv @ bs  # (F, q, G)
    schur = cs - np.tensordot(bs, db, axes=([0, 1], [0, 1]))
    rhs = ggs - np.einsum("fqj,fq->j", db, gls)
    sinv = np.linalg.pinv(0.5 * (schur + schur.T), rcond=1e-13, hermitian=True)
    dgs = sinv @ rhs
    dls = np.einsum("fqr,fr->fq", dinv, gls - bs @ dgs)
    d_local, d_global = dls * sl, dgs * sg
    hl = np.einsum("fqr,fr->fq", d, d_local) + b @ d_global
    hg = np.einsum("fqj,fq->j", b, d_local) + c @ d_global
    pred = 2.0 * (np.sum(d_local * gl) + d_global @ gg) - (np.sum(d_local * hl) + d_global @ hg)
    var_local = np.einsum("fqq->fq", dinv) * sl**2
    var_global = np.diag(sinv) * sg**2
    return d_local, d_global, float(pred), var_local, var_global


def _stable_inv(d: np.ndarray) -> np.ndarray:
    """Inverses of a stack of SPD matrices, scaled to unit diagonal (tiny ridge)."""
    diag = np.abs(np.einsum("fii->fi", d))
    s = 1.0 / np.sqrt(np.maximum(diag, 1e-300))
    scaled = d * s[:, :, None] * s[:, None, :]
    idx = np.arange(d.shape[1])
    scaled[:, idx, idx] += 1e-12
    return np.linalg.inv(scaled) * s[:, :, None] * s[:, None, :]


def joint_covariance(
    asm: Assembly,
    layout: ModelLayout,
    sigma: float,
    frozen_global: np.ndarray,
    penalty: np.ndarray | None = None,
    columns: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Covariance of the global unknowns at the solution, ``(G, G)``, and of per-frame values.

    The global rows of ``H^-1`` are ``Gamma = [R_1 .. R_F, S^-1]`` with ``R_f = -S^-1 B_f^T
    D_f^-1``; the local rows of frame ``f`` are ``D_f^-1 (E_f - B_f Gamma)`` (``E_f`` selects
    the frame's local unknowns). The sandwich ``sigma^2 H^-1 M H^-1`` (``M`` from
    ``asm.middle``) accounts for the regularised spline baseline, as the frame-wise CRLB does
    (:mod:`~.crlb`). Frozen unknowns (at a bound) get NaN and count as known.

    ``columns`` (indices of per-frame quantities, e.g. the concentrations) also returns the
    covariance ``(F, n, n)`` of those values in every frame, ``v_f = L_f^T gamma + u_f``
    (global and local parts together; cross-frame covariances are not returned).
    """
    assert asm.middle is not None
    d, b, c = _blocks(asm.q, layout)
    if penalty is not None:
        c = c + penalty
    md, mb, mc = _blocks(asm.middle, layout)
    n_q = d.shape[1]
    dinv = _stable_inv(d) if n_q else d
    keep = ~frozen_global
    schur = (c - np.tensordot(b, dinv @ b, axes=([0, 1], [0, 1])))[np.ix_(keep, keep)]
    sc = 1.0 / np.sqrt(np.abs(np.diag(schur)))
    sinv = np.linalg.pinv(schur * sc[:, None] * sc[None, :], rcond=1e-13, hermitian=True)
    sinv = sinv * sc[:, None] * sc[None, :]
    bk, mbk, mck = b[:, :, keep], mb[:, :, keep], mc[np.ix_(keep, keep)]
    r = -np.einsum("jk,fqk->fjq", sinv, dinv @ bk)  # (F, G', q)
    cross = np.tensordot(r, mbk, axes=([0, 2], [0, 1])) @ sinv  # sum_f R_f MB_f S^-1
    cov = np.tensordot(r @ md, r, axes=([0, 2], [0, 2])) + cross + cross.T + sinv @ mck @ sinv
    full = np.full((len(keep), len(keep)), np.nan)
    full[np.ix_(keep, keep)] = cov * sigma**2
    if columns is None:
        return full, None
    # Gamma M E_f^T = R_f MD_f + S^-1 MB_f^T  (G', q)
    z = r @ md + np.einsum("jk,fqk->fjq", sinv, mbk)
    bz = bk @ z  # (F, q, q): B_f Z_f
    loc_cov = dinv @ (md - bz - bz.transpose(0, 2, 1) + bk @ cov @ bk.transpose(0, 2, 1)) @ dinv
    glob_loc = (z - cov @ bk.transpose(0, 2, 1)) @ dinv  # Cov(gamma, u_f) (F, G', q)
    columns = np.asarray(columns, dtype=int)
    lmap = layout.frame_map[:, keep][:, :, columns]  # (F, G', n)
    sel = (layout.local[:, None] == columns[None, :]).astype(float)  # (q, n)
    gl = np.einsum("fjn,fjq,qm->fnm", lmap, glob_loc, sel)
    vals = (
        np.einsum("fjn,jk,fkm->fnm", lmap, cov, lmap)
        + np.einsum("qn,fqr,rm->fnm", sel, loc_cov, sel)
        + gl
        + gl.transpose(0, 2, 1)
    )
    return full, vals * sigma**2


def _clipped_derivatives(asm: Assembly, unclipped: np.ndarray, problem: FitProblem) -> Assembly:
    """``asm`` with the derivatives of clipped per-frame nonlinear values set to 0.

    ``unclipped`` ``(F, C)``: the per-frame values before clipping. A value at or beyond its
    lower (upper) bound whose gradient points further down (up) does not move the clipped
    model: its rows and columns of ``q`` and its entry of ``g`` are 0 in that frame.
    """
    n_th = problem.lower.size
    v, g = unclipped[:, :n_th], asm.g[:, :n_th]
    out = ((v <= problem.lower) & (g < 0)) | ((v >= problem.upper) & (g > 0))
    if not out.any():
        return asm
    mask = np.zeros(asm.g.shape, bool)
    mask[:, :n_th] = out
    q = np.where(mask[:, :, None] | mask[:, None, :], 0.0, asm.q)
    return replace(asm, q=q, g=np.where(mask, 0.0, asm.g))


def levenberg_marquardt_joint(
    problem: FitProblem,
    layout: ModelLayout,
    y: np.ndarray,
    gamma0: np.ndarray,
    local0: np.ndarray,
    *,
    max_iter: int = 30,
    ctol: float = 0.01,
    lam0: float = 1e-3,
    dtype: type | None = None,
    chunk: int = 128,
    extra: np.ndarray | None = None,
    penalty: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, Assembly, bool, int]:
    """Minimise the total profiled cost over global and local unknowns.

    Stops when an accepted step moves every global unknown by less than ``ctol`` of its
    standard error and every local one by less than ``10 ctol`` of its (conditional) error,
    or when the predicted decrease is below ``ctol^2`` times the noise variance.

    Returns
    -------
    gamma : (G,) float ndarray
    local : (F, q) float ndarray
    assembly : Assembly
        At the solution.
    converged : bool
    n_iter : int
    """
    loc = layout.local
    is_theta_loc = loc < layout.n_theta
    lo_loc = np.where(is_theta_loc, problem.lower[np.minimum(loc, layout.n_theta - 1)], -np.inf)
    hi_loc = np.where(is_theta_loc, problem.upper[np.minimum(loc, layout.n_theta - 1)], np.inf)
    gcol = layout.global_column
    is_fixed = np.array([r == "fixed" for r in layout.global_regressor], bool)
    bounded = is_fixed & (gcol < layout.n_theta)
    lo_g = np.where(bounded, problem.lower[np.minimum(gcol, layout.n_theta - 1)], -np.inf)
    hi_g = np.where(bounded, problem.upper[np.minimum(gcol, layout.n_theta - 1)], np.inf)
    n_f = len(y)
    n_data = n_f * (2.0 * y.shape[1] - problem.d2.sum())
    n_unknown = loc.size * n_f + gcol.size

    def pen(gamma: np.ndarray) -> float:
        return 0.0 if penalty is None else float(gamma @ penalty @ gamma)

    def values(gamma: np.ndarray, local: np.ndarray) -> np.ndarray:
        vals = layout.values(gamma, local)
        vals[:, : layout.n_theta] = problem.clip(vals[:, : layout.n_theta])
        return vals

    gamma = np.clip(np.asarray(gamma0, float), lo_g, hi_g)
    local = np.clip(np.asarray(local0, float), lo_loc, hi_loc)
    asm = assemble(problem, layout, y, values(gamma, local), dtype=dtype, chunk=chunk, extra=extra)
    # the betas (and everything linear) first: one exact step with the nonlinear ones frozen
    linear_g = gcol >= layout.n_theta
    dl, dg, *_ = newton_step(
        asm, layout, 0.0, np.ones((n_f, loc.size), bool), ~linear_g, penalty, gamma
    )
    gamma = gamma + dg
    asm = assemble(problem, layout, y, values(gamma, local), dtype=dtype, chunk=chunk, extra=extra)
    eps = np.finfo(np.dtype(problem.dtype if dtype is None else dtype)).eps
    floor = (10.0 * eps) ** 2 * float((y.real**2 + y.imag**2).sum())
    lam = lam0
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        total = asm.cost.sum() + pen(gamma)
        sigma2 = total / max(n_data - n_unknown, 1.0)
        # the model sees each frame's nonlinear values clipped to their bounds: where a
        # value is at (or past) a bound and the cost would take it further, its derivative
        # is 0 (the clipped model's), not the one at the bound. Without this a global
        # on the design whose frames are all clipped (e.g. a Gaussian width^2 at 0: data
        # no broader than the basis) walks off without changing the cost and the fit
        # never meets its stopping test
        asm_d = _clipped_derivatives(asm, layout.values(gamma, local), problem)
        gl = asm_d.g[:, loc]
        gg = np.einsum("fjc,fc->j", layout.frame_map, asm_d.g)
        fr_l = ((local <= lo_loc) & (gl < 0)) | ((local >= hi_loc) & (gl > 0))
        fr_g = ((gamma <= lo_g) & (gg < 0)) | ((gamma >= hi_g) & (gg > 0))
        accepted = False
        while lam < 1e10:
            dl, dg, pred, var_l, var_g = newton_step(asm_d, layout, lam, fr_l, fr_g, penalty, gamma)
            if pred <= ctol**2 * sigma2 + floor or total <= floor:
                converged = True
                break
            g_t = np.clip(gamma + dg, lo_g, hi_g)
            l_t = np.clip(local + dl, lo_loc, hi_loc)
            cost_t = frame_cost(
                problem, layout, y, values(g_t, l_t), dtype=dtype, extra=extra
            ).sum() + pen(g_t)
            if cost_t < total:
                accepted = True
                lam = max(lam * 0.2, 1e-9)
                break
            lam *= 5.0
        if not accepted:
            converged = converged or lam >= 1e10
            break
        moved_g = np.abs(g_t - gamma) / np.sqrt(np.maximum(var_g * sigma2, 1e-300))
        moved_l = np.abs(l_t - local) / np.sqrt(np.maximum(var_l * sigma2, 1e-300))
        gamma, local = g_t, l_t
        asm = assemble(
            problem, layout, y, values(gamma, local), dtype=dtype, chunk=chunk, extra=extra
        )
        if moved_g.max(initial=0.0) < ctol and moved_l.max(initial=0.0) < 10 * ctol:
            converged = True
            break
    return gamma, local, asm, converged, n_iter
