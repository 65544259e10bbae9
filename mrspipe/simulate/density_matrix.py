"""Density-matrix simulation of coupled spin-1/2 systems with ideal (instantaneous) pulses.

The product-operator basis is the Zeeman basis of ``n`` spins (dimension ``2**n``). The
free-precession Hamiltonian (rad/s) in the rotating frame of the receiver is

``H = 2 pi [ sum_i nu_i Iz_i + sum_{i<j} J_ij (Ix_i Ix_j + Iy_i Iy_j + Iz_i Iz_j) ]``

for homonuclear pairs (the full, strong-coupling Hamiltonian) and ``2 pi J_ij Iz_i Iz_j`` for
heteronuclear pairs (e.g. 1H-31P). It is diagonalised once; every delay is then a product with
``V exp(-i Lambda tau) V^H`` and the FID for all sampling times comes at once from the eigenbasis:

``s(t) = Tr(rho(t) F+) = sum_ab (V^H rho V)_ab (V^H F+ V)_ba exp(i (lambda_b - lambda_a) t)``,

so a resonance at offset ``nu`` Hz gives ``exp(+2j pi nu t)``: mrspipe's internal convention.
The signal is scaled by ``4 / 2**n`` so that one excited proton gives ``s(0) = 1``.

References
----------
Levitt MH. Spin Dynamics, 2nd ed. Wiley 2008 (chapters 14-15: density operator, coherence
order). Smith SA, Levante TO, Meier BH, Ernst RR. Computer simulations in magnetic resonance.
J Magn Reson A 1994;106:75-105.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import numpy as np

__all__ = ["SpinSystemOperators", "build_operators", "pulse", "coherence_filter", "Precession"]

_SX = np.array([[0, 0.5], [0.5, 0]], dtype=complex)
_SY = np.array([[0, -0.5j], [0.5j, 0]], dtype=complex)
_SZ = np.array([[0.5, 0], [0, -0.5]], dtype=complex)
_EYE = np.eye(2, dtype=complex)


def _embed(single: np.ndarray, k: int, n: int) -> np.ndarray:
    """Operator ``single`` on spin ``k`` of ``n`` (identity elsewhere), ``(2**n, 2**n)``."""
    return reduce(np.kron, [single if i == k else _EYE for i in range(n)])


def _pair(a: np.ndarray, b: np.ndarray, i: int, j: int, n: int) -> np.ndarray:
    """Product ``a_i b_j`` of one-spin operators on spins ``i != j``, ``(2**n, 2**n)``."""
    return reduce(np.kron, [a if k == i else b if k == j else _EYE for k in range(n)])


@dataclass(frozen=True, eq=False)
class SpinSystemOperators:
    """Operators of one spin system.

    Attributes
    ----------
    n_spins : int
    observed : (n_spins,) bool ndarray
        Which spins are pulsed and detected (the 1H spins).
    hamiltonian : (dim, dim) complex ndarray, rad/s
    fz, fplus : (dim, dim) complex ndarray
        Total z and raising operators of the observed spins.
    m_observed : (dim,) float ndarray
        Total magnetic quantum number of the observed spins for each basis state.
    m_other : (dim,) float ndarray
        The same for the unobserved heteronuclei (the Hamiltonian conserves both).
    """

    n_spins: int
    observed: np.ndarray
    hamiltonian: np.ndarray
    fz: np.ndarray
    fplus: np.ndarray
    m_observed: np.ndarray
    m_other: np.ndarray
    _pulses: dict = field(default_factory=dict, repr=False)

    @property
    def dim(self) -> int:
        """Hilbert-space dimension ``2**n_spins``."""
        return 2**self.n_spins


def build_operators(
    offsets_hz: np.ndarray,
    couplings: list[tuple[int, int, float]],
    observed: np.ndarray | None = None,
    *,
    strong: bool = True,
) -> SpinSystemOperators:
    """Build the Hamiltonian and detection operators of a spin system.

    Parameters
    ----------
    offsets_hz : (n_spins,) float ndarray, Hz
        Resonance offset of each spin from the receiver frequency (ignored for unobserved
        heteronuclei, which are in their own rotating frame).
    couplings : list of (int, int, float)
        ``(i, j, J)`` with ``J`` in Hz.
    observed : (n_spins,) bool ndarray, optional
        Observed (1H) spins; default all.
    strong : bool
        Full ``J I.I`` coupling between observed spins (True) or only the ``Iz Iz`` term (weak
        coupling approximation).

    Returns
    -------
    SpinSystemOperators
    """
    offsets = np.asarray(offsets_hz, dtype=float)
    n = offsets.size
    obs = np.ones(n, bool) if observed is None else np.asarray(observed, bool)
    dim = 2**n
    # single-spin operators on the diagonal/off-diagonal, built by Kronecker products only
    iz = [_embed(_SZ, k, n) for k in range(n)]
    two_pi = 2.0 * np.pi
    ham = np.zeros((dim, dim), complex)
    for k in range(n):
        if obs[k]:
            ham += two_pi * offsets[k] * iz[k]
    for i, j, coupling in couplings:
        ham += two_pi * coupling * _pair(_SZ, _SZ, i, j, n)
        if obs[i] and obs[j] and strong:
            ham += two_pi * coupling * (_pair(_SX, _SX, i, j, n) + _pair(_SY, _SY, i, j, n))
    fz = sum((iz[k] for k in range(n) if obs[k]), np.zeros((dim, dim), complex))
    fplus = sum(
        (_embed(_SX + 1j * _SY, k, n) for k in range(n) if obs[k]),
        np.zeros((dim, dim), complex),
    )
    m_other = np.real(sum((np.diag(iz[k]) for k in range(n) if not obs[k]), np.zeros(dim)))
    return SpinSystemOperators(
        n_spins=n,
        observed=obs,
        hamiltonian=ham,
        fz=fz,
        fplus=fplus,
        m_observed=np.real(np.diag(fz)).copy(),
        m_other=m_other,
    )


def pulse(ops: SpinSystemOperators, angle: float, phase: float) -> np.ndarray:
    """Rotation operator of an ideal hard pulse on the observed spins.

    ``R = exp(-i angle (cos(phase) Fx + sin(phase) Fy))``, built as a Kronecker product of
    one-spin rotations (cached per system).

    Parameters
    ----------
    ops : SpinSystemOperators
    angle : float, rad
        Flip angle.
    phase : float, rad
        Pulse phase: 0 is about x, pi/2 about y.

    Returns
    -------
    (dim, dim) complex ndarray
    """
    key = (round(angle, 12), round(phase, 12))
    if key not in ops._pulses:
        axis = np.cos(phase) * _SX + np.sin(phase) * _SY
        # exp(-i a (n.S)) for spin 1/2 = cos(a/2) 1 - 2i sin(a/2) (n.S)
        single = np.cos(angle / 2) * _EYE - 2j * np.sin(angle / 2) * axis
        ops._pulses[key] = reduce(np.kron, [single if o else _EYE for o in ops.observed])
    return ops._pulses[key]


def coherence_filter(ops: SpinSystemOperators, rho: np.ndarray, order: int) -> np.ndarray:
    """Keep only the elements of ``rho`` of total 1H coherence order ``order``.

    ``rho_ab`` has order ``m_a - m_b``; an ideal gradient crusher scheme selecting that pathway
    removes every other element.

    Parameters
    ----------
    ops : SpinSystemOperators
    rho : (dim, dim) complex ndarray
    order : int

    Returns
    -------
    (dim, dim) complex ndarray
    """
    m = ops.m_observed
    mask = np.isclose(m[:, None] - m[None, :], order)
    return np.where(mask, rho, 0.0)


class Precession:
    """Free precession under a time-independent Hamiltonian, in its eigenbasis.

    The eigenvectors are block-diagonal in the z-magnetisation blocks, so eigenstate ``a`` has
    the same magnetic quantum numbers as product state ``a`` and coherence orders (hence
    :func:`coherence_filter`) are the same in both bases. Density matrices passed to
    :meth:`evolve` and :meth:`lines` are in the eigenbasis (:meth:`to_eigenbasis`).

    Parameters
    ----------
    ops : SpinSystemOperators
    """

    def __init__(self, ops: SpinSystemOperators) -> None:
        self.ops = ops
        # H conserves the z magnetisation of the protons and of the heteronuclei: diagonalise
        # each invariant block separately (blocks of at most C(n, n/2) states).
        dim = ops.dim
        key = np.round(ops.m_observed * 2).astype(int) * 1000 + np.round(ops.m_other * 2).astype(
            int
        )
        self.eigvals = np.zeros(dim)
        self.eigvecs = np.zeros((dim, dim), complex)
        for value in np.unique(key):
            idx = np.flatnonzero(key == value)
            w, v = np.linalg.eigh(ops.hamiltonian[np.ix_(idx, idx)])
            self.eigvals[idx] = w
            self.eigvecs[np.ix_(idx, idx)] = v

    def to_eigenbasis(self, op: np.ndarray) -> np.ndarray:
        """``V^H op V``: an operator in the eigenbasis of the Hamiltonian."""
        return self.eigvecs.conj().T @ op @ self.eigvecs

    def evolve(self, rho: np.ndarray, tau: float) -> np.ndarray:
        """Density matrix in the eigenbasis after a delay ``tau`` (s), elementwise.

        ``rho_ab -> rho_ab exp(-i (lambda_a - lambda_b) tau)``.
        """
        if tau == 0:
            return rho
        phase = np.exp(-1j * self.eigvals * tau)
        return rho * np.outer(phase, phase.conj())

    def lines(self, rho: np.ndarray, *, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
        """Frequencies and complex amplitudes of the lines the detector sees.

        Parameters
        ----------
        rho : (dim, dim) complex ndarray
            Density matrix at the start of acquisition, in the eigenbasis.
        tol : float
            Lines weaker than ``tol`` times the strongest are dropped; degenerate lines merged.

        Returns
        -------
        freqs_hz : (n_lines,) float ndarray, Hz
        amps : (n_lines,) complex ndarray
            Scaled so that one proton's full transverse magnetisation has amplitude 1.
        """
        b = self.to_eigenbasis(self.ops.fplus)
        weights = (rho * b.T) * (4.0 / self.ops.dim)
        freqs = (self.eigvals[None, :] - self.eigvals[:, None]) / (2.0 * np.pi)
        keep = np.abs(weights) > tol * max(np.abs(weights).max(), 1e-300)
        f, w = freqs[keep], weights[keep]
        key = np.round(f, 6)
        uniq, inverse = np.unique(key, return_inverse=True)
        amps = np.zeros(uniq.size, complex)
        np.add.at(amps, inverse, w)
        return uniq, amps


def lines_to_fid(freqs_hz: np.ndarray, amps: np.ndarray, t: np.ndarray) -> np.ndarray:
    """FID ``sum_k amps_k exp(2j pi f_k t)`` for all times at once.

    For a uniform grid ``t = t0 + n dt`` the sum is evaluated as a matrix product of coarse and
    fine phase factors, ``exp(2j pi f (t0 + (m B + j) dt)) = exp(..(t0 + m B dt)) exp(..j dt)``,
    so only ``n_lines x (n / B + B)`` exponentials are computed (exact up to rounding).

    Parameters
    ----------
    freqs_hz : (n_lines,) float ndarray, Hz
    amps : (n_lines,) complex ndarray
    t : (n_points,) float ndarray, s

    Returns
    -------
    (n_points,) complex ndarray
    """
    t = np.asarray(t, dtype=float)
    if freqs_hz.size == 0:
        return np.zeros(t.shape, complex)
    n = t.size
    dt = t[1] - t[0] if n > 1 else 0.0
    if n < 64 or not np.allclose(np.diff(t), dt, rtol=1e-9, atol=1e-15):
        return amps @ np.exp(2j * np.pi * np.outer(freqs_hz, t))
    block = int(np.ceil(np.sqrt(n)))
    n_blocks = -(-n // block)
    coarse = np.exp(2j * np.pi * np.outer(freqs_hz, t[0] + np.arange(n_blocks) * block * dt))
    fine = np.exp(2j * np.pi * np.outer(freqs_hz, np.arange(block) * dt))
    return ((amps[:, None] * coarse).T @ fine).reshape(-1)[:n]
