"""The low-rank band model: metabolite columns over the fit band without an FFT per metabolite.

Every column of :meth:`~.model.FitProblem.columns` is the band of ``FFT[b_m(t) h_g(t)]`` with the
lineshape ``h_g(t) = exp(2j pi s t + sum_k rate_k p_k t**power_k)`` of its group
(:mod:`mrspipe.fit.lineshape_models`; for the Voigt ``-pi L t - pi^2 gauss2 t^2 / (4 ln 2)``). Split
the shift into whole FFT bins and a remainder, ``s = l df + delta`` with ``|delta| <= df / 2``
(``df = 1 / (n dt)``): the whole bins only move the spectrum along the FFT grid (exact for the
DFT), and the remaining lineshapes ``exp(sum_k rate_k p_k t**power_k + 2j pi delta t)`` over the
bounds of the widths ``p_k`` form a smooth family of numerical rank ~25 at 1e-6. With an
orthonormal basis ``phi_j(t)`` of that family (SVD of samples of it)::

    h(t) ~= sum_j a_j phi_j(t),  a = Phi^H h
    column_m(f) ~= sum_j a_j P_mj(f + l df),  P_mj = FFT[b_m phi_j]   (precomputed once)

so one frame costs two small matrix products (``n_points x J`` and ``J x n_met K``) instead of
``n_met`` FFTs of ``n_points``. The rank is chosen so that held-out lineshapes of the family are
reproduced to ``tol`` (relative L2); the error of a column is of the same relative size, far
below the single-precision FFT path it replaces (the ``'double'`` precision keeps the exact FFTs).
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import scipy.fft
import scipy.linalg

from .layout import ParameterLayout
from .lineshape_models import LineshapeModel
from .model import FitProblem

__all__ = ["BandModel", "rows_matmul", "LOCK", "NotLowRank"]

#: guards the caches of the band models (also :func:`mrspipe.fit.band.band_model`'s)
LOCK = threading.Lock()


def _family(
    layout: ParameterLayout, t: np.ndarray, delta: np.ndarray, widths: np.ndarray
) -> np.ndarray:
    """Lineshapes ``(S, n_points)`` complex128 for ``S`` remainder shifts and width vectors."""
    lineshape = layout.lineshape
    return np.exp(
        lineshape.exponent(widths, lineshape.t_powers(t)) + 2j * np.pi * delta[:, None] * t
    )


@functools.lru_cache(maxsize=8)
def _lineshape_basis(
    layout: ParameterLayout,
    n: int,
    dt: float,
    uppers: tuple[float, ...],
    tol: float,
    max_rank: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal rows ``(J, n)`` spanning the lineshape family to ``tol``; the error by rank.

    The rank is the smallest that reproduces 512 held-out lineshapes to ``tol`` (cached: the
    basis depends only on the lineshape model, the grid and the bounds of the widths).
    """
    t = np.arange(n) * dt
    df = 1.0 / (n * dt)
    rng = np.random.default_rng(20161)  # fixed: the basis is part of the model, not data
    up = np.array(uppers)
    fit_set = _family(layout, t, *layout.family_samples(max(3 * max_rank, 256), df, up, rng))
    _, _, vh = np.linalg.svd(fit_set, full_matrices=False)
    test = _family(layout, t, *layout.family_samples(512, df, up, rng))
    norms = np.linalg.norm(test, axis=1)
    coef = test @ vh[:max_rank].conj().T  # (S, R)
    # error of the rank-J projection: ||h||^2 - sum_{j<J} |a_j|^2 (orthonormal rows)
    kept = np.cumsum(np.abs(coef) ** 2, axis=1)
    rel = np.sqrt(np.clip(norms[:, None] ** 2 - kept, 0.0, None)) / norms[:, None]
    ok = np.flatnonzero(rel.max(axis=0) <= tol)
    rank = int(ok[0]) + 1 if ok.size else max_rank
    basis = vh[:rank].copy()
    basis.flags.writeable = False
    curve = rel.max(axis=0)[:rank]
    curve.flags.writeable = False
    return basis, curve


