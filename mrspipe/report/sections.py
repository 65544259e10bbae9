"""The HTML of each section of the report."""

from __future__ import annotations

import html
import math
from typing import Any

from .._version import __version__
from . import summaries as S
from .study import Tables
from .tables import condition_sex_summary, dataframe_table, fmt_number, html_table

__all__ = ["render_body", "SECTIONS", "window_text"]

#: (anchor, heading) of every section, in order
SECTIONS = (
    ("design", "Study design"),
    ("quality", "Data quality"),
    ("fits", "Fit examples"),
    ("timecourses", "Time courses"),
    ("responses", "Per-participant responses"),
    ("contrasts", "Contrasts"),
    ("statistics", "Statistics tables"),
    ("checklist", "MRSinMRS checklist"),
)
_STATS_COLUMNS = (
    "metabolite",
    "analysis",
    "term",
    "subgroup",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "n",
)
_QC_COLUMNS = (
    "participant_id",
    "session_id",
    "condition",
    "sex",
    "n_transients",
    "n_rejected",
    "snr_median",
    "fwhm_hz_median",
    "shift_hz_range",
    "status",
    "message",
)


def window_text(window: tuple[float, float], event: str) -> str:
    """Describe a window in words, e.g. ``'from -600 s (-10.0 min) to 0 s (0.0 min) after ...'``."""

    def point(x: float) -> str:
        return f"{x:g} s ({x / 60:.1f} min)"

    start, end = window
    a = point(start) if math.isfinite(start) else "the start of the scan"
    b = point(end) if math.isfinite(end) else "the end of the scan"
    return f"from {a} to {b} relative to the {event}"


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _figure(images: dict[str, str], captions: dict[str, str], name: str) -> str:
    if name not in images:
        return ""
    cap = _esc(captions.get(name, ""))
    return (
        f'<figure><img src="{images[name]}" alt="{cap}">'
        f"<figcaption>{cap} (figures/{_esc(name)}.png)</figcaption></figure>"
    )


def _participants(t: Tables) -> str:
    given = t.design.get("n_participants")
    if isinstance(given, dict):
        return ", ".join(f"{_esc(k)}: {_esc(v)}" for k, v in given.items())
    if given is not None:
        return _esc(given)
    frames = [
        f[["participant_id", "sex"]]
        for f in (t.sessions_qc, t.responses, t.timecourses)
        if {"participant_id", "sex"} <= set(f.columns)
    ]
    if not frames:
        return "not recorded"
    import pandas as pd

    people = pd.concat(frames).groupby("participant_id")["sex"].first()
    counts = people.fillna("sex not recorded").astype(str).value_counts().sort_index()
    parts = ", ".join(f"{_esc(k)}: {v}" for k, v in counts.items())
    return f"{len(people)} ({parts}; counted from the data)"


def _design_section(t: Tables) -> str:
    d, rows = t.design, []
    conds = t.conditions
    contrast = f" (contrast: {_esc(conds[0])} − {_esc(conds[1])})" if len(conds) == 2 else ""
    if d.get("design") == "task":  # no drug condition: response against baseline
        rows.append(
            (
                "Conditions compared",
                "none: task design, the response against its baseline, overall and by sex "
                f"({_esc(', '.join(conds))})",
            )
        )
    else:
        rows.append(("Conditions compared", _esc(", ".join(conds) or "not recorded") + contrast))
    rows.append(("Time 0", _esc(t.event)))
    for key in ("baseline", "response"):
        note = " (default)" if key in t.defaulted else ""
        rows.append(
            (f"{key.capitalize()} window", _esc(window_text(t.windows[key], t.event)) + note)
        )
    rows.append(
        (
            "Infusion period",
            _esc(window_text(t.infusion, t.event)) if t.infusion else "not recorded",
        )
    )
    rows.append(("Participants", _participants(t)))
    for key, label in (
        ("sequence", "Sequence"),
        ("echo_time_s", "TE (s)"),
        ("repetition_time_s", "TR (s)"),
        ("field_strength_t", "Field (T)"),
        ("basis", "Basis set"),
        ("preprocessing", "Preprocessing"),
        ("fitting_model", "Fitting model"),
        ("output_measure", "Output measure"),
        ("software_version", "Software version"),
    ):
        value = d.get(key)
        if key == "software_version" and value in (None, ""):
            value = f"mrspipe {__version__}"
        if isinstance(value, list | tuple):
            value = "; ".join(str(v) for v in value)
        rows.append((label, _esc(value) if value not in (None, "") else "not recorded"))
    for key, value in (d.get("options") or {}).items():
        rows.append((f"option: {_esc(key)}", _esc(value)))
    intro = f"<p>{_esc(d['description'])}</p>" if d.get("description") else ""
    return intro + html_table(["", ""], [[f"<b>{_esc(a)}</b>", b] for a, b in rows])


