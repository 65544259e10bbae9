"""The default preprocessing chain for one time-resolved session.

coil combination -> eddy-current correction -> frequency and phase alignment (over the
metabolite range, residual water kept out by the range and its taper) -> residual water removal
(one HLSVD model per series on the mean aligned transient, amplitudes re-fitted per transient;
``water_model='per_transient'`` runs a full HLSVD on every transient before alignment instead)
-> bad-transient rejection -> ppm referencing -> per-transient QC -> averaging into frames
(-> linewidth matching). Each step is a function of this package usable alone;
this module only wires them on :class:`~mrspipe.data.MRSData` and records provenance.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._version import __version__
from ..data import MRSData
from ..errors import PreprocessError
from . import align, average, ecc, measure, reference, reject
from . import water as water_removal
from .inputs import check_reference, combine, combine_ref, water_for, zero_nonfinite
from .options import PreprocessOptions
from .qc import NOT_ASSESSED, QC_COLUMNS, qc_table, snr_and_fwhm
from .shapes import prepare_shape

__all__ = [
    "PreprocessOptions",
    "PreprocessResult",
    "preprocess_session",
    "QC_COLUMNS",
    "NOT_ASSESSED",
]

logger = logging.getLogger("mrspipe")


@dataclass(frozen=True)
class PreprocessResult:
    """Result of :func:`preprocess_session`.

    Attributes
    ----------
    frames : MRSData
        Averaged frames on the ``dyn`` axis, ``frame_times`` at the frame centres (s), the
        steps in ``header["ProcessingApplied"]``.
    transients : MRSData
        Combined, corrected, aligned single transients (rejected ones included; see ``qc``).
    qc : dict of str to ndarray
        One entry per transient (flattened over any other leading axes, transient-major):
        :data:`QC_COLUMNS` plus ``residual_z`` and the index of every other axis.
    steps : list of dict
        NIfTI-MRS ``ProcessingApplied`` entries (``Time, Program, Version, Method, Details``).
    n_averaged : ndarray
        Transients averaged into each frame.
    reference_offset_hz : float, Hz
        Shift removed by ppm referencing.
    average_before : ndarray, optional
        Mean FID over the transients before correction (after coil combination), the
        ``dyn`` axis removed, for before/after figures.
    average_after : ndarray, optional
        Mean FID of the accepted corrected transients, same shape.
    """

    frames: MRSData
    transients: MRSData
    qc: dict[str, np.ndarray]
    steps: list[dict[str, Any]] = field(default_factory=list)
    n_averaged: np.ndarray | None = None
    reference_offset_hz: float = 0.0
    average_before: np.ndarray | None = None
    average_after: np.ndarray | None = None


def _step(name: str, **details: Any) -> dict[str, Any]:
    return {
        "Time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "Program": "mrspipe",
        "Version": __version__,
        "Method": name,
        "Details": json.dumps(details, default=str),
    }


def preprocess_session(
    data: MRSData,
    *,
    water: MRSData | None = None,
    options: PreprocessOptions | None = None,
    ecc_reference: MRSData | None = None,
    overwrite_data: bool = False,
) -> PreprocessResult:
    """Preprocess every transient of a session and average it into frames.

    Parameters
    ----------
    data : MRSData
        Transients on the ``dyn`` axis, optionally a ``coil`` axis and other axes (each index
        of those is processed as its own group, e.g. b-values). A single (scanner-averaged)
        spectrum, with or without coils, is processed too: coil combination, eddy-current
        correction, water removal, referencing and phasing apply; alignment and rejection do
        not, and the QC ``reason`` says so. An ``edit`` axis is refused.
    water : MRSData, optional
        Water reference (unsuppressed), any number of transients (averaged): coil weights,
        eddy-current correction.
    options : PreprocessOptions, optional
    ecc_reference : MRSData, optional
        A separate unsuppressed reference for eddy-current correction (e.g. a short
        ``ecc`` acquisition); default: the water reference.
    overwrite_data : bool
        The caller gives ``data.fids`` up: the chain works in its memory (it ends holding the
        corrected transients, as ``transients`` does), which saves one copy of the session.
        Default False: ``data`` is never written to.

    Returns
    -------
    PreprocessResult

    Raises
    ------
    PreprocessError
        For input that cannot be processed (edited data, all-zero data, a water reference of
        another shape, dwell time or field), naming the file.
    """
    opts = options or PreprocessOptions()
    src = data.source
    data, averaged = prepare_shape(data)
    raw = data.fids  # the caller's array: never written to unless ``overwrite_data``
    data = zero_nonfinite(data, src)
    if not measure.nonzero_finite(data.fids)[0].any():
        raise PreprocessError("all transients are zero", src)
    for ref in (water, ecc_reference):
        if ref is not None:
            check_reference(data, ref)
    steps: list[dict[str, Any]] = []
    if "coil" in data.dims:
        weights_from = "water reference" if water is not None else "data"
        data, water, weights = combine(data, water, opts.coil_method)
        ecc_reference = combine_ref(ecc_reference, weights, len(weights))
        steps.append(
            _step(
                "Coil combination",
                method=opts.coil_method,
                n_coils=len(weights),
                weights_from=weights_from,
            )
        )
    else:
        for ref in (water, ecc_reference):
            if ref is not None and "coil" in ref.dims:
                raise PreprocessError("the reference has coils but the data do not", ref.source)
    ecc_ref = ecc_reference if ecc_reference is not None else water
    assert data.ppm_reference is not None
    args = (data.dwell_time, data.spectrometer_frequency, data.ppm_reference)
    fids = data.fids
    before = fids.mean(axis=data.axis("dyn"))
    # one working copy of the session, in the data's precision (single for NIfTI files: the
    # steps below form their products in double and round once), changed in place by every
    # step after this one; each step's temporaries are a block of transients
    dtype = np.result_type(raw.dtype, np.complex64)
    own = (
        fids.dtype == dtype
        and fids.flags.c_contiguous
        and fids.flags.writeable
        and (overwrite_data or not np.shares_memory(fids, raw))
    )
    work = fids if own else np.empty(fids.shape, dtype)
    if ecc_ref is not None and opts.eddy_current:
        ecc.eddy_current_correct(fids, water_for(data.dims, fids.shape[:-1], ecc_ref), out=work)
        steps.append(
            _step(
                "Eddy current correction",
                method="Klose 1990 (water phase)",
                reference="ECC reference" if ecc_reference is not None else "water reference",
            )
        )
    elif work is not fids:
        np.copyto(work, fids, casting="same_kind")
    fids = work
    data = data.with_fids(fids)  # drops a combined-coil array of another precision
    water_step = _step(
        "Nuisance peak removal",
        method=f"HLSVD ({opts.water_model} model)",
        band_ppm=opts.water_band,
        components=opts.hlsvd_components,
        points=opts.hlsvd_points,
    )
    if opts.remove_water and opts.water_model == "per_transient":
        fids[...] = water_removal.remove_water(
            fids,
            *args,
            band=opts.water_band,
            n_components=opts.hlsvd_components,
            n_fit=opts.hlsvd_points,
            rng=opts.rng,
        )
        steps.append(water_step)
    ax = data.axis("dyn")
    zero = ~measure.nonzero_finite(fids)[0]
    shape = fids.shape[:-1]
    shift, phase = np.zeros(shape), np.zeros(shape)
    ref_fid = average.masked_mean(fids, True, axis=ax, keepdims=True)
    conv = ~zero
    if averaged:
        steps.append(_step("Frequency and phase alignment", skipped=NOT_ASSESSED, n_transients=1))
    if opts.align and not averaged:
        # the registration range and taper keep residual water out, so it runs before the
        # shared water model (which needs aligned transients)
        res = align.align_transients(
            fids,
            *args,
            axis=ax,
            ppm_range=opts.align_range,
            reference=opts.align_reference,
            n_reference=opts.align_n_reference,
            n_iter=opts.align_iterations,
            lb_hz=opts.align_lb_hz,
            window=opts.align_window,
            window_step=opts.align_window_step,
            exclude=zero,
            out=fids,
        )
        shift, phase, ref_fid, conv = (
            res.shift_hz,
            res.phase_rad,
            res.reference,
            res.converged,
        )
        steps.append(
            _step(
                "Frequency and phase alignment",
                method="spectral registration (Near 2015), variable projection + Newton",
                ppm_range=opts.align_range,
                reference=opts.align_reference,
                iterations=opts.align_iterations,
                window=opts.align_window,
            )
        )
    if opts.remove_water and opts.water_model == "shared":
        _, cleaned_ref = water_removal.remove_water_shared(
            fids,
            *args,
            axis=ax,
            band=opts.water_band,
            n_components=opts.hlsvd_components,
            n_fit=opts.hlsvd_points,
            rng=opts.rng,
            exclude=zero,
            extra=ref_fid,
            out=fids,
        )
        assert cleaned_ref is not None
        ref_fid = cleaned_ref
        steps.append(water_step)
    if averaged:
        rejected, resid_z = zero.copy(), np.zeros(shape)
        reason = np.where(zero, reject.REASONS["empty"], NOT_ASSESSED).astype(object)
    else:
        rejected, resid_z, reason = reject.find_bad_transients(
            fids,
            ref_fid,
            *args,
            axis=ax,
            ppm_range=opts.align_range,
            threshold=opts.reject_threshold,
            converged=conv if opts.align else None,
        )
    if not opts.reject or averaged:
        rejected = zero.copy()
        reason = np.where(zero, reject.REASONS["empty"], np.where(averaged, reason, ""))
    else:
        steps.append(
            _step(
                "Outlier removal",
                method="robust z of residual and amplitude",
                threshold=opts.reject_threshold,
                n_rejected=int(rejected.sum()),
            )
        )
    if rejected.all():
        raise PreprocessError("every transient was rejected; nothing to average", src)
    offset = 0.0
    if opts.reference_ppm:
        good = average.masked_mean(fids, ~rejected, axis=ax)
        offset = reference.find_reference_offset(good, *args)
        t = np.arange(fids.shape[-1]) * data.dwell_time
        np.multiply(fids, np.exp(-2j * np.pi * offset * t), out=fids, casting="same_kind")
        steps.append(
            _step(
                "Frequency and phase alignment",
                method="ppm referencing",
                peaks=reference.REFERENCE_PEAKS,
                offset_hz=round(offset, 4),
            )
        )
    if opts.phase:
        good = average.masked_mean(fids, ~rejected, axis=ax, keepdims=True)
        phi = reference.find_zero_phase(good, *args)
        np.multiply(fids, np.exp(-1j * phi), out=fids, casting="same_kind")
        steps.append(
            _step(
                "Phasing",
                method="zero-order, absorptive NAA and Cr singlets",
                peaks=reference.REFERENCE_PEAKS,
                phase_rad=np.round(phi, 4).ravel().tolist(),
            )
        )
    after = average.masked_mean(fids, ~rejected, axis=ax)
    snr, fwhm = snr_and_fwhm(fids, args, width=opts.qc_fwhm_window, axis=ax)
    qc = qc_table(data, shift, phase, snr, fwhm, rejected, resid_z, reason)
    transient_steps = list(steps)  # averaging and linewidth matching apply to frames only
    width, step_ = (
        (opts.window, opts.step) if opts.window else (min(opts.block, data.size("dyn")), None)
    )
    frames, frame_times, counts = average.average_frames(
        fids, data.transient_times(), width=width, step=step_, axis=ax, rejected=rejected
    )
    steps.append(
        _step("Signal averaging", width=width, step=step_ or width, excluded_rejected=True)
    )
    if opts.linewidth_match:
        frames, added = average.match_linewidths(frames, *args, lineshape=opts.linewidth_match)
        steps.append(
            _step(
                "Linewidth matching",
                lineshape=opts.linewidth_match,
                max_added_hz=round(float(np.max(added)), 4),
            )
        )
    header = dict(data.header)
    header["ProcessingApplied"] = list(header.get("ProcessingApplied", [])) + steps
    dyn_headers = {k: v for k, v in data.dim_headers.items() if k != "dyn"}
    out = dataclasses.replace(
        data, fids=frames, frame_times=frame_times, header=header, dim_headers=dyn_headers
    )
    t_header = dict(data.header)
    t_header["ProcessingApplied"] = list(t_header.get("ProcessingApplied", [])) + transient_steps
    transients = dataclasses.replace(data, fids=fids, header=t_header)
    if averaged:
        logger.info("%s: a single averaged spectrum; %s", src or "data", NOT_ASSESSED)
    logger.info(
        "preprocessed %s: %d transients (%d series), %d rejected, %d frames",
        src or "data",
        data.size("dyn"),
        rejected.size // data.size("dyn"),
        int(rejected.sum()),
        len(frame_times),
    )
    return PreprocessResult(
        frames=out,
        transients=transients,
        qc=qc,
        steps=steps,
        n_averaged=counts,
        reference_offset_hz=offset,
        average_before=before,
        average_after=after,
    )
