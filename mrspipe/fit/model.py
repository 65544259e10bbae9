"""The linear-combination model: lineshapes, baselines and the precomputed fit problem.

Model of one frame over the fit band (frequency domain, ``K`` points of the shifted spectrum)::

    m(f) = exp(1j (phi0 + 2 pi f phi1)) * sum_m c_m FFT[b_m(t) h_g(m)(t)](f) + baseline(f)
    h_g(t) = exp(-pi L_g t - pi^2 gauss2_g t^2 / (4 ln 2) + 2j pi s_g t)

with one (shift ``s``, Lorentzian FWHM ``L``, squared Gaussian FWHM ``gauss2``) per metabolite
group ``g``, one zero-order phase ``phi0`` (rad) and one first-order phase ``phi1`` (s, the
convention of :func:`mrspipe.spectral.apply_phase`). The baseline is complex, smooth and linear
in its coefficients: a ridge-regularised cubic B-spline or a Legendre polynomial. It is profiled
out analytically: for a baseline basis ``B`` with penalty ``lam R`` the smoother
``S = B (B^T B + lam R)^-1 B^T`` gives the profiled cost ``e^H (I - S) e`` of the residual
``e = y - model_without_baseline``; we precompute ``S = U diag(d) U^T`` (rank ``n_baseline``) and
whiten every vector with ``W = (I - S)^(1/2) = I - U diag(1 - sqrt(1 - d)) U^T``.

The default lineshape is that Voigt; every lineshape model is described once, in
:mod:`mrspipe.fit.lineshape_models`, and the place of each parameter in the vector ``theta`` of a
frame (shape ``(n_frames, n_params)``; for the Voigt
``[s_0, L_0, gauss2_0, s_1, L_1, gauss2_1, ..., phi0, phi1]``) in :mod:`mrspipe.fit.layout`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft

from ..errors import ConfigError
from .baseline import BASELINE_DOF_PER_PPM, BASELINE_PENALTY_ORDER, BASELINES, baseline_matrix
from .layout import ParameterLayout
from .lineshape_models import voigt_fwhm
from .priors import RatioPriors

__all__ = [
    "BASELINES",
    "BASELINE_DOF_PER_PPM",
    "BASELINE_PENALTY_ORDER",
    "MACRO_PATTERNS",
    "FitProblem",
    "resolve_groups",
    "baseline_matrix",
    "voigt_fwhm",
]

#: name patterns of macromolecule/lipid basis spectra that get their own lineshape group
MACRO_PATTERNS: tuple[str, ...] = ("Mac", "MM*", "Lip*")


def resolve_groups(
    names: Sequence[str], groups: Mapping[str, Sequence[str]] | None
) -> tuple[tuple[str, ...], np.ndarray]:
    """Assign each metabolite to a lineshape group.

    Parameters
    ----------
    names : sequence of str
        Basis metabolite names.
    groups : mapping of group name to metabolite names (or glob patterns), optional
        Metabolites not named go to the group ``"metabolites"``. Default: macromolecules and
        lipids (``Mac``, ``MM*``, ``Lip*``) in ``"macromolecules"``, the rest in
        ``"metabolites"``.

    Returns
    -------
    group_names : tuple of str
        Only groups with members; ``"metabolites"`` first when present.
    group_of : (n_metabolites,) int ndarray
        Index into ``group_names`` per metabolite.
    """
    if groups is None:
        groups = {"macromolecules": MACRO_PATTERNS}
    label = ["metabolites"] * len(names)
    for group, members in groups.items():
        if isinstance(members, str):
            raise ConfigError(f"group {group!r} must list metabolite names, not a string")
        for pattern in members:
            hit = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)]
            for i in hit:
                label[i] = group
    order = ["metabolites"] + [g for g in groups if g != "metabolites"]
    group_names = tuple(g for g in order if g in label)
    return group_names, np.array([group_names.index(lab) for lab in label], dtype=int)


@dataclass(frozen=True, eq=False)
class FitProblem:
    """Everything precomputed for fitting one data grid with one basis.

    Attributes
    ----------
    basis_fids : (n_met, n_points) complex ndarray
        Basis on the data grid.
    t : (n_points,) float ndarray, s
    band : (K,) int ndarray
        Indices of the fitted points in the *unshifted* FFT output, ascending ppm.
    freq : (K,) float ndarray, Hz
    ppm : (K,) float ndarray, ppm
    group_of : (n_met,) int ndarray
    layout : ParameterLayout
        The lineshape model and the place of every nonlinear parameter (its groups are
        :attr:`group_names`).
    baseline : (K, n_baseline) float ndarray
    baseline_solve : (n_baseline, K) float ndarray
    u, w : (K, n_baseline), (n_baseline,) float ndarray
        Whitening ``W v = v - u (w * (u^T v))`` with ``w = 1 - sqrt(1 - d)``.
    lower, upper : (n_params,) float ndarray
        Bounds of ``theta``.
    dtype : numpy complex dtype
        Working precision of the FFTs of the iterations.
    priors : RatioPriors, optional
        Soft priors on the ratios of appended macromolecule/lipid components
        (:mod:`~.priors`).
    free : (n_met,) bool ndarray, optional
        Basis spectra whose amplitude has no sign constraint (the in-phase and the 90-degree
        parts of a lipid component with a phase of its own); None: all nonnegative.
    """

    basis_fids: np.ndarray
    t: np.ndarray
    band: np.ndarray
    freq: np.ndarray
    ppm: np.ndarray
    group_of: np.ndarray
    layout: ParameterLayout
    baseline: np.ndarray
    baseline_solve: np.ndarray
    u: np.ndarray
    w: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    dtype: type = np.complex64
    workers: int = -1
    priors: RatioPriors | None = None
    free: np.ndarray | None = None

    @property
    def n_met(self) -> int:
        """Number of basis spectra."""
        return int(self.basis_fids.shape[0])

    @property
    def group_names(self) -> tuple[str, ...]:
        """Lineshape groups."""
        return self.layout.group_names

    @property
    def n_groups(self) -> int:
        """Number of lineshape groups."""
        return self.layout.n_groups

    @property
    def n_params(self) -> int:
        """Number of nonlinear parameters per frame."""
        return self.layout.n_params

    # -- forward model ---------------------------------------------------------------------
    def lineshapes(self, theta: np.ndarray, dtype: type | None = None) -> np.ndarray:
        """``h_g(t)`` per frame and group, ``(n_frames, n_groups, n_points)`` complex."""
        dt = np.dtype(self.dtype if dtype is None else dtype)
        rdt = np.finfo(dt).dtype
        g = self.layout.groups(theta).astype(rdt)
        t = self.t.astype(rdt)
        decay = self.layout.lineshape.decay(t, g[..., 1:])
        angle = (2.0 * np.pi) * g[..., 0:1] * t
        out = np.empty(decay.shape, dt)
        np.multiply(decay, np.cos(angle), out=out.real)
        np.multiply(decay, np.sin(angle), out=out.imag)
        return out

    def fft_band(self, x: np.ndarray) -> np.ndarray:
        """FFT along the last axis, keeping the fitted band (complex128, C-contiguous)."""
        spec = scipy.fft.fft(x, axis=-1, workers=self.workers, overwrite_x=True)
        sel = self._band_slice if self._band_slice is not None else self.band
        return np.ascontiguousarray(spec[..., sel], dtype=np.complex128)

    @property
    def _band_slice(self) -> slice | None:
        b = self.band
        if b.size and np.all(np.diff(b) == 1):
            return slice(int(b[0]), int(b[-1]) + 1)
        return None

    @property
    def band_positions(self) -> np.ndarray:
        """Positions of the fitted points in the fftshift-ed spectrum (ascending frequency)."""
        return np.argsort(np.fft.fftshift(np.arange(self.t.size)))[self.band]

    def columns(self, theta: np.ndarray, dtype: type | None = None) -> np.ndarray:
        """Unphased model spectra of each metabolite, ``(n_frames, n_met, K)`` complex."""
        dt = self.dtype if dtype is None else dtype
        h = self.lineshapes(theta, dt)
        fids: np.ndarray = self.basis_fids.astype(dt, copy=False)
        x: np.ndarray = np.empty((len(theta),) + fids.shape, dt)
        for g in range(self.n_groups):
            rows = np.flatnonzero(self.group_of == g)
            if rows.size and rows[-1] - rows[0] + 1 == rows.size:
                sl = slice(int(rows[0]), int(rows[-1]) + 1)
                np.multiply(fids[None, sl], h[:, g : g + 1], out=x[:, sl])
            else:
                x[:, rows] = fids[None, rows] * h[:, g : g + 1]
        return self.fft_band(x)

    def phase(self, theta: np.ndarray) -> np.ndarray:
        """Phase factor ``exp(1j (phi0 + 2 pi f phi1))``, ``(n_frames, K)``."""
        p0, p1 = self.layout.phase0, self.layout.phase1
        phi0, phi1 = theta[:, p0 : p0 + 1], theta[:, p1 : p1 + 1]
        grid = self._uniform_grid
        if grid is None:
            return np.exp(1j * (phi0 + 2.0 * np.pi * self.freq * phi1))
        # on the uniform grid f_k = f_0 + (B q + r) df: the product of a coarse and a fine
        # factor, 2 sqrt(K) exponentials per frame instead of K (equal to rounding)
        coarse, fine = grid
        a = np.exp(1j * (phi0 + 2.0 * np.pi * coarse * phi1))  # (F, Q)
        b = np.exp((2j * np.pi) * fine * phi1)  # (F, B)
        out = (a[:, :, None] * b[:, None, :]).reshape(len(theta), -1)
        return out[:, : self.freq.size]

    @property
    def _uniform_grid(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Coarse and fine frequencies of a uniform ``freq`` (None when it is not uniform)."""

        def make() -> tuple[np.ndarray, np.ndarray] | None:
            f = np.asarray(self.freq, dtype=float)
            if f.size < 16:
                return None
            df = (f[-1] - f[0]) / (f.size - 1)
            k = np.arange(f.size)
            if not np.allclose(f, f[0] + k * df, rtol=0.0, atol=1e-9 * abs(df)):
                return None
            block = int(np.ceil(np.sqrt(f.size)))
            coarse = f[0] + np.arange(-(-f.size // block)) * block * df
            return coarse, np.arange(block) * df

        store = self.__dict__.setdefault("_store", {})
        if "uniform_grid" not in store:
            store["uniform_grid"] = make()
        out: tuple[np.ndarray, np.ndarray] | None = store["uniform_grid"]
        return out

    def derivatives(
        self, theta: np.ndarray, conc: np.ndarray, model: np.ndarray, dtype: type | None = None
    ) -> np.ndarray:
        """Differentiate the phased metabolite model with respect to ``theta``.

        Parameters
        ----------
        theta : (n_frames, n_params) float ndarray
        conc : (n_frames, n_met) float ndarray
        model : (n_frames, K) complex ndarray
            The phased metabolite model ``phase * sum_m c_m A_m`` at ``theta``.

        Returns
        -------
        (n_frames, n_params, K) complex ndarray
        """
        dt = self.dtype if dtype is None else dtype
        n_f, n_g = len(theta), self.n_groups
        h = self.lineshapes(theta, dt)
        # weighted sum of the FIDs of each group: (n_frames, n_groups, n_points)
        onehot = self.group_of[None, :] == np.arange(n_g)[:, None]
        weights = (conc[:, None, :] * onehot[None]).astype(dt).reshape(n_f * n_g, -1)
        z = (weights @ self.basis_fids.astype(dt, copy=False)).reshape(n_f, n_g, -1)
        z *= h
        t = self.t.astype(np.finfo(np.dtype(dt)).dtype)
        per = self.layout.per_group
        factors: np.ndarray = np.stack(
            [2j * np.pi * t, *self.layout.lineshape.log_derivatives(t)]
        ).astype(dt)
        zf = np.empty((n_f, n_g, per, z.shape[-1]), dt)
        np.multiply(z[:, :, None, :], factors, out=zf)
        d = self.fft_band(zf)  # (F, G, per, K)
        d = d.reshape(n_f, per * n_g, -1) * self.phase(theta)[:, None, :]
        dphi0 = 1j * model
        dphi1 = 2j * np.pi * self.freq * model
        return np.concatenate([d, dphi0[:, None], dphi1[:, None]], axis=1)

    # -- inner products of the profiled-baseline metric ---------------------------------
    # Vectors over the band are stacked as real arrays (..., 2K) by viewing complex128 as
    # interleaved (re, im) floats; <a, b> = a.b - (a.U2) diag(d2) (U2^T b), U2 = kron(U, I2),
    # i.e. Re(a^H (I - S) b).
    @staticmethod
    def stack(v: np.ndarray) -> np.ndarray:
        """``(..., K)`` complex -> ``(..., 2K)`` float (interleaved re/im, a view when possible)."""
        v = np.ascontiguousarray(v, dtype=np.complex128)
        return v.view(np.float64)

    def project(self, x: np.ndarray) -> np.ndarray:
        """Projections ``x @ U2`` of stacked vectors onto the baseline eigenvectors.

        Computed as ``U^T`` applied to the real and the imaginary planes (``U2 = kron(U, I2)``:
        half the products of the interleaved form).
        """
        shape = x.shape
        n_k, n_b = self.u.shape
        planes = np.ascontiguousarray(x.reshape(-1, n_k, 2).transpose(0, 2, 1))
        out = (planes.reshape(-1, n_k) @ self.u).reshape(-1, 2, n_b).transpose(0, 2, 1)
        return out.reshape(shape[:-1] + (2 * n_b,))

    def inner(self, xa: np.ndarray, pa: np.ndarray, xb: np.ndarray, pb: np.ndarray) -> np.ndarray:
        """Batched metric products ``(F, a, 2K) x (F, b, 2K) -> (F, a, b)``."""
        return xa @ xb.transpose(0, 2, 1) - (pa * self.d2) @ pb.transpose(0, 2, 1)

    def whiten(self, v: np.ndarray) -> np.ndarray:
        """``W v`` stacked, ``(..., K)`` complex -> ``(..., 2K)`` float (for the lmfit path)."""
        x = self.stack(v)
        return x - (self.project(x) * self.w2) @ self.u2.T

    @property
    def u2(self) -> np.ndarray:
        """``kron(U, I2)``: the baseline eigenvectors for interleaved stacking."""
        return self._cache("u2", lambda: np.kron(self.u, np.eye(2)))

    @property
    def d2(self) -> np.ndarray:
        """Eigenvalues ``d`` of the smoother, repeated for re/im."""
        return self._cache("d2", lambda: np.repeat(1.0 - (1.0 - self.w) ** 2, 2))

    @property
    def w2(self) -> np.ndarray:
        """Whitening weights repeated for re/im."""
        return self._cache("w2", lambda: np.repeat(self.w, 2))

    def _cache(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        store = self.__dict__.setdefault("_store", {})
        if key not in store:
            store[key] = make()
        return store[key]

    def baseline_coefficients(self, residual: np.ndarray) -> np.ndarray:
        """Complex baseline coefficients ``(..., n_baseline)`` from ``y - metabolite model``."""
        return residual @ self.baseline_solve.T

    def clip(self, theta: np.ndarray) -> np.ndarray:
        """Project ``theta`` onto its bounds."""
        return np.clip(theta, self.lower, self.upper)
