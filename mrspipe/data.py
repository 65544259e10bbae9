"""The data model: :class:`MRSData` and :class:`Basis`.

Both are frozen dataclasses that hold arrays and metadata; change them with
:func:`dataclasses.replace` (or the ``with_*`` helpers). Neither opens files.

Internal frequency convention
-----------------------------
mrspipe stores FIDs so that ``np.fft.fftshift(np.fft.fft(fid))`` plotted against
:attr:`MRSData.ppm` shows each resonance at its chemical shift, with ppm *increasing* with
array index: a resonance at chemical shift ``delta`` (ppm) has the FID
``exp(+2j * pi * (delta - ppm_reference) * spectrometer_frequency * t)``. NIfTI-MRS files store
the complex conjugate of this; :mod:`mrspipe.io.nifti_mrs` converts, and nothing else does.
See ``docs/conventions.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "MRSData",
    "Basis",
    "DEFAULT_PPM_REFERENCE",
    "GAMMA_1H_MHZ_PER_T",
    "frequency_axis",
    "ppm_axis",
]

#: Chemical shift (ppm) at the centre of the spectral window, by nucleus.
DEFAULT_PPM_REFERENCE: dict[str, float] = {"1H": 4.65}
#: 1H gyromagnetic ratio / 2 pi, MHz/T (CODATA 2018): field (T) = spectrometer_frequency / this
GAMMA_1H_MHZ_PER_T = 42.577478


def default_ppm_reference(nucleus: str) -> float:
    """Return the receiver-centre chemical shift for ``nucleus`` (4.65 ppm for 1H, else 0)."""
    return DEFAULT_PPM_REFERENCE.get(nucleus, 0.0)


def frequency_axis(n_points: int, dwell_time: float) -> np.ndarray:
    """Frequency of each point of a shifted spectrum.

    Parameters
    ----------
    n_points : int
        Number of spectral points.
    dwell_time : float, s
        Sampling interval of the FID.

    Returns
    -------
    (n_points,) float ndarray, Hz
        ``np.fft.fftshift(np.fft.fftfreq(n_points, dwell_time))``, ascending.
    """
    return np.fft.fftshift(np.fft.fftfreq(n_points, dwell_time))


def ppm_axis(
    n_points: int, dwell_time: float, spectrometer_frequency: float, ppm_reference: float
) -> np.ndarray:
    """Chemical shift of each point of a shifted spectrum.

    Parameters
    ----------
    n_points : int
        Number of spectral points.
    dwell_time : float, s
        Sampling interval.
    spectrometer_frequency : float, MHz
        Larmor frequency of the nucleus.
    ppm_reference : float, ppm
        Chemical shift at the receiver frequency (0 Hz).

    Returns
    -------
    (n_points,) float ndarray, ppm
        Ascending with index.
    """
    return ppm_reference + frequency_axis(n_points, dwell_time) / spectrometer_frequency


def _spectrum(fids: np.ndarray) -> np.ndarray:
    return np.fft.fftshift(np.fft.fft(fids, axis=-1), axes=-1)


class _SpectralAxes:
    """Axes shared by :class:`MRSData` and :class:`Basis` (both hold ``fids (..., n_points)``)."""

    fids: np.ndarray
    dwell_time: float
    spectrometer_frequency: float
    ppm_reference: float | None

    @property
    def n_points(self) -> int:
        """Number of spectral points."""
        return int(self.fids.shape[-1])

    @property
    def bandwidth(self) -> float:
        """Spectral width, Hz."""
        return 1.0 / self.dwell_time

    @property
    def time_s(self) -> np.ndarray:
        """Sampling times of the FID, ``(n_points,)`` s, from 0."""
        return np.arange(self.n_points) * self.dwell_time

    @property
    def freq_hz(self) -> np.ndarray:
        """Frequency of each spectral point, ``(n_points,)`` Hz, ascending."""
        return frequency_axis(self.n_points, self.dwell_time)

    @property
    def ppm(self) -> np.ndarray:
        """Chemical shift of each spectral point, ``(n_points,)`` ppm, ascending."""
        assert self.ppm_reference is not None
        return ppm_axis(
            self.n_points, self.dwell_time, self.spectrometer_frequency, self.ppm_reference
        )

    def spectrum(self) -> np.ndarray:
        """Shifted spectrum ``fftshift(fft(fids))``, ``(..., n_points)`` complex."""
        return _spectrum(self.fids)


@dataclass(frozen=True, eq=False)
class MRSData(_SpectralAxes):
    """Single-voxel (or multi-voxel) MRS data with named leading axes.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
        Time-domain signals in the internal convention (module docstring); the spectral axis is
        last, one leading axis per entry of ``dims``.
    dwell_time : float, s
        Sampling interval.
    spectrometer_frequency : float, MHz
        Larmor frequency of ``nucleus``.
    nucleus : str
        E.g. ``"1H"``.
    dims : tuple of str
        Names of the leading axes, e.g. ``("coil", "dyn")``. Known names: ``x, y, z`` (spatial,
        kept only when larger than one), ``coil, dyn, edit, meas, indirect_0.., user_0..`` and
        the other NIfTI-MRS ``DIM_*`` tags lower-cased without the prefix.
    echo_time : float, s, optional
    repetition_time : float, s, optional
    frame_times : (n_dyn,) float ndarray, s, optional
        Acquisition time of each index of the ``dyn`` axis, from the first transient.
    ppm_reference : float, ppm, optional
        Chemical shift at the receiver frequency; defaults by nucleus (4.65 for 1H).
    dim_info : dict of str to str
        Free-text description per leading axis name.
    dim_headers : dict of str to dict
        Per-axis header values (e.g. ``{"user_0": {"Bval": [0, 1, 3]}}``).
    header : dict
        Every other NIfTI-MRS header-extension field, JSON-serialisable, kept for round trips.
    affine : (4, 4) float ndarray, optional
        Voxel-to-scanner affine (mm).
    spatial_shape : tuple of int
        The NIfTI spatial shape (usually ``(1, 1, 1)``) to restore when writing.
    source : str, optional
        Where the data came from (a path), for messages.
    """

    fids: np.ndarray
    dwell_time: float
    spectrometer_frequency: float
    nucleus: str = "1H"
    dims: tuple[str, ...] = ()
    echo_time: float | None = None
    repetition_time: float | None = None
    frame_times: np.ndarray | None = None
    ppm_reference: float | None = None
    dim_info: dict[str, str] = field(default_factory=dict)
    dim_headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    affine: np.ndarray | None = None
    spatial_shape: tuple[int, ...] = (1, 1, 1)
    source: str | None = None

    def __post_init__(self) -> None:
        fids = np.asarray(self.fids)
        if not np.iscomplexobj(fids):
            raise TypeError("MRSData.fids must be complex")
        if fids.ndim != len(self.dims) + 1:
            raise ValueError(
                f"fids has {fids.ndim} axes but dims names {len(self.dims)} leading axes "
                f"({self.dims}); the spectral axis is last"
            )
        if len(set(self.dims)) != len(self.dims):
            raise ValueError(f"duplicate axis names in dims {self.dims}")
        if not self.dwell_time > 0:
            raise ValueError(f"dwell_time must be positive, got {self.dwell_time}")
        if not self.spectrometer_frequency > 0:
            raise ValueError(
                f"spectrometer_frequency must be positive, got {self.spectrometer_frequency}"
            )
        object.__setattr__(self, "fids", fids)
        object.__setattr__(self, "dims", tuple(self.dims))
        if self.ppm_reference is None:
            object.__setattr__(self, "ppm_reference", default_ppm_reference(self.nucleus))
        if self.frame_times is not None:
            times = np.asarray(self.frame_times, dtype=float)
            if "dyn" in self.dims and times.shape != (fids.shape[self.dims.index("dyn")],):
                raise ValueError(
                    f"frame_times has shape {times.shape}, expected one time per dyn index "
                    f"({fids.shape[self.dims.index('dyn')]})"
                )
            object.__setattr__(self, "frame_times", times)

    # -- shape --------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`fids`."""
        return tuple(self.fids.shape)

    def axis(self, name: str) -> int:
        """Index of the leading axis called ``name``.

        Raises
        ------
        KeyError
            If there is no such axis.
        """
        try:
            return self.dims.index(name)
        except ValueError:
            raise KeyError(f"no axis {name!r}; axes are {self.dims}") from None

    def size(self, name: str) -> int:
        """Length of the leading axis called ``name`` (1 if absent)."""
        return int(self.fids.shape[self.dims.index(name)]) if name in self.dims else 1

    # -- time ---------------------------------------------------------------------------
    def transient_times(self) -> np.ndarray:
        """Time of each ``dyn`` index, s: :attr:`frame_times`, else index x TR.

        Returns
        -------
        (n_dyn,) float ndarray, s
        """
        if self.frame_times is not None:
            return self.frame_times
        n = self.size("dyn")
        tr = self.repetition_time if self.repetition_time else 1.0
        return np.arange(n) * tr

    # -- changes ------------------------------------------------------------------------
    def with_fids(
        self, fids: np.ndarray, dims: tuple[str, ...] | None = None, **changes: Any
    ) -> MRSData:
        """Return a copy with new FIDs (and optionally new axis names or other fields)."""
        new_dims = self.dims if dims is None else tuple(dims)
        if "dyn" not in new_dims and "frame_times" not in changes:
            changes["frame_times"] = None
        return dataclasses.replace(self, fids=fids, dims=new_dims, **changes)

    def __repr__(self) -> str:
        dims = ", ".join(f"{d}={n}" for d, n in zip(self.dims, self.fids.shape, strict=False))
        return (
            f"MRSData({dims}{', ' if dims else ''}n_points={self.n_points}, "
            f"dwell={self.dwell_time:.3g} s, {self.spectrometer_frequency:.4f} MHz "
            f"{self.nucleus}, TE={self.echo_time})"
        )


