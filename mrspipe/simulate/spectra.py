"""``simulate_spectra``: synthetic spectra from a basis with known parameters.

Every per-frame argument broadcasts over the frames (scalar, or ``(n_frames,)``); the model is
evaluated for all frames at once:

``fid = phase1( shift_phase0( voigt( C @ basis + mm ) + water ) ) + baseline + noise``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.polynomial import legendre

from ..data import Basis, MRSData
from ..errors import SimulationError
from ..spectral import apply_lineshape, apply_phase, to_fid, to_spectrum
from .macromolecules import macromolecule_basis

__all__ = ["simulate_spectra", "water_lines"]


def _frame_shape(values: list[Any]) -> tuple[int, ...]:
    try:
        shape = np.broadcast_shapes(*[np.shape(v) for v in values])
    except ValueError as exc:
        raise SimulationError(f"per-frame arguments do not broadcast: {exc}") from None
    if len(shape) > 1:
        raise SimulationError(f"at most one frame axis is supported, got frame shape {shape}")
    return shape


def water_lines(
    rng: np.random.Generator, n_components: int = 3, *, spread_ppm: float = 0.04
) -> dict[str, np.ndarray]:
    """Random residual-water components near 4.65 ppm.

    Returns
    -------
    dict
        ``ppm`` (n,), ``weights`` (n,) summing to 1, ``lorentz_hz`` (n,), ``phase`` (n,) rad.
    """
    return {
        "ppm": 4.65 + rng.normal(0.0, spread_ppm, n_components),
        "weights": rng.dirichlet(np.full(n_components, 2.0)),
        "lorentz_hz": rng.uniform(4.0, 15.0, n_components),
        "phase": rng.uniform(-np.pi, np.pi, n_components),
    }


def simulate_spectra(
    basis: Basis,
    concentrations: Mapping[str, Any] | np.ndarray,
    *,
    lorentz_hz: float | np.ndarray = 4.0,
    gauss_hz: float | np.ndarray = 4.0,
    shift_hz: float | np.ndarray = 0.0,
    phase0: float | np.ndarray = 0.0,
    phase1: float | np.ndarray = 0.0,
    baseline: np.ndarray | None = None,
    macromolecules: Mapping[str, Any] | None = None,
    water: float | np.ndarray | Mapping[str, Any] | None = None,
    noise_sd: float = 0.0,
    lineshape_components: Any = None,
    rng: np.random.Generator | int | None = None,
) -> tuple[MRSData, dict[str, Any]]:
    """Synthetic spectra with known parameters, any number of frames at once.

    Parameters
    ----------
    basis : Basis
        Metabolite basis (its grid, field and echo time are those of the output).
    concentrations : mapping of str to float or (n_frames,) ndarray, or (..., n_metabolites)
        Amplitudes in basis units (mM for a basis normalised per proton); missing names are 0.
    lorentz_hz, gauss_hz : float or (n_frames,) ndarray, Hz
        Lorentzian and Gaussian FWHM (Voigt lineshape, :func:`mrspipe.spectral.apply_lineshape`).
    shift_hz : float or (n_frames,) ndarray, Hz
        Frequency shift (positive: to higher ppm).
    phase0 : float or (n_frames,) ndarray, rad
    phase1 : float or (n_frames,) ndarray, s
        First-order phase as a delay (:func:`mrspipe.spectral.apply_phase`).
    baseline : (n_coeff,) or (n_frames, n_coeff) complex ndarray, optional
        Legendre coefficients of a smooth baseline over the spectral window (spectrum units).
    macromolecules : mapping of str to float or (n_frames,) ndarray, optional
        Amplitudes of :data:`~mrspipe.simulate.macromolecules.MACROMOLECULES` components.
    water : float, (n_frames,) ndarray or mapping, optional
        Residual water amplitude (protons x mM); a mapping may also give ``ppm``, ``weights``,
        ``lorentz_hz`` and ``phase`` per component (else drawn from ``rng``).
    noise_sd : float
        Standard deviation of the real and of the imaginary time-domain noise.
    lineshape_components : sequence of (weight, shift_hz, lorentz_hz), optional
        A lineshape beyond Voigt (model mismatch): the Voigt-broadened signal (metabolites and
        macromolecules) is convolved with this sum of weighted, shifted Lorentzians (weights
        normalised to sum 1), e.g. ``[(0.7, 0, 0), (0.3, 3, 4)]`` for a shoulder 3 Hz up.
    rng : numpy.random.Generator, int or None

    Returns
    -------
    data : MRSData
        ``(n_frames, n_points)`` with dims ``("dyn",)``, or ``(n_points,)`` when every argument
        is scalar.
    truth : dict
        Every parameter used, broadcast to the frames.

    Raises
    ------
    SimulationError
        Unknown metabolite names, arguments that do not broadcast, negative widths or noise.
    """
    rng = np.random.default_rng(rng)
    names = basis.names
    if isinstance(concentrations, Mapping):
        unknown = [k for k in concentrations if k not in names]
        if unknown:
            raise SimulationError(
                f"concentrations name {', '.join(unknown)} not in the basis ({', '.join(names)})"
            )
        conc_items = {k: np.asarray(v, dtype=float) for k, v in concentrations.items()}
        conc_shapes = list(conc_items.values())
    else:
        conc_arr = np.asarray(concentrations, dtype=float)
        if conc_arr.shape[-1:] != (len(names),):
            raise SimulationError(
                f"concentrations array must end with n_metabolites={len(names)}, "
                f"got {conc_arr.shape}"
            )
        conc_shapes = [conc_arr[..., 0]]
    mm = {k: np.asarray(v, dtype=float) for k, v in (macromolecules or {}).items()}
    water_spec = (
        dict(water)
        if isinstance(water, Mapping)
        else (None if water is None else {"amplitude": water})
    )
    if water_spec is not None and "amplitude" not in water_spec:
        raise SimulationError("water mapping needs an 'amplitude'")
    water_amp = None if water_spec is None else np.asarray(water_spec["amplitude"], float)
    base = None if baseline is None else np.asarray(baseline, dtype=complex)
    per_frame = [lorentz_hz, gauss_hz, shift_hz, phase0, phase1, *conc_shapes, *mm.values()]
    if water_amp is not None:
        per_frame.append(water_amp)
    if base is not None:
        per_frame.append(base[..., 0])
    frames = _frame_shape(per_frame)
    if np.any(np.asarray(lorentz_hz) < 0) or np.any(np.asarray(gauss_hz) < 0):
        raise SimulationError("lorentz_hz and gauss_hz must be >= 0")
    if noise_sd < 0:
        raise SimulationError(f"noise_sd must be >= 0, got {noise_sd}")

    def per(v: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=float), frames)

    if isinstance(concentrations, Mapping):
        conc = np.zeros(frames + (len(names),))
        for k, v in conc_items.items():
            conc[..., names.index(k)] = per(v)
    else:
        conc = np.broadcast_to(conc_arr, frames + (len(names),)).astype(float)
    n, dt = basis.n_points, basis.dwell_time
    fids = conc @ basis.fids
    truth: dict[str, Any] = {"names": list(names), "concentrations": conc}
    if mm:
        mm_basis = macromolecule_basis(
            list(mm),
            field_mhz=basis.spectrometer_frequency,
            dwell_time=dt,
            n_points=n,
            ppm_reference=basis.ppm_reference,  # on the basis' ppm axis (was always 4.65)
        )
        amps = np.stack([per(mm[k]) for k in mm_basis.names], axis=-1)
        fids = fids + amps @ mm_basis.fids
        truth["macromolecules"] = {k: per(mm[k]) for k in mm_basis.names}
    ls = {k: per(v)[..., None] for k, v in (("lorentz_hz", lorentz_hz), ("gauss_hz", gauss_hz))}
    fids = apply_lineshape(fids, dt, lorentz_hz=ls["lorentz_hz"], gauss_hz=ls["gauss_hz"])
    if lineshape_components is not None:
        kern = np.asarray(lineshape_components, dtype=float).reshape(-1, 3)
        if np.any(kern[:, 2] < 0) or not kern[:, 0].sum() > 0:
            raise SimulationError("lineshape_components need weights summing > 0, widths >= 0")
        t = np.arange(n) * dt
        kernel = (kern[:, :1] / kern[:, 0].sum()) * np.exp(
            (-np.pi * kern[:, 2:3] + 2j * np.pi * kern[:, 1:2]) * t
        )
        fids = fids * kernel.sum(axis=0)
        truth["lineshape_components"] = kern
    if water_spec is not None:
        drawn = water_lines(rng, int(water_spec.get("components", 3)))
        comp = {k: np.asarray(water_spec.get(k, drawn[k]), float) for k in drawn}
        t = np.arange(n) * dt
        offs = (comp["ppm"] - basis.ppm_reference) * basis.spectrometer_frequency
        lines = comp["weights"][:, None] * np.exp(
            (-np.pi * comp["lorentz_hz"][:, None] + 2j * np.pi * offs[:, None]) * t
            + 1j * comp["phase"][:, None]
        )
        fids = fids + per(water_amp)[..., None] * lines.sum(axis=0)
        truth["water"] = {"amplitude": per(water_amp), **comp}
    fids = apply_lineshape(
        fids, dt, shift_hz=per(shift_hz)[..., None], phase0=per(phase0)[..., None]
    )
    if np.any(np.asarray(phase1) != 0) or base is not None:
        spec = to_spectrum(fids)
        if np.any(np.asarray(phase1) != 0):
            spec = apply_phase(spec, basis.freq_hz, phase1=per(phase1)[..., None])
        if base is not None:
            x = np.linspace(-1.0, 1.0, n)
            poly = legendre.legvander(x, base.shape[-1] - 1).T  # (n_coeff, n)
            spec = spec + np.broadcast_to(base, frames + base.shape[-1:]) @ poly
            truth["baseline"] = np.broadcast_to(base, frames + base.shape[-1:])
        fids = to_fid(spec)
    if noise_sd > 0:
        noise = rng.standard_normal(fids.shape + (2,)) * noise_sd
        fids = fids + noise[..., 0] + 1j * noise[..., 1]
    truth.update(
        lorentz_hz=per(lorentz_hz),
        gauss_hz=per(gauss_hz),
        shift_hz=per(shift_hz),
        phase0=per(phase0),
        phase1=per(phase1),
        noise_sd=float(noise_sd),
    )
    data = MRSData(
        fids=fids,
        dwell_time=dt,
        spectrometer_frequency=basis.spectrometer_frequency,
        nucleus=basis.nucleus,
        dims=("dyn",) if frames else (),
        echo_time=basis.echo_time,
        ppm_reference=basis.ppm_reference,
        source="mrspipe.simulate_spectra",
    )
    return data, truth
