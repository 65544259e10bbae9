"""The MRSinMRS minimum-reporting checklist, filled in from the design and the data.

Items follow the consensus checklist of Lin et al. (2021): 1 hardware, 2 acquisition,
3 data analysis methods and outputs, 4 data quality. Each item is filled from a ``design`` key
(see :func:`mrspipe.report.html.write_report` for the keys) or from the data (QC table, time
courses, fit figures); an item nothing fills says :data:`NOT_RECORDED`.

References
----------
Lin A, Andronesi O, Bogner W, et al. Minimum Reporting Standards for in vivo Magnetic
Resonance Spectroscopy (MRSinMRS): Experts' consensus recommendations. NMR Biomed.
2021;34:e4484. doi:10.1002/nbm.4484
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..data import GAMMA_1H_MHZ_PER_T
from .summaries import qc_overview

__all__ = ["NOT_RECORDED", "build_checklist", "CHECKLIST_ITEMS"]

NOT_RECORDED = "not recorded"


def _get(design: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = design.get(key)
        if value not in (None, "", [], ()):
            return value
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return "; ".join(_step(v) for v in value) or None
    return str(value)


def _step(step: Any) -> str:
    """Format a preprocessing step as text (a dict is shown as ``Method (k=v, ...)``)."""
    if isinstance(step, dict):
        name = step.get("Method") or step.get("method") or step.get("name") or "step"
        extra = ", ".join(
            f"{k}={v}" for k, v in step.items() if k not in {"Method", "method", "name"}
        )
        return f"{name} ({extra})" if extra else str(name)
    return str(step)


def _num(value: float, unit: str) -> str:
    return f"{value:g} {unit}"


def _field(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    field = _get(d, "field_strength_t")
    if field is not None:
        return _num(float(field), "T")
    mhz = _get(d, "spectrometer_frequency_mhz")
    if mhz is not None:
        return f"{float(mhz) / GAMMA_1H_MHZ_PER_T:.2f} T (from {float(mhz):.3f} MHz)"
    return None


def _model(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    model = _text(_get(d, "scanner_model"))
    software = _text(_get(d, "scanner_software"))
    if model and software:
        return f"{model} (software {software})"
    return model or (f"software {software}" if software else None)


def _voi_size(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    size = _get(d, "voi_size_mm")
    if size is not None:
        dims = [float(v) for v in size]
        vol_ml = math.prod(dims) / 1000.0
        return " × ".join(f"{v:g}" for v in dims) + f" mm³ ({vol_ml:.3g} mL)"
    vol = _get(d, "voi_volume_ml")
    return None if vol is None else _num(float(vol), "mL")


def _tr_te(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    parts = []
    for key, name in (("repetition_time_s", "TR"), ("echo_time_s", "TE")):
        value = _get(d, key)
        if value is not None:
            parts.append(f"{name} = {float(value):g} s ({1000 * float(value):g} ms)")
    return ", ".join(parts) or None


def _averages(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    parts = []
    qc = ctx.get("qc") or {}
    n_ok, n_tr = qc.get("n_ok", 0), qc.get("n_transients", math.nan)
    if n_ok and math.isfinite(n_tr):
        parts.append(f"{n_tr / n_ok:.0f} transients per session on average")
    per_frame = _get(d, "transients_per_frame")
    if per_frame is not None:
        parts.append(f"{per_frame} transients averaged per time point")
    method = _text(_get(d, "averaging"))
    if method:
        parts.append(f"averaging: {method}")
    if ctx.get("frames_per_session"):
        parts.append(f"{ctx['frames_per_session']} spectra (time points) per session")
    return ", ".join(parts) or None


def _sequence_extra(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    parts = []
    if _get(d, "spectral_width_hz") is not None:
        parts.append(f"spectral width {float(d['spectral_width_hz']):g} Hz")
    if _get(d, "n_points") is not None:
        parts.append(f"{int(d['n_points'])} points")
    extra = _text(_get(d, "additional_sequence_parameters"))
    if extra:
        parts.append(extra)
    return ", ".join(parts) or None


def _software(d: dict[str, Any], ctx: dict[str, Any]) -> str:
    from .._version import __version__

    return _text(_get(d, "software")) or f"mrspipe {_get(d, 'software_version') or __version__}"


def _output(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    measure = _text(_get(d, "output_measure"))
    if measure and ctx.get("metabolites"):
        return f"{measure}; metabolites: {', '.join(ctx['metabolites'])}"
    return measure


def _quant(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    parts = []
    for key, name in (
        ("basis", "basis set"),
        ("fitting_model", "model"),
        ("quantification", "quantification"),
    ):
        value = _text(_get(d, key))
        if value:
            parts.append(f"{name}: {value}")
    return "; ".join(parts) or None


def _snr_fwhm(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    qc = ctx.get("qc") or {}
    parts = []
    for key, name, unit in (("snr", "SNR", ""), ("fwhm_hz", "linewidth (FWHM)", " Hz")):
        med, rng = qc.get(f"{key}_median", math.nan), qc.get(f"{key}_range")
        if rng is not None and math.isfinite(med):
            parts.append(f"{name} median {med:.3g}{unit} (range {rng[0]:.3g}–{rng[1]:.3g})")
    if not parts:
        return None
    ref = _text(_get(d, "qc_reference_peak")) or "per-session medians over transients"
    return "; ".join(parts) + f" [{ref}]"


def _exclusion(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    parts = []
    criteria = _text(_get(d, "exclusion_criteria"))
    if criteria:
        parts.append(criteria)
    qc = ctx.get("qc") or {}
    if qc.get("n_sessions"):
        if math.isfinite(qc.get("n_rejected", math.nan)):
            parts.append(
                f"{qc['n_rejected']:.0f} of {qc['n_transients']:.0f} transients rejected "
                f"({qc['rejected_percent']:.1f} %)"
            )
        parts.append(f"{qc['n_failed']} of {qc['n_sessions']} sessions failed")
    return "; ".join(parts) or None


def _fit_quality(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    crlb = ctx.get("crlb_percent") or {}
    if not crlb:
        return _text(_get(d, "fit_quality"))
    text = ", ".join(f"{m} {v:.1f} %" for m, v in crlb.items())
    return f"median CRLB: {text}"


def _sample(d: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    n = ctx.get("n_fit_figures", 0)
    return f"{n} fit example(s) shown in the report (Fit examples)" if n else None


def _key(*keys: str) -> Callable[[dict[str, Any], dict[str, Any]], str | None]:
    return lambda d, ctx: _text(_get(d, *keys))


#: (section, code, item, filler(design, context) -> text or None)
CHECKLIST_ITEMS: tuple[tuple[str, str, str, Callable[..., str | None]], ...] = (
    ("1. Hardware", "1a", "Field strength", _field),
    ("1. Hardware", "1b", "Manufacturer", _key("manufacturer")),
    ("1. Hardware", "1c", "Model (software version)", _model),
    ("1. Hardware", "1d", "RF coils: nuclei, number of channels, type, body part", _key("rf_coil")),
    ("1. Hardware", "1e", "Additional hardware", _key("additional_hardware")),
    ("2. Acquisition", "2a", "Pulse sequence", _key("sequence")),
    ("2. Acquisition", "2b", "Volume of interest (VOI) location", _key("voi_location")),
    ("2. Acquisition", "2c", "Nominal VOI size", _voi_size),
    ("2. Acquisition", "2d", "Repetition time (TR), echo time (TE)", _tr_te),
    (
        "2. Acquisition",
        "2e",
        "Number of acquisitions per spectrum; time series averaging",
        _averages,
    ),
    (
        "2. Acquisition",
        "2f",
        "Additional sequence parameters (spectral width, points)",
        _sequence_extra,
    ),
    ("2. Acquisition", "2g", "Water suppression method", _key("water_suppression")),
    ("2. Acquisition", "2h", "Shimming method, reference peak and thresholds", _key("shimming")),
    ("2. Acquisition", "2i", "Triggering or motion correction method", _key("motion_correction")),
    ("3. Data analysis methods and outputs", "3a", "Analysis software", _software),
    ("3. Data analysis methods and outputs", "3b", "Processing steps", _key("preprocessing")),
    ("3. Data analysis methods and outputs", "3c", "Output measure", _output),
    (
        "3. Data analysis methods and outputs",
        "3d",
        "Quantification references and assumptions, fitting model assumptions",
        _quant,
    ),
    (
        "4. Data quality",
        "4a",
        "Reported variables (SNR, linewidth with reference peaks)",
        _snr_fwhm,
    ),
    ("4. Data quality", "4b", "Data exclusion criteria", _exclusion),
    ("4. Data quality", "4c", "Quality measures of model fitting (CRLB, residual)", _fit_quality),
    ("4. Data quality", "4d", "Sample spectrum", _sample),
)


def build_checklist(
    design: dict[str, Any] | None,
    *,
    sessions_qc: Any = None,
    timecourses: Any = None,
    n_fit_figures: int = 0,
) -> list[dict[str, str | None]]:
    """Fill the MRSinMRS checklist from the design and the data.

    Parameters
    ----------
    design : dict or None
        Study design and acquisition metadata (keys documented in
        :func:`mrspipe.report.html.write_report`); missing keys are tolerated.
    sessions_qc : pandas.DataFrame, optional
        Per-session QC: fills SNR/linewidth (4a), rejections and failures (4b), transients (2e).
    timecourses : pandas.DataFrame, optional
        Fills the metabolites (3c), time points per session (2e) and median CRLB % (4c).
    n_fit_figures : int
        Number of fit examples shown in the report (4d).

    Returns
    -------
    list of dict
        One dict per item with ``section, code, item, value, source`` where ``source`` is
        ``'design/data'`` for a filled item and ``'not recorded'`` otherwise (``value`` is then
        :data:`NOT_RECORDED`).
    """
    design = dict(design or {})
    ctx: dict[str, Any] = {"qc": qc_overview(sessions_qc), "n_fit_figures": int(n_fit_figures)}
    if timecourses is not None and len(timecourses):
        ctx.update(_timecourse_context(timecourses))
    items = []
    for section, code, item, filler in CHECKLIST_ITEMS:
        value = filler(design, ctx)
        filled = value not in (None, "")
        items.append(
            {
                "section": section,
                "code": code,
                "item": item,
                "value": value if filled else NOT_RECORDED,
                "source": "design/data" if filled else NOT_RECORDED,
            }
        )
    return items


def _timecourse_context(tc: Any) -> dict[str, Any]:
    """Metabolites, time points per session and median CRLB % per metabolite."""
    out: dict[str, Any] = {"metabolites": [str(m) for m in tc["metabolite"].unique()]}
    frames = tc.groupby(["participant_id", "session_id"])["frame"].nunique()
    if len(frames):
        lo, hi = int(frames.min()), int(frames.max())
        out["frames_per_session"] = f"{lo}" if lo == hi else f"{lo}–{hi}"
    if "crlb_sd" in tc:
        est = tc["estimate"].astype(float)
        pct = 100.0 * tc["crlb_sd"].astype(float) / est.where(est > 0).abs()
        med = pct.groupby(tc["metabolite"]).median().dropna()
        out["crlb_percent"] = {str(k): float(v) for k, v in med.items()}
    return out
