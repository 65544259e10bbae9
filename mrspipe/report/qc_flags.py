"""Session QC flags against published consensus criteria, for the top of the report.

Each criterion names the ``sessions_qc`` column it reads, its limit and where the limit comes
from. The consensus papers ask that linewidth, SNR and frequency stability be reported and that
spectra with poor lineshape be excluded; where they give a number it is used, where they do not
the limit is mrspipe's and the ``source`` says so.

References
----------
Wilson M, Andronesi O, Barker PB, et al. Methodological consensus on clinical proton MRS of the
brain: review and recommendations. Magn Reson Med. 2019;82:527-550. doi:10.1002/mrm.27742
Kreis R. Issues of spectral quality in clinical 1H-magnetic resonance spectroscopy and a gallery
of artifacts. NMR Biomed. 2004;17:361-381. doi:10.1002/nbm.891
Near J, Harris AD, Juchem C, et al. Preprocessing, analysis and quantification in single-voxel
magnetic resonance spectroscopy: experts' consensus recommendations. NMR Biomed.
2021;34:e4257. doi:10.1002/nbm.4257
Lin A, Andronesi O, Bogner W, et al. Minimum reporting standards for in vivo magnetic resonance
spectroscopy (MRSinMRS): experts' consensus recommendations. NMR Biomed. 2021;34:e4484.
doi:10.1002/nbm.4484
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["lipid_model_flags", "Criterion", "CRITERIA", "qc_flags", "criteria_rows"]


@dataclass(frozen=True)
class Criterion:
    """One QC limit.

    Parameters
    ----------
    name : str
        What is checked, in words.
    column : str
        ``sessions_qc`` column read.
    limit : float
        The limit, in ``unit`` (ppm limits are converted with the session's frequency).
    unit : {'ppm', '', '%', 'Hz'}
    above : bool
        True: a value above the limit fails; False: below fails.
    source : str
        Where the limit comes from.
    """

    name: str
    column: str
    limit: float
    unit: str
    above: bool
    source: str


#: the criteria, in the order they are listed
CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "linewidth (FWHM, median over transients)",
        "fwhm_hz_median",
        0.1,
        "ppm",
        True,
        "Kreis 2004; Wilson et al. 2019 (MRM consensus): spectra broader than 0.1 ppm are "
        "of insufficient quality",
    ),
    Criterion(
        "SNR of a fitted frame (NAA height / noise SD, median over frames)",
        "fit_snr_median",
        10.0,
        "",
        False,
        "mrspipe limit; SNR must be reported (Lin et al. 2021, MRSinMRS item 4) and no "
        "consensus value exists for single frames",
    ),
    Criterion(
        "frequency drift range over the session",
        "shift_hz_range",
        0.1,
        "ppm",
        True,
        "mrspipe limit (one consensus linewidth); Near et al. 2021 recommend correcting drift "
        "and reporting it",
    ),
    Criterion(
        "frames whose fit did not converge (a joint dynamic fit: all of them)",
        "fit_not_converged_percent",
        0.0,
        "%",
        True,
        "mrspipe limit: the estimates of a fit that stopped at its iteration limit are not at "
        "the cost's minimum; they are left out of the time courses ([windows] "
        "exclude_unconverged, the default) and stay in the fit table (QC column converged)",
    ),
    Criterion(
        "rejected transients",
        "rejected_percent",
        20.0,
        "%",
        True,
        "mrspipe limit; Near et al. 2021 recommend reporting rejected transients",
    ),
)


def _frequency(qc_row: dict[str, Any], default_mhz: float | None) -> float | None:
    raw: Any = qc_row.get("spectrometer_frequency_mhz", default_mhz)
    try:
        mhz = float(raw)
    except (TypeError, ValueError):
        return None
    return mhz if math.isfinite(mhz) and mhz > 0 else None


def _limit_hz(c: Criterion, mhz: float | None) -> float | None:
    """Return the limit in the column's unit (ppm to Hz); None when it cannot be converted."""
    if c.unit == "ppm":
        return None if mhz is None else c.limit * mhz
    return c.limit


def qc_flags(sessions_qc: Any, *, frequency_mhz: float | None = None) -> list[dict[str, Any]]:
    """List the sessions that fail a criterion (or failed outright), one entry per problem.

    Parameters
    ----------
    sessions_qc : pandas.DataFrame or None
        One row per session (``participant_id, session_id, status, message`` and the QC
        columns of :data:`CRITERIA`; ``rejected_percent`` is computed from ``n_rejected`` and
        ``n_transients`` when absent).
    frequency_mhz : float, optional, MHz
        Spectrometer frequency used when a row has none (to convert ppm limits to Hz).

    Returns
    -------
    list of dict
        ``session, criterion, value, limit, source`` (text, formatted for the report).
    """
    if sessions_qc is None or not len(sessions_qc):
        return []
    out: list[dict[str, Any]] = []
    for rec in sessions_qc.to_dict("records"):
        session = f"{rec.get('participant_id')} {rec.get('session_id') or ''}".strip()
        if str(rec.get("status", "ok")) == "failed":
            out.append(
                {
                    "session": session,
                    "criterion": "session failed",
                    "value": str(rec.get("message") or "no message"),
                    "limit": "",
                    "source": "",
                }
            )
            continue
        if "rejected_percent" not in rec:
            try:
                rec["rejected_percent"] = (
                    100.0 * float(rec["n_rejected"]) / float(rec["n_transients"])
                )
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                rec["rejected_percent"] = math.nan
        mhz = _frequency(rec, frequency_mhz)
        for c in CRITERIA:
            try:
                value = float(rec.get(c.column))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            limit = _limit_hz(c, mhz)
            if limit is None or not math.isfinite(value):
                continue
            if (value > limit) if c.above else (value < limit):
                unit = "Hz" if c.unit == "ppm" else c.unit
                shown = f"{limit:.3g} {unit}".strip()
                if c.unit == "ppm":
                    shown += f" ({c.limit:g} ppm)"
                out.append(
                    {
                        "session": session,
                        "criterion": c.name,
                        "value": f"{value:.3g} {unit}".strip(),
                        "limit": ("≤ " if c.above else "≥ ") + shown,
                        "source": c.source,
                    }
                )
    return out + lipid_model_flags(sessions_qc)


def _p_text(value: Any) -> str:
    try:
        p = float(value)
    except (TypeError, ValueError):
        return "not tested"
    return f"own test p {p:.2g}" if math.isfinite(p) else "not tested"


def lipid_model_flags(sessions_qc: Any) -> list[dict[str, Any]]:
    """Flag participants whose finished sessions were fitted with different lipid models.

    That happens with ``[fit] lipid_phase_scope = 'session'`` (``lipid_phase_model`` differs
    between a participant's sessions): a comparison of levels between their conditions then
    compares two models as well. One entry per session of such a participant.

    Returns
    -------
    list of dict
        ``session, criterion, value, limit, source`` as :func:`qc_flags`.
    """
    needed = {"participant_id", "lipid_phase_model"}
    if sessions_qc is None or not len(sessions_qc) or not needed <= set(sessions_qc.columns):
        return []
    qc = sessions_qc
    if "status" in qc:
        qc = qc[qc["status"].astype(str) != "failed"]
    qc = qc[qc["lipid_phase_model"].notna()]
    out: list[dict[str, Any]] = []
    for pid, rows in qc.groupby("participant_id", sort=True):
        if rows["lipid_phase_model"].astype(str).nunique() < 2:
            continue
        for rec in rows.sort_values("session_id").to_dict("records"):
            p = rec.get("lipid_phase_p")
            out.append(
                {
                    "session": f"{pid} {rec.get('session_id') or ''}".strip(),
                    "criterion": "lipid model differs between the participant's sessions",
                    "value": f"{rec['lipid_phase_model']} ({_p_text(p)})",
                    "limit": "one lipid model per participant",
                    "source": "lipid_phase = 'auto' decided per session (lipid_phase_scope = "
                    "'session'): levels compared between its conditions mix two models (Gln "
                    "about +10 %, GABA about +17 % when the model switches); lipid_phase_scope "
                    "= 'participant' fits them with one",
                }
            )
    return out


def criteria_rows(frequency_mhz: float | None) -> list[dict[str, str]]:
    """Return the criteria as rows (``criterion, limit, source``) for the data-quality section."""
    rows = []
    for c in CRITERIA:
        limit = f"{c.limit:g} {c.unit}".strip()
        hz = _limit_hz(c, frequency_mhz)
        if c.unit == "ppm" and hz is not None:
            limit += f" ({hz:.3g} Hz at {frequency_mhz:.4g} MHz)"
        rows.append(
            {
                "criterion": c.name,
                "limit": ("≤ " if c.above else "≥ ") + limit,
                "source": c.source,
            }
        )
    return rows