def _quality_section(t: Tables, images: dict[str, str], captions: dict[str, str]) -> str:
    qc = t.sessions_qc
    if not len(qc):
        return "<p>No session QC table was given.</p>"
    o = S.qc_overview(qc)
    parts = [f"{o['n_sessions']} sessions, {o['n_failed']} failed."]
    if math.isfinite(o.get("n_transients", math.nan)):
        parts.append(
            f"{fmt_number(o['n_rejected'])} of {fmt_number(o['n_transients'])} "
            f"transients rejected ({o['rejected_percent']:.1f} %) in the sessions "
            "that did not fail."
        )
    for key, name, unit in (("snr", "SNR", ""), ("fwhm_hz", "Linewidth (FWHM)", " Hz")):
        if o.get(f"{key}_range"):
            lo, hi = o[f"{key}_range"]
            parts.append(
                f"{name}: median {o[f'{key}_median']:.3g}{unit} (range {lo:.3g}–{hi:.3g})."
            )
    out = [f"<p>{_esc(' '.join(parts))}</p>"]
    failed = qc[qc["status"].astype(str) == "failed"] if "status" in qc else qc.iloc[:0]
    if len(failed):
        items = "".join(
            f"<li><b>{_esc(r.participant_id)} {_esc(r.session_id)}</b>: "
            f"{_esc(getattr(r, 'message', '') or 'no message')}</li>"
            for r in failed.itertuples(index=False)
        )
        out.append(f'<h3>Failed sessions</h3><ul class="failed-list">{items}</ul>')
    else:
        out.append("<p>No session failed.</p>")
    out.append(_figure(images, captions, "qc_summary"))
    ordered = qc.sort_values(["participant_id", "session_id"])
    classes = ["failed" if s == "failed" else "" for s in ordered.get("status", [])]
    out.append(
        "<h3>Sessions</h3>"
        + dataframe_table(ordered, columns=_QC_COLUMNS, row_classes=classes or None)
    )
    return "\n".join(out)


def _fits_section(fit_names: list[str], images: dict[str, str], captions: dict[str, str]) -> str:
    if not fit_names:
        return "<p>No fit examples were given.</p>"
    return "\n".join(_figure(images, captions, n) for n in fit_names)


def _timecourse_section(t: Tables, images: dict[str, str], captions: dict[str, str]) -> str:
    windows = "".join(
        f"<li><b>{k.capitalize()} window</b>: {_esc(window_text(w, t.event))}"
        f"{' (default)' if k in t.defaulted else ''}</li>"
        for k, w in t.windows.items()
    )
    text = [
        f'<div class="windows"><p>Windows used (s relative to the {_esc(t.event)}):</p>'
        f"<ul>{windows}</ul></div>",
        "<p>Each session's estimates are expressed as % change from its mean over the "
        "baseline window; curves are means across participants with SEM bands, one panel "
        "per sex plus all participants (participants without a recorded sex are in the "
        "'all' panel only).</p>",
    ]
    names = [n for n in images if n.startswith("timecourse_")]
    if not names:
        text.append("<p>No time courses were given.</p>")
    text += [_figure(images, captions, n) for n in names]
    return "\n".join(text)


def _responses_section(t: Tables, images: dict[str, str], captions: dict[str, str]) -> str:
    if "responses_paired" not in images:
        return "<p>No per-participant responses were given.</p>"
    return _figure(images, captions, "responses_paired")


def _contrasts_section(images: dict[str, str], captions: dict[str, str]) -> str:
    if "forest" not in images:
        return "<p>No contrasts with confidence intervals were computed.</p>"
    return _figure(images, captions, "forest")


def _statistics_section(t: Tables) -> str:
    out = ["<h3>Group statistics</h3>"]
    if len(t.stats):
        out.append(dataframe_table(t.stats, columns=_STATS_COLUMNS, cls="stats"))
    else:
        out.append("<p>No statistics were computed (the statistics table is empty).</p>")
    summary = condition_sex_summary(t.responses) if len(t.responses) else None
    if summary is not None and len(summary):
        out.append("<h3>Responses by condition and sex (% change)</h3>")
        out.append(dataframe_table(summary, cls="responses"))
    return "\n".join(out)


def _checklist_section(t: Tables, checklist: Any, n_fits: int) -> str:
    from .checklist import NOT_RECORDED, build_checklist

    if checklist is None:
        items = build_checklist(
            t.design, sessions_qc=t.sessions_qc, timecourses=t.timecourses, n_fit_figures=n_fits
        )
    elif hasattr(checklist, "to_dict"):
        items = checklist.to_dict("records")
    else:
        items = list(checklist)
    rows, filled = [], 0
    for it in items:
        value = str(it.get("value") or NOT_RECORDED)
        missing = value == NOT_RECORDED
        filled += not missing
        cell = f'<span class="nr">{_esc(value)}</span>' if missing else _esc(value)
        rows.append(
            [_esc(it.get("section", "")), _esc(it.get("code", "")), _esc(it.get("item", "")), cell]
        )
    intro = (
        f"<p>Minimum reporting standards for in vivo MRS (MRSinMRS; Lin et al., NMR Biomed "
        f"2021;34:e4484): {filled} of {len(items)} items filled from the design and the "
        f"data; the others are marked '{NOT_RECORDED}'.</p>"
    )
    return intro + html_table(["Section", "", "Item", "Reported"], rows, cls="checklist")


def render_body(
    t: Tables,
    *,
    images: dict[str, str],
    captions: dict[str, str],
    fit_names: list[str],
    checklist: Any,
) -> str:
    """Render the HTML of every section, with a table of contents."""
    content = {
        "design": _design_section(t),
        "quality": _quality_section(t, images, captions),
        "fits": _fits_section(fit_names, images, captions),
        "timecourses": _timecourse_section(t, images, captions),
        "responses": _responses_section(t, images, captions),
        "contrasts": _contrasts_section(images, captions),
        "statistics": _statistics_section(t),
        "checklist": _checklist_section(t, checklist, len(fit_names)),
    }
    nav = "".join(f'<li><a href="#{a}">{_esc(h)}</a></li>' for a, h in SECTIONS)
    body = [f"<nav><ol>{nav}</ol></nav>"]
    body += [f'<section id="{a}"><h2>{_esc(h)}</h2>\n{content[a]}\n</section>' for a, h in SECTIONS]
    return "\n".join(body)