class NotLowRank(ValueError):
    """The lineshape family needs more basis functions than allowed."""


def rows_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return ``a @ b`` for ``a`` of shape ``(rows, k)``, each row independent of the others.

    BLAS computes a single row by a matrix-vector product, which rounds differently from the
    matrix-matrix kernel; a lone row is doubled so every row takes the same path, and a frame
    fitted alone gives the bits it gives in a batch.
    """
    if a.shape[0] == 1:
        return (np.concatenate([a, a]) @ b)[:1]
    return a @ b


class BandModel:
    """Low-rank evaluator of :meth:`FitProblem.columns` (see the module docstring).

    Parameters
    ----------
    problem : FitProblem
    tol : float
        Largest relative L2 error of held-out lineshapes of the family.
    tol_jacobian : float
        The same for the derivatives of the iterations (:meth:`derivatives` without ``exact``).
    max_rank : int
        Upper bound of the rank.
    """

    def __init__(
        self,
        problem: FitProblem,
        *,
        tol: float = 1e-6,
        tol_jacobian: float = 1e-4,
        max_rank: int = 64,
    ) -> None:
        t = np.asarray(problem.t, dtype=float)
        n = t.size
        dt = float(t[1] - t[0])
        self.df = 1.0 / (n * dt)
        n_g = problem.n_groups
        layout = self.layout = problem.layout
        # the family spans the largest bounds of any group (finite: the lineshape's own)
        uppers = tuple(float(u) for u in layout.widths(problem.upper).max(axis=0))
        if not np.all(np.isfinite(uppers)):
            raise ValueError(f"the widths of the band model need finite upper bounds, got {uppers}")
        # the family depends on the lineshape and the groups' bounds, not the group names
        shape = layout.lineshape
        family = ParameterLayout(LineshapeModel("", shape.widths, shape.fwhm), ("",))
        vh, curve = _lineshape_basis(family, n, dt, uppers, tol, max_rank)
        rank = vh.shape[0]
        self.rank = rank
        self.error = float(curve[-1])
        if not self.error <= tol:
            raise NotLowRank(
                f"{layout.lineshape.name!r} lineshapes need more than {max_rank} basis "
                f"functions for a relative error {tol:g} (got {self.error:.2g})"
            )
        # the Jacobian of the iterations needs less: a lower rank (the covariance uses all)
        self.rank_d = int(np.flatnonzero(curve <= max(tol, tol_jacobian))[0]) + 1
        self.phi_h = np.ascontiguousarray(vh.conj().T, dtype=np.complex64)  # (N, J)
        # the coefficients from the lineshape at J time points only (empirical interpolation:
        # the pivots of a column-pivoted QR of the basis): a = h[points] @ interp equals
        # Phi^H h to the rank's tolerance, without evaluating h at every point
        pivots = scipy.linalg.qr(vh, mode="r", pivoting=True)[1]
        self._points = np.sort(pivots[:rank])
        self._interp = np.linalg.pinv(vh[:, self._points].T).T.astype(np.complex64)  # (J, J)
        self.t = t.astype(np.float32)
        self.t_powers = layout.lineshape.t_powers(self.t)
        # d log h / d (shift, widths)
        factors = np.stack([2j * np.pi * t, *layout.lineshape.log_derivatives(t)])
        self.factors = factors.astype(np.complex64)
        # (J, P J): a @ dmat = Phi^H f_p Phi a for the P parameters p of a group, side by side
        dmat = np.einsum("jn,pn,in->ipj", vh.conj(), factors, vh)
        self.dmat = dmat[:, :, : self.rank_d].reshape(rank, -1).astype(np.complex64)
        self.dmat_full = dmat.reshape(rank, -1).astype(np.complex64)
        # (Q, J, J): a @ move[q] = Phi^H (h exp(-2j pi (q - 1) df t / 4)) for q = 0..3: the
        # lineshape moved by -1/4..+2/4 of a bin (the spectrum zero-filled four-fold)
        sub = np.exp(-2j * np.pi * np.outer(np.arange(-1, 3) * 0.25 * self.df, t))
        self._move = np.einsum("jn,qn,in->qji", vh, sub, vh.conj()).astype(np.complex64)
        self.freq = np.asarray(problem.freq, dtype=float)
        # spectra of every basis FID times every phi_j (FFT order; panels pick the band)
        prod = problem.basis_fids[:, None, :] * vh[None, :, :]  # (M, J, N)
        self._spec = scipy.fft.fft(prod, axis=-1).astype(np.complex64)
        self._unshift = np.fft.fftshift(np.arange(n))  # fftshift position -> FFT index
        pos = problem.band_positions
        self.start = int(pos[0])
        self.n_band = pos.size
        self.n_points = n
        self.group_rows = [np.flatnonzero(problem.group_of == g) for g in range(n_g)]
        self.n_groups = n_g
        self.n_met = problem.n_met
        self._extended: dict[tuple[int, int, int, int], np.ndarray] = {}
        # contiguous runs of each group's metabolites: (slice in the group, slice in the basis)
        self._runs = [_runs(rows) for rows in self.group_rows]
        # lags the shift bounds allow: one extended band for every chunk (each frame's arithmetic
        # then does not depend on the frames fitted with it), unless the bounds are very wide
        first = layout.index("shift")
        shifts = np.abs(np.r_[problem.lower[first], problem.upper[first]])
        bound = float(np.max(shifts)) / self.df
        self._max_lag = int(np.ceil(bound)) if bound <= 32 else None

    def _lag_range(self, lag: np.ndarray) -> tuple[int, int]:
        """Lags ``lo..hi`` of the extended band for a chunk's lags of one group."""
        lo, hi = int(lag.min()), int(lag.max())
        if self._max_lag is not None:
            lo, hi = min(lo, -self._max_lag), max(hi, self._max_lag)
        return lo, hi

    def _extended_panel(self, g: int, lo: int, hi: int, rank: int = 0) -> np.ndarray:
        """Spectra of group ``g`` over the band moved by every lag ``lo..hi`` at once (cached).

        ``K + hi - lo`` points from the band's start moved by ``hi`` bins: a frame moved by
        ``lag`` reads the ``K`` points from ``hi - lag``. ``(J, n_g_met * (K + hi - lo))`` when
        ``rank`` is 0, else ``(n_g_met, rank * (K + hi - lo))``.
        """
        key = (g, lo, hi, rank)
        panel = self._extended.get(key)
        if panel is None:
            n_ext = self.n_band + hi - lo
            idx = self._unshift[(self.start - hi + np.arange(n_ext)) % self.n_points]
            sel = self._spec[self.group_rows[g]][:, :, idx]  # (Mg, J, K_ext)
            if rank == 0:
                panel = np.ascontiguousarray(sel.transpose(1, 0, 2)).reshape(self.rank, -1)
            else:
                panel = np.ascontiguousarray(sel[:, :rank]).reshape(sel.shape[0], -1)
            with LOCK:
                while len(self._extended) >= 64:  # a few lag ranges recur; bound the memory
                    self._extended.pop(next(iter(self._extended)))
                self._extended[key] = panel
        return panel

    def _lineshapes(
        self, theta: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Remainder lineshapes ``(F, G, N)`` complex64 and whole-bin lags ``(F, G)`` int.

        At the time points ``points`` only when given (``(F, G, len(points))``).
        """
        g = self.layout.groups(theta)
        lag = np.rint(g[..., 0] / self.df).astype(int)
        delta = g[..., 0] - lag * self.df
        t = self.t if points is None else self.t[points]
        t_powers = self.t_powers if points is None else [tp[points] for tp in self.t_powers]
        decay = np.exp(self.layout.lineshape.exponent(g[..., 1:], t_powers, np.float32))
        angle = ((2.0 * np.pi) * delta[..., None]).astype(np.float32) * t
        h = np.empty(decay.shape, np.complex64)
        np.multiply(decay, np.cos(angle), out=h.real)
        np.multiply(decay, np.sin(angle), out=h.imag)
        return h, lag

    def _by_lag(self, lag: np.ndarray, gi: int) -> list[tuple[int, np.ndarray | slice]]:
        """``(lag, frames)`` for every lag of group ``gi`` (a slice when all frames share it)."""
        values = np.unique(lag[:, gi])
        if values.size == 1:
            return [(int(values[0]), slice(None))]
        return [(int(v), np.flatnonzero(lag[:, gi] == v)) for v in values]

    def coefficients(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lineshape coefficients ``a = Phi^H h`` ``(F, G, J)`` complex64 and lags ``(F, G)``."""
        n_f = len(theta)
        h, lag = self._lineshapes(theta, self._points)
        return rows_matmul(h.reshape(n_f * self.n_groups, -1), self._interp).reshape(
            n_f, self.n_groups, -1
        ), lag

    def columns(
        self,
        theta: np.ndarray,
        phase: np.ndarray | None = None,
        shape: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Columns ``(n_frames, n_met, K)`` complex128 at ``theta``.

        Multiplied by ``phase`` ``(F, K)`` when given; ``shape``: :meth:`coefficients` at
        ``theta`` when already known.
        """
        n_f, k = len(theta), self.n_band
        coef, lag = self.coefficients(theta) if shape is None else shape
        out = np.empty((n_f, self.n_met, k), np.complex128)
        for gi, rows_m in enumerate(self.group_rows):
            if not rows_m.size:
                continue
            # one product over the band extended by the chunk's lags, then each frame's window
            lo, hi = self._lag_range(lag[:, gi])
            ext = rows_matmul(coef[:, gi], self._extended_panel(gi, lo, hi))
            ext = ext.reshape(n_f, rows_m.size, -1)
            for value, frames in self._by_lag(lag, gi):
                off = hi - value
                ph = None if phase is None else phase[frames, None, :]
                for src, dst in self._runs[gi]:
                    block = ext[frames, src, off : off + k]
                    if isinstance(frames, slice):
                        if ph is None:
                            out[:, dst] = block
                        else:
                            np.multiply(block, ph, out=out[:, dst])
                    else:
                        out[frames, dst] = block if ph is None else block * ph
        return out

    def derivatives(
        self,
        theta: np.ndarray,
        conc: np.ndarray,
        model: np.ndarray,
        phase: np.ndarray,
        *,
        exact: bool = False,
        full: bool = False,
        shape: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """:meth:`FitProblem.derivatives` of the low-rank model, ``(F, n_params, K)`` complex.

        Parameters
        ----------
        theta : (F, n_params) float ndarray
        conc : (F, n_met) float ndarray
        model : (F, K) complex ndarray
            Phased metabolite model at ``theta``.
        phase : (F, K) complex ndarray
            ``FitProblem.phase(theta)``.
        exact : bool
            Project the differentiated lineshapes ``f_p h`` on the basis (the exact derivative
            of the low-rank model, relative error ~1e-6). Default: apply the precomputed
            ``Phi^H f_p Phi`` to the coefficients of ``h`` and keep the leading ``rank_d``
            basis functions (cheaper; relative error ~1e-4, a few % at the corners of the bounds:
            enough for the Gauss-Newton steps).
        full : bool
            As the default, with every basis function (relative error ~3e-6, a few 1e-4 at the
            corners of the bounds; as cheap as the default: the covariance's Jacobian).
        shape : tuple of ndarray, optional
            :meth:`coefficients` at ``theta`` when already known (not with ``exact``).
        """
        n_f, n_g, k = len(theta), self.n_groups, self.n_band
        per = self.layout.per_group
        rank = self.rank if exact or full else self.rank_d
        if exact:
            h, lag = self._lineshapes(theta)
            fh = h[:, :, None, :] * self.factors  # (F, G, P, N)
            coef = (fh.reshape(-1, fh.shape[-1]) @ self.phi_h).reshape(n_f, n_g, per, -1)
        else:
            a, lag = self.coefficients(theta) if shape is None else shape
            # Phi^H (f_p h) ~= (Phi^H f_p Phi) a: h lies in the span of Phi to the rank tolerance
            dmat = self.dmat_full if full else self.dmat
            coef = rows_matmul(a.reshape(n_f * n_g, -1), dmat).reshape(n_f, n_g, per, -1)
        lay = self.layout
        out = np.empty((n_f, lay.n_params, k), np.complex128)
        d_out = out[:, : lay.n_group_params].reshape(n_f, n_g, per, k)
        c32 = conc.astype(np.complex64)
        for gi, rows_m in enumerate(self.group_rows):
            if not rows_m.size:
                d_out[:, gi] = 0.0
                continue
            # the group's weighted spectra per basis function over the band extended by the
            # chunk's lags, the derivatives there, then each frame's window (phased)
            lo, hi = self._lag_range(lag[:, gi])
            ext = rows_matmul(c32[:, rows_m], self._extended_panel(gi, lo, hi, rank))
            d_ext = np.matmul(np.ascontiguousarray(coef[:, gi]), ext.reshape(n_f, rank, -1))
            for value, frames in self._by_lag(lag, gi):
                off = hi - value
                if isinstance(frames, slice):
                    np.multiply(d_ext[:, :, off : off + k], phase[:, None, :], out=d_out[:, gi])
                else:
                    d_out[frames, gi] = d_ext[frames, :, off : off + k] * phase[frames, None, :]
        np.multiply(1j, model, out=out[:, lay.phase0])
        np.multiply((2j * np.pi) * self.freq, model, out=out[:, lay.phase1])
        return out

    def zero_filled(
        self, theta: np.ndarray, met: int, *, shape: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Spectrum of one metabolite's unphased column, zero-filled four-fold, over the band.

        The band of ``FFT[b_met h]`` with ``4 n_points`` points (``h`` the lineshape of its group
        at ``theta``): the points at a quarter bin are those of the lineshape moved by that
        fraction of a bin, whose coefficients are ``a @ move[q]`` (no FFT).

        Parameters
        ----------
        theta : (F, n_params) float ndarray
        met : int
            Index of the basis spectrum.
        shape : tuple of ndarray, optional
            :meth:`coefficients` at ``theta`` when already known.

        Returns
        -------
        spectrum : (F, 4 K) complex ndarray
        freq : (4 K,) float ndarray, Hz
            Ascending, a quarter of a bin apart (the band's ``freq`` at every fourth point).
        """
        n_f = len(theta)
        g = int(np.flatnonzero([met in rows for rows in self.group_rows])[0])
        coef, lag = self.coefficients(theta) if shape is None else shape
        moved = rows_matmul(coef[:, g], self._move.transpose(1, 0, 2).reshape(self.rank, -1))
        moved = moved.reshape(n_f, 4, self.rank)
        spec = np.empty((n_f, self.n_band, 4), np.complex64)
        for value, frames in self._by_lag(lag, g):
            idx = self._unshift[(self.start - value + np.arange(self.n_band)) % self.n_points]
            part = rows_matmul(moved[frames].reshape(-1, self.rank), self._spec[met][:, idx])
            spec[frames] = part.reshape(-1, 4, self.n_band).transpose(0, 2, 1)
        quarter = np.arange(-1, 3) * 0.25 * self.df
        return spec.reshape(n_f, -1), (self.freq[:, None] + quarter).ravel()


def _runs(rows: np.ndarray) -> list[tuple[slice, slice]]:
    """Contiguous runs of sorted indices: ``(slice in rows, slice of the values)``."""
    out = []
    if rows.size:
        cuts = np.flatnonzero(np.diff(rows) != 1) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, rows.size], strict=True):
            out.append((slice(int(a), int(b)), slice(int(rows[a]), int(rows[b - 1]) + 1)))
    return out
