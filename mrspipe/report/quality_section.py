"""The report's quality content: the warnings block and the Data quality section.

Plain data for the Jinja2 template (:func:`mrspipe.report.sections.context`); both read the
session QC table (``sessions_qc``) against the criteria of :mod:`mrspipe.report.qc_flags`.
Nothing here builds HTML.
"""

from __future__ import annotations

import math
from typing import Any

from . import summaries as S
from .qc_flags import criteria_rows, qc_flags
from .study import Tables
from .tables import frame_table, text_table

__all__ = ["warnings_context", "quality_context"]

#: columns of the per-session QC table of the Data quality section
QC_COLUMNS = (
    "participant_id",
    "session_id",
    "condition",
    "sex",
    "n_transients",
    "n_rejected",
    "snr_median",
    "fwhm_hz_median",
    "shift_hz_range",
    "fit_snr_median",
    "n_frames_excluded",
    "lipid_phase_model",
    "lipid_phase_p",
    "status",
    "message",
)


def warnings_context(t: Tables) -> dict[str, Any]:
    """Return the warnings block: sessions failing a QC criterion, with the run's own warnings.

    Returns ``flags`` (list of dict, :func:`~mrspipe.report.qc_flags.qc_flags`), ``summary``
    (one sentence), ``table`` (the flags as a text table) and ``run`` (the warnings the run
    recorded in ``design['warnings']``).
    """
    flags = qc_flags(t.sessions_qc, frequency_mhz=_mhz(t))
    n = len(t.sessions_qc)
    sessions = sorted({f["session"] for f in flags})
    if flags:
        summary = (
            f"{len(sessions)} of {n} sessions fail a QC criterion or failed outright "
            "(criteria and sources under Data quality)."
        )
    elif n:
        summary = f"All {n} sessions pass the QC criteria listed under Data quality."
    else:
        summary = "No session QC table was given: nothing was checked."
    table = text_table(
        ["Session", "Criterion", "Value", "Limit", "Source"],
        [[f["session"], f["criterion"], f["value"], f["limit"], f["source"]] for f in flags],
    )
    run_warnings = [str(w) for w in (t.design.get("warnings") or [])]
    return {"flags": flags, "summary": summary, "table": table, "run": run_warnings}


def _mhz(t: Tables) -> float | None:
    value = t.design.get("spectrometer_frequency_mhz")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def quality_context(t: Tables, figures: dict[str, Any]) -> dict[str, Any]:
    """Return the Data quality section: summary, failed sessions, criteria and QC table.

    ``figures`` maps a figure name to ``{"src", "caption", "file"}``; the ``qc_summary``
    figure is shown when present.
    """
    qc = t.sessions_qc
    out: dict[str, Any] = {
        "summary": "No session QC table was given.",
        "failed": [],
        "has_table": bool(len(qc)),
        "criteria": text_table(
            ["Criterion", "Limit", "Source"],
            [[r["criterion"], r["limit"], r["source"]] for r in criteria_rows(_mhz(t))],
        ),
        "figure": figures.get("qc_summary"),
        "sessions": None,
        "n_sessions": len(qc),
    }
    if not len(qc):
        return out
    o = S.qc_overview(qc)
    parts = [f"{o['n_sessions']} sessions, {o['n_failed']} failed."]
    if math.isfinite(o.get("n_transients", math.nan)):
        parts.append(
            f"{o['n_rejected']:.0f} of {o['n_transients']:.0f} transients rejected "
            f"({o['rejected_percent']:.1f} %) in the sessions that did not fail."
        )
    if o.get("n_frames_excluded", 0) > 0:
        parts.append(
            f"{o['n_frames_excluded']:.0f} of {o['n_frames']:.0f} frames left out of the time "
            f"courses in {o['n_sessions_excluding']} session(s): their fit did not converge "
            "([windows] exclude_unconverged)."
        )
    for key, name, unit in (("snr", "SNR", ""), ("fwhm_hz", "Linewidth (FWHM)", " Hz")):
        if o.get(f"{key}_range"):
            lo, hi = o[f"{key}_range"]
            parts.append(
                f"{name}: median {o[f'{key}_median']:.3g}{unit} (range {lo:.3g}–{hi:.3g})."
            )
    out["summary"] = " ".join(parts)
    failed = qc[qc["status"].astype(str) == "failed"] if "status" in qc else qc.iloc[:0]
    out["failed"] = [
        {
            "session": f"{r.participant_id} {r.session_id}",
            "message": str(getattr(r, "message", "") or "no message"),
        }
        for r in failed.itertuples(index=False)
    ]
    ordered = qc.sort_values(["participant_id", "session_id"])
    classes = ["failed" if s == "failed" else "" for s in ordered.get("status", [])]
    out["sessions"] = frame_table(ordered, columns=QC_COLUMNS, row_classes=classes or None)
    return out