@dataclass(frozen=True, eq=False)
class Basis(_SpectralAxes):
    """A basis set: one FID per metabolite, in the internal frequency convention.

    Parameters
    ----------
    names : tuple of str
        Metabolite names, e.g. ``("NAA", "Cr", ...)``.
    fids : (n_metabolites, n_points) complex ndarray
        Basis FIDs; ``np.fft.fftshift(np.fft.fft(fids))`` against :attr:`ppm` shows NAA at
        2.01 ppm.
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    nucleus : str
    echo_time : float, s, optional
    ppm_reference : float, ppm, optional
        Chemical shift at 0 Hz; defaults by nucleus (4.65 for 1H).
    meta : dict
        Format details (e.g. the header lines read, the sequence simulated).
    source : str, optional
        Where it came from.
    """

    names: tuple[str, ...]
    fids: np.ndarray
    dwell_time: float
    spectrometer_frequency: float
    nucleus: str = "1H"
    echo_time: float | None = None
    ppm_reference: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        fids = np.asarray(self.fids)
        if fids.ndim != 2 or fids.shape[0] != len(self.names):
            raise ValueError(
                f"Basis.fids must be (n_metabolites={len(self.names)}, n_points), got {fids.shape}"
            )
        if not np.iscomplexobj(fids):
            raise TypeError("Basis.fids must be complex")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate metabolite names in {self.names}")
        object.__setattr__(self, "fids", fids)
        object.__setattr__(self, "names", tuple(self.names))
        if self.ppm_reference is None:
            object.__setattr__(self, "ppm_reference", default_ppm_reference(self.nucleus))

    @property
    def n_metabolites(self) -> int:
        """Number of basis spectra."""
        return len(self.names)

    def index(self, name: str) -> int:
        """Row of metabolite ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no metabolite {name!r} in basis; it has {self.names}") from None

    def select(self, names: list[str] | tuple[str, ...]) -> Basis:
        """Return the basis restricted to ``names`` (in that order)."""
        rows = [self.index(n) for n in names]
        return dataclasses.replace(self, names=tuple(names), fids=self.fids[rows])

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __repr__(self) -> str:
        return (
            f"Basis({self.n_metabolites} metabolites, n_points={self.n_points}, "
            f"dwell={self.dwell_time:.3g} s, {self.spectrometer_frequency:.4f} MHz, "
            f"TE={self.echo_time}: {', '.join(self.names)})"
        )
