"""The content of every section of the report, as plain data for the Jinja2 template.

Nothing here builds HTML: values are text and numbers; the template escapes them.
"""

from __future__ import annotations

import math
from typing import Any

from .._version import __version__
from .answer import Answer
from .quality_section import quality_context, warnings_context
from .settings import acquisition_rows, settings_tables
from .study import Tables
from .tables import condition_sex_summary, frame_table, text_table

__all__ = ["SECTIONS", "window_text", "context", "STATS_COLUMNS", "INLINE_FITS"]

#: (anchor, heading) of the sections after the answer and the warnings, in order
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
#: columns of the statistics tables (multiplicity columns shown when present)
STATS_COLUMNS = (
    "analysis",
    "term",
    "subgroup",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "p_perm",
    "p_holm",
    "q_bh",
    "n",
)
#: fit figures shown inline; the others are one click away
INLINE_FITS = 4
#: group tables linked from the statistics section (relative to report.html)
LINKED_TABLES = ("group/stats.tsv", "group/responses.tsv", "group/timecourses.tsv")


def window_text(window: tuple[float, float], event: str) -> str:
    """Describe a window in words, e.g. ``'from -600 s (-10.0 min) to 0 s (0.0 min) after ...'``."""

    def point(x: float) -> str:
        return f"{x:g} s ({x / 60:.1f} min)"

    start, end = window
    a = point(start) if math.isfinite(start) else "the start of the scan"
    b = point(end) if math.isfinite(end) else "the end of the scan"
    return f"from {a} to {b} relative to the {event}"


def window_words(t: Tables, kind: str) -> str:
    """Describe the ``kind`` window the run used, in words.

    The pipeline's own description (``design['<kind>_window_text']``) wins: an open end there
    is closed by the event's duration, which the numbers alone do not say.
    """
    given = t.design.get(f"{kind}_window_text")
    text = str(given) if given else window_text(t.windows[kind], t.event)
    return text + (" (default)" if kind in t.defaulted else "")


def _figure(figures: dict[str, dict[str, str]], name: str) -> dict[str, str] | None:
    return figures.get(name)


def participants_text(t: Tables) -> str:
    """``'16 (F: 8, M: 8; counted from the data)'``, or the design's count."""
    given = t.design.get("n_participants")
    if isinstance(given, dict):
        return ", ".join(f"{k}: {v}" for k, v in given.items())
    if given is not None:
        return str(given)
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
    parts = ", ".join(f"{k}: {v}" for k, v in counts.items())
    return f"{len(people)} ({parts}; counted from the data)"


def _answer(t: Tables, answer: Answer, figures: dict[str, Any]) -> dict[str, Any]:
    sentences = []
    if answer.metabolite:
        contrast = answer.contrast_words
        sentences.append(
            {
                "text": f"Primary outcome: {answer.metabolite}, mean % change from baseline "
                f"({contrast}); differences are in percentage points.",
                "cls": "outcome",
            }
        )
    for row in answer.rows:
        cls = f"{row.role}-{row.subgroup}" if row.role in ("contrast", "response") else row.role
        sentences.append({"text": row.sentence, "cls": cls})
    if answer.rows:
        windows = "; ".join(f"{k} window {window_words(t, k)}" for k in t.windows)
        sentences.append(
            {
                "text": f"Participants: {participants_text(t)}. Windows: {windows}.",
                "cls": "design",
            }
        )
    heading = (
        f"Answer: {answer.metabolite}, {answer.contrast_words}" if answer.metabolite else "Answer"
    )
    missing = (
        "No statistics row answers the study's question (the statistics table is empty or "
        "holds no contrast of the primary outcome); see the sections below."
    )
    return {
        "heading": heading,
        "sentences": sentences if answer.rows else [],
        "missing": missing,
        "figure": _figure(figures, "answer"),
    }


def _design(t: Tables) -> dict[str, Any]:
    d = t.design
    conds = t.conditions
    rows: list[list[str]] = []
    if len(conds) >= 2 and d.get("design") != "task":
        rows.append(
            ["Conditions compared", f"{', '.join(conds)} (contrast: {conds[0]} − {conds[1]})"]
        )
    else:
        labels = f" ({', '.join(conds)})" if conds else ""
        rows.append(
            [
                "Conditions compared",
                "none: task design, the response against its baseline, overall and by sex" + labels,
            ]
        )
    rows.append(["Primary outcome", str(d.get("primary") or "not set")])
    rows.append(["Time 0", t.event])
    for key in ("baseline", "response"):
        rows.append([f"{key.capitalize()} window", window_words(t, key)])
    rows.append(
        ["Infusion period", window_text(t.infusion, t.event) if t.infusion else "not recorded"]
    )
    rows.append(["Participants", participants_text(t)])
    for key, label in (
        ("basis", "Basis set"),
        ("fitting_model", "Fitting model"),
        ("output_measure", "Output measure"),
        ("software_version", "Software"),
    ):
        value = d.get(key)
        if key == "output_measure" and value in (None, ""):
            value = "mean % change from each session's baseline window (response window mean)"
        if key == "software_version" and value in (None, ""):
            value = f"mrspipe {__version__}"
        rows.append([label, "not recorded" if value in (None, "") else str(value)])
    settings = [
        dict(s, table=_settings_table(s["rows"]))
        for s in settings_tables(
            d.get("options"), docs=d.get("option_docs"), defaults=d.get("option_defaults")
        )
    ]
    acq = acquisition_rows(d)
    return {
        "table": text_table(["Item", "Value"], rows),
        "acquisition": text_table(
            ["Item", "Value", "Source"], [[r["item"], r["value"], r["source"]] for r in acq]
        ),
        "settings": settings,
    }


