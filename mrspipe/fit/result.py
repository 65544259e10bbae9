"""The result of :func:`mrspipe.fit.fit_spectra`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..uncertainty import combine
from .estimates import Estimates, estimates_table, name_weights
from .layout import ParameterLayout
from .lineshape_models import DEFAULT_LINESHAPE

__all__ = ["FitResult"]


def _or_nan(x: np.ndarray | None, n: int) -> np.ndarray:
    return np.full(n, np.nan) if x is None else x


def _or_false(x: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n, bool) if x is None else x


@dataclass(frozen=True, eq=False)
class FitResult:
    """Concentrations, uncertainties, QC and fitted spectra of every frame.

    Frames are the flattened leading axes of the data (``frame_shape`` keeps their shape).
    Frames that could not be fitted (NaN/Inf or all-zero data) have NaN estimates and
    ``converged == False``.

    Attributes
    ----------
    names : tuple of str
        Basis metabolites, in basis order.
    estimates : (n_frames, n_met) float ndarray
        Concentrations in basis units (multiples of each basis spectrum).
    crlb_sd : (n_frames, n_met) float ndarray
        Cramér-Rao lower bound (SD) of each estimate, same units.
    covariance : (n_frames, n_met, n_met) float ndarray
        CRLB covariance of the estimates.
    sum_names : tuple of str
        The sums available in the basis (``tNAA, tCr, tCho, Glx``).
    sum_weights : (n_sums, n_met) float ndarray
    snr : (n_frames,) float ndarray
        Peak height of the fitted NAA component (real part, phase-corrected; the largest peak of
        the whole fitted metabolite model when the basis has no NAA) divided by the noise SD of
        the real part of the spectrum, estimated from the fit residual.
    fwhm_hz : (n_frames,) float ndarray, Hz
        Linewidth of the spectrum as LCModel reports it: FWHM of the fitted NAA singlet (else
        Cr), measured on its fitted spectrum (basis times fitted lineshape,
        :func:`mrspipe.fit.qc.singlet_fwhm`); NaN when the basis has neither.
    shift_hz : (n_frames,) float ndarray, Hz
        Fitted frequency shift of the metabolite group.
    phase_rad : (n_frames,) float ndarray, rad
        Fitted zero-order phase, wrapped to (-pi, pi].
    residual_rel : (n_frames,) float ndarray
        ``|data - model - baseline| / |data|`` over the fit band.
    converged : (n_frames,) bool ndarray
    broadening_hz : (n_frames,) float ndarray, Hz
        FWHM of the Voigt lineshape the fit applied to the basis of the metabolite group
        (Olivero-Longbothum); not the linewidth of the spectrum.
    sd_inflation : (n_frames, n_met) float ndarray
        Factor (>= 1) by which each CRLB SD was raised for model mismatch: the larger of the
        residual-correlation factor (:func:`mrspipe.fit.qc.residual_inflation`) and the
        misspecification-robust sandwich (:func:`mrspipe.fit.crlb.hac_meat`); 1 where the
        residual is consistent with white noise. ``crlb_sd`` includes it.
    at_bound : (n_frames, n_met) bool ndarray
        Concentration at its lower bound 0.
    mm_at_bound : (n_frames,) bool ndarray
        A macromolecule spectrum (``Mac``, ``MM*``) sits at 0: the baseline or the metabolites
        may have taken its signal (lipids at 0 are normal and not flagged).
    lineshape_at_bound : (n_frames,) bool ndarray
        A fitted width sits at its upper bound.
    reference_at_bound : (n_frames,) bool ndarray
        tCr (every Cr/PCr spectrum of the basis) sits at 0: implausible for a brain spectrum
        (a wrong local optimum or the wrong basis); ratios to tCr are NaN there. False when
        the basis has neither.
    lipid_phase_rad : (n_frames,) float ndarray, rad
        Phase of the fitted lipid signal relative to the metabolites when the lipid
        components had a phase of their own (``lipid_phase``, :mod:`mrspipe.fit.lipids`);
        NaN otherwise.
    lipid_out_of_phase : (n_frames,) bool ndarray
        That lipid is a signal (its area > 3 SD) more than pi/4 out of phase with the
        metabolites (:attr:`mrspipe.fit.lipids.LipidPhase.flagged`): lipid from outside the
        voxel, likely.
    noise_sd : (n_frames,) float ndarray
        Noise SD of the real part of a spectral point (from the residual).
    params : dict of str to ndarray
        Fitted nonlinear parameters: ``shift_hz`` and the widths of the lineshape model
        (Voigt: ``lorentz_hz, gauss_hz``) ``(n_frames, n_groups)``, ``phase0`` (rad) and
        ``phase1`` (s) ``(n_frames,)``, ``n_iter``
        (:meth:`mrspipe.fit.layout.ParameterLayout.to_params`).
    group_names : tuple of str
    group_of : (n_met,) int ndarray
    baseline_coef : (n_frames, n_baseline) complex ndarray
    frame_shape : tuple of int
    dims : tuple of str
        Names of the frame axes.
    ppm : (n_points,) float ndarray, ppm
        Axis of the spectra methods.
    fit_band : (K,) int ndarray
        Indices into ``ppm`` of the fitted points.
    backend : str
    options : dict
    lineshape : str
        The lineshape model (a key of :data:`mrspipe.fit.lineshape_models.LINESHAPES`).
    """

    names: tuple[str, ...]
    estimates: np.ndarray
    crlb_sd: np.ndarray
    covariance: np.ndarray
    sum_names: tuple[str, ...]
    sum_weights: np.ndarray
    snr: np.ndarray
    fwhm_hz: np.ndarray
    shift_hz: np.ndarray
    phase_rad: np.ndarray
    residual_rel: np.ndarray
    converged: np.ndarray
    noise_sd: np.ndarray
    params: dict[str, np.ndarray]
    group_names: tuple[str, ...]
    group_of: np.ndarray
    baseline_coef: np.ndarray
    frame_shape: tuple[int, ...]
    dims: tuple[str, ...]
    ppm: np.ndarray
    fit_band: np.ndarray
    backend: str
    options: dict[str, Any] = field(default_factory=dict)
    broadening_hz: np.ndarray | None = None
    sd_inflation: np.ndarray | None = None
    at_bound: np.ndarray | None = None
    mm_at_bound: np.ndarray | None = None
    lineshape_at_bound: np.ndarray | None = None
    reference_at_bound: np.ndarray | None = None
    lipid_phase_rad: np.ndarray | None = None
    lipid_out_of_phase: np.ndarray | None = None
    lineshape: str = DEFAULT_LINESHAPE
    _data_fids: np.ndarray | None = None
    _basis_fids: np.ndarray | None = None
    _baseline: np.ndarray | None = None
    _dwell_time: float = 1.0

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        """Number of fitted frames."""
        return int(self.estimates.shape[0])

    # -- sums ----------------------------------------------------------------------------
    @property
    def sums(self) -> dict[str, dict[str, np.ndarray]]:
        """Sums ``{name: {"estimate": (n_frames,), "crlb_sd": (n_frames,)}}``."""
        vals, sd, _ = combine(self.estimates, self.covariance, self.sum_weights)
        return {
            n: {"estimate": vals[:, i], "crlb_sd": sd[:, i]} for i, n in enumerate(self.sum_names)
        }

    def weights_for(self, name: str) -> np.ndarray:
        """0/1 weights ``(n_met,)`` of a metabolite or a sum name."""
        return name_weights(name, self.names, self.sum_names, self.sum_weights)

    def combination(self, names: list[str] | tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Estimates and covariance of metabolites or sums by name.

        Returns
        -------
        values : (n_frames, n_names) float ndarray
        cov : (n_frames, n_names, n_names) float ndarray
        """
        w = np.array([self.weights_for(n) for n in names])
        vals, _, cov = combine(self.estimates, self.covariance, w)
        return vals, cov

    # -- tables --------------------------------------------------------------------------
    def table(self, source: str | None = None) -> Any:
        """Tidy table: one row per (frame, metabolite), sums included.

        Returns
        -------
        pandas.DataFrame
            Columns ``source, frame, metabolite, estimate, crlb_sd, crlb_percent, at_bound``
            (``crlb_percent = 100 crlb_sd / estimate``; NaN when the estimate is 0;
            ``at_bound``: a metabolite at 0, a sum whose members are all at 0).
        """
        vals, sd, _ = combine(self.estimates, self.covariance, self.sum_weights)
        names = self.names + self.sum_names
        est = np.concatenate([self.estimates, vals], axis=1)
        crlb = np.concatenate([self.crlb_sd, sd], axis=1)
        n_f = est.shape[0]
        at = self.at_bound if self.at_bound is not None else self.estimates <= 0
        at_sum = (
            np.all(at[:, None, :] | (self.sum_weights[None] == 0), axis=2)
            if len(self.sum_names)
            else np.zeros((n_f, 0), bool)
        )
        bound = np.concatenate([at, at_sum], axis=1)
        return estimates_table(source, names, est, crlb).assign(at_bound=bound.ravel())

    def to_estimates(self, frame_times: np.ndarray | None = None) -> Estimates:
        """Return every frame's metabolites and sums with their covariance (:class:`Estimates`).

        Parameters
        ----------
        frame_times : (n_frames,) float ndarray, s, optional
        """
        names = self.names + self.sum_names
        w = np.concatenate([np.eye(len(self.names)), self.sum_weights.reshape(-1, len(self.names))])
        values, sd, cov = combine(self.estimates, self.covariance, w)
        return Estimates(
            names=names,
            estimates=values,
            crlb_sd=sd,
            covariance=cov,
            frame_times=None if frame_times is None else np.asarray(frame_times, dtype=float),
        )

    def qc_table(self, source: str | None = None) -> Any:
        """Tidy QC table, one row per frame.

        Returns
        -------
        pandas.DataFrame
            Columns ``source, frame, snr, fwhm_hz, shift_hz, phase_rad, residual_rel,
            converged, fwhm_ppm, linewidth_metabolite, broadening_hz, sd_inflation,
            n_at_bound, mm_at_bound, lineshape_at_bound, reference_at_bound, lipid_phase_rad,
            lipid_out_of_phase`` and the :meth:`lipid_record` columns (``fwhm_hz``/
            ``fwhm_ppm``: measured linewidth of the spectrum; ``broadening_hz``: the lineshape
            applied to the basis).
        """
        import pandas as pd

        n = self.n_frames
        return pd.DataFrame(
            {
                "source": [source] * self.n_frames,
                "frame": np.arange(self.n_frames),
                "snr": self.snr,
                "fwhm_hz": self.fwhm_hz,
                "shift_hz": self.shift_hz,
                "phase_rad": self.phase_rad,
                "residual_rel": self.residual_rel,
                "converged": self.converged,
                "fwhm_ppm": self.fwhm_hz / self.spectrometer_frequency,
                "linewidth_metabolite": [self.linewidth_metabolite] * self.n_frames,
                "broadening_hz": _or_nan(self.broadening_hz, n),
                "sd_inflation": (
                    np.median(self.sd_inflation, axis=1)
                    if self.sd_inflation is not None
                    else np.full(n, np.nan)
                ),
                "n_at_bound": (
                    self.at_bound.sum(axis=1) if self.at_bound is not None else np.zeros(n, int)
                ),
                "mm_at_bound": _or_false(self.mm_at_bound, n),
                "lineshape_at_bound": _or_false(self.lineshape_at_bound, n),
                "reference_at_bound": _or_false(self.reference_at_bound, n),
                "lipid_phase_rad": _or_nan(self.lipid_phase_rad, n),
                "lipid_out_of_phase": _or_false(self.lipid_out_of_phase, n),
                **self.lipid_record(),
            }
        )

    def lipid_record(self) -> dict[str, Any]:
        """How the lipid model was chosen (:data:`~mrspipe.fit.lipids.LIPID_RECORD`)."""
        from .lipids import lipid_record

        opts = self.options or {}
        return lipid_record(
            str(opts.get("lipid_phase", "metabolites")),
            str(opts.get("lipid_phase_scope", "fixed")),
            opts.get("lipid_phase_test"),
        )

    @property
    def spectrometer_frequency(self) -> float:
        """Spectrometer frequency, MHz (from the ppm axis and the dwell time)."""
        n = len(self.ppm)
        span = float(self.ppm[-1] - self.ppm[0])
        return float((n - 1) / (n * self._dwell_time) / span) if span else float("nan")

    @property
    def linewidth_metabolite(self) -> str:
        """The singlet whose FWHM is :attr:`fwhm_hz` (``''`` when none)."""
        from .crlb import canonical
        from .qc import REFERENCE_SINGLETS

        canon = [canonical(n) for n in self.names]
        return next((ref for ref, _ in REFERENCE_SINGLETS if ref in canon), "")

    # -- spectra -------------------------------------------------------------------------
    def _metabolite_fids(self) -> np.ndarray:
        assert self._basis_fids is not None
        n = self._basis_fids.shape[-1]
        t = np.arange(n) * self._dwell_time
        out = np.zeros((self.n_frames, n), complex)
        layout = ParameterLayout.of(self.lineshape, self.group_names)
        theta = layout.groups(layout.from_params(self.params))  # (F, G, per_group)
        for g in range(len(self.group_names)):
            rows = self.group_of == g
            z = np.nan_to_num(self.estimates[:, rows]) @ self._basis_fids[rows]
            decay = layout.lineshape.decay(t, theta[:, g, 1:])
            h = decay * np.exp(2j * np.pi * theta[:, g, 0:1] * t)
            out += np.nan_to_num(z * h)
        return out

    def component_spectra(
        self, weights: np.ndarray, frames: np.ndarray | slice | None = None
    ) -> np.ndarray:
        """Model spectra of weighted metabolite sets, no baseline: ``(k, n_selected, n_points)``.

        Row ``j`` equals :meth:`model_spectra` (``baseline=False``) of this fit with its
        estimates multiplied by ``weights[j]`` (``(k, n_metabolites)``), for the ``frames``
        selected (default all); the lineshapes are built once for all ``k`` sets (a fit
        figure's components in one pass).
        """
        assert self._basis_fids is not None
        w = np.atleast_2d(np.asarray(weights, dtype=float))
        sel = np.arange(self.n_frames)[slice(None) if frames is None else frames]
        n = self._basis_fids.shape[-1]
        t = np.arange(n) * self._dwell_time
        fids = np.zeros((w.shape[0], sel.size, n), complex)
        layout = ParameterLayout.of(self.lineshape, self.group_names)
        theta = layout.groups(layout.from_params(self.params))[sel]  # (S, G, per_group)
        for g in range(len(self.group_names)):
            rows = self.group_of == g
            est = np.nan_to_num(self.estimates[sel][:, rows])[None] * w[:, None, rows]
            decay = layout.lineshape.decay(t, theta[:, g, 1:])
            h = decay * np.exp(2j * np.pi * theta[:, g, 0:1] * t)
            fids += np.nan_to_num((est @ self._basis_fids[rows]) * h)
        spec = np.fft.fftshift(np.fft.fft(fids, axis=-1), axes=-1)
        freq = np.fft.fftshift(np.fft.fftfreq(len(self.ppm), self._dwell_time))
        phase0 = np.nan_to_num(np.asarray(self.params["phase0"])[sel])[:, None]
        phase1 = np.nan_to_num(np.asarray(self.params["phase1"])[sel])[:, None]
        return spec * np.exp(1j * (phase0 + 2 * np.pi * freq * phase1))

    def summed_component_fids(
        self, weights: np.ndarray, frames: np.ndarray | slice | None = None
    ) -> np.ndarray:
        """Model FIDs of weighted metabolite sets summed over frames, before the fitted phase.

        ``(k, n_points)``: the sum over the selected ``frames`` (default all) of the FIDs whose
        shifted FFT, times each frame's fitted zero- and first-order phase, is
        :meth:`component_spectra`. A figure that removes each frame's phase again averages
        these (one FFT per set); no ``(k, n_frames, n_points)`` array is formed.
        """
        assert self._basis_fids is not None
        w = np.atleast_2d(np.asarray(weights, dtype=float))
        sel = np.arange(self.n_frames)[slice(None) if frames is None else frames]
        n = self._basis_fids.shape[-1]
        t = np.arange(n) * self._dwell_time
        total = np.zeros((w.shape[0], n), complex)
        layout = ParameterLayout.of(self.lineshape, self.group_names)
        theta = layout.groups(layout.from_params(self.params))[sel]  # (S, G, per_group)
        for g in range(len(self.group_names)):
            rows = self.group_of == g
            est = np.nan_to_num(self.estimates[sel][:, rows])  # (S, m)
            decay = layout.lineshape.decay(t, theta[:, g, 1:])
            h = np.nan_to_num(decay * np.exp(2j * np.pi * theta[:, g, 0:1] * t))  # (S, n)
            # sum_f est[f, m] h[f] per metabolite, then each set's weighted basis FIDs
            total += w[:, rows] @ (self._basis_fids[rows] * (est.T @ h))
        return total

    def model_spectra(self, *, baseline: bool = True) -> np.ndarray:
        """Fitted spectrum (metabolites + baseline), ``(n_frames, n_points)`` complex.

        Same axis as :attr:`ppm`; the baseline exists only over the fit band (0 outside).
        """
        spec = np.fft.fftshift(np.fft.fft(self._metabolite_fids(), axis=-1), axes=-1)
        freq = np.fft.fftshift(np.fft.fftfreq(len(self.ppm), self._dwell_time))
        phase0 = np.nan_to_num(self.params["phase0"])[:, None]
        phase1 = np.nan_to_num(self.params["phase1"])[:, None]
        spec = spec * np.exp(1j * (phase0 + 2 * np.pi * freq * phase1))
        if baseline:
            spec = spec + self.baseline_spectra()
        return spec

    def baseline_spectra(self) -> np.ndarray:
        """Fitted baseline, ``(n_frames, n_points)`` complex (0 outside the fit band)."""
        assert self._baseline is not None
        out = np.zeros((self.n_frames, len(self.ppm)), complex)
        out[:, self.fit_band] = np.nan_to_num(self.baseline_coef) @ self._baseline.T
        return out

    def data_spectra(self) -> np.ndarray:
        """Return the fitted data, ``(n_frames, n_points)`` complex."""
        assert self._data_fids is not None
        return np.fft.fftshift(np.fft.fft(self._data_fids, axis=-1), axes=-1)

    def residual_spectra(self) -> np.ndarray:
        """Return data minus model (incl. baseline), ``(n_frames, n_points)`` complex."""
        return self.data_spectra() - self.model_spectra()