def _settings_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    table = text_table(
        ["Option", "Value", "Meaning"], [[r["option"], r["value"], r["meaning"]] for r in rows]
    )
    for r, row in zip(table["rows"], rows, strict=True):
        r["cls"] = "changed" if row["changed"] else ""
        r["cells"][1]["cls"] = "value"
    return table


def _fits(fit_names: list[str], figures: dict[str, Any]) -> dict[str, Any]:
    items = [figures[n] for n in fit_names if n in figures]
    return {
        "inline": items[:INLINE_FITS],
        "more": items[INLINE_FITS:],
        "note": "Each panel: data (black), fit (red), baseline (blue) and residual (top), "
        "averaged over a session's frames; the main components are drawn offset below.",
    }


def _statistics(t: Tables, answer: Answer) -> dict[str, Any]:
    st = t.stats
    out: dict[str, Any] = {
        "groups": [],
        "links": [{"href": h, "name": h} for h in t.design.get("linked_tables", LINKED_TABLES)],
        "note": "One table per metabolite, the primary outcome first and open; rows stating "
        "the answer are highlighted. p_perm: within-participant permutation p; p_holm / q_bh: "
        "Holm and Benjamini-Hochberg adjusted across metabolites (when computed).",
        "responses": None,
    }
    if len(st) and "metabolite" in st.columns:
        metabolites = [str(m) for m in st["metabolite"].dropna().unique()]
        primary = answer.metabolite
        order = ([primary] if primary in metabolites else []) + [
            m for m in metabolites if m != primary
        ]
        keys = {(r.analysis, r.term, r.subgroup) for r in answer.rows}
        for m in order:
            rows = st[st["metabolite"].astype(str) == m]
            classes = [
                "answer" if m == primary and (str(a), str(b), str(c)) in keys else ""
                for a, b, c in zip(
                    rows["analysis"],
                    rows["term"],
                    rows["subgroup"] if "subgroup" in rows else ["all"] * len(rows),
                    strict=True,
                )
            ]
            title = f"{m}{' (primary outcome)' if m == primary else ''}: {len(rows)} rows"
            out["groups"].append(
                {
                    "title": title,
                    "open": m == primary,
                    "table": frame_table(rows, columns=STATS_COLUMNS, row_classes=classes),
                }
            )
    summary = condition_sex_summary(t.responses) if len(t.responses) else None
    if summary is not None and len(summary):
        out["responses"] = frame_table(summary)
    return out


def _checklist(t: Tables, checklist: Any, n_fits: int) -> dict[str, Any]:
    from .checklist import NOT_RECORDED, build_checklist

    if checklist is None:
        items = build_checklist(
            t.design, sessions_qc=t.sessions_qc, timecourses=t.timecourses, n_fit_figures=n_fits
        )
    elif hasattr(checklist, "to_dict"):
        items = checklist.to_dict("records")
    else:
        items = list(checklist)
    rows, classes, filled = [], [], 0
    for it in items:
        value = str(it.get("value") or NOT_RECORDED)
        missing = value == NOT_RECORDED
        filled += not missing
        rows.append(
            [str(it.get("section", "")), str(it.get("code", "")), str(it.get("item", "")), value]
        )
        classes.append(missing)
    table = text_table(["Section", "", "Item", "Reported"], rows)
    for r, missing in zip(table["rows"], classes, strict=True):
        if missing:
            r["cells"][3]["cls"] = "nr"
    intro = (
        f"Minimum reporting standards for in vivo MRS (MRSinMRS; Lin et al., NMR Biomed "
        f"2021;34:e4484): {filled} of {len(items)} items filled from the design and the "
        f"data; the others are marked '{NOT_RECORDED}'."
    )
    return {"intro": intro, "table": table, "n": len(items)}


def context(
    t: Tables,
    *,
    answer: Answer,
    figures: dict[str, dict[str, str]],
    fit_names: list[str],
    checklist: Any,
) -> dict[str, Any]:
    """Everything the template shows, section by section.

    Parameters
    ----------
    t : Tables
    answer : Answer
        From :func:`mrspipe.report.answer.find_answer`.
    figures : dict
        ``name -> {"src": data URI, "caption", "file"}``.
    fit_names : list of str
        Names of the fit figures, in order.
    checklist : list of dict, DataFrame or None

    Returns
    -------
    dict
        The template context.
    """
    windows = [{"name": f"{k.capitalize()} window", "text": window_words(t, k)} for k in t.windows]
    return {
        "title": str(t.design.get("title") or "fMRS study report"),
        "description": str(t.design.get("description") or ""),
        "version": __version__,
        "answer": _answer(t, answer, figures),
        "warnings": warnings_context(t),
        "sections": [{"id": a, "title": h} for a, h in SECTIONS],
        "design": _design(t),
        "quality": quality_context(t, figures),
        "fits": _fits(fit_names, figures),
        "timecourses": {
            "event": t.event,
            "windows": windows,
            "figures": [figures[n] for n in figures if n.startswith("timecourse_")],
        },
        "responses": {"figure": _figure(figures, "responses_paired")},
        "contrasts": {"figure": _figure(figures, "forest")},
        "statistics": _statistics(t, answer),
        "checklist": _checklist(t, checklist, len(fit_names)),
    }
