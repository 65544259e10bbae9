"""The study report: one self-contained HTML file plus its figures as PNG."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import uuid
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from .._logging import logger
from ..errors import MRSFormatError
from ..io._atomic import atomic_path, atomic_write_text
from . import sections, study
from .answer import find_answer
from .render import render_page

__all__ = ["write_report", "REQUIRED_COLUMNS"]

#: columns each input table must have (an empty table or None is allowed)
REQUIRED_COLUMNS = {
    "timecourses": (
        "participant_id",
        "session_id",
        "condition",
        "sex",
        "frame",
        "time_s",
        "metabolite",
        "estimate",
    ),
    "responses": (
        "participant_id",
        "session_id",
        "condition",
        "sex",
        "metabolite",
        "percent_change",
    ),
    "stats": ("metabolite", "analysis", "term", "estimate"),
    "sessions_qc": ("participant_id", "session_id", "status"),
}


def write_report(
    out_dir: str | os.PathLike[str],
    *,
    timecourses: Any,
    responses: Any,
    stats: Any,
    sessions_qc: Any,
    design: dict[str, Any] | None,
    fit_figures: Iterable[Any] = (),
    checklist: Any = None,
    dpi: float = 110,
    executor: Any = None,
) -> Path:
    """Write ``out_dir/report.html`` (self-contained) and its figures under ``out_dir/figures/``.

    The report holds: the study design and the windows used; data quality per session
    (SNR, linewidth, drift, rejected transients, failed sessions with their messages); fit
    examples; mean % change time courses by condition with SEM bands, one panel per sex plus
    all; per-participant paired responses; a forest plot of the contrasts; the statistics
    tables; and the MRSinMRS checklist. CSS is inline and figures are base64 PNG ``data:`` URIs,
    so the file opens offline; the same PNGs are written to ``out_dir/figures/``.

    Parameters
    ----------
    out_dir : str or path-like
        Output folder (created if needed). Existing report files are replaced atomically.
    timecourses : pandas.DataFrame or None
        ``participant_id, session_id, condition, sex, frame, time_s, metabolite, estimate,
        crlb_sd``; ``time_s`` in s relative to the infusion onset.
    responses : pandas.DataFrame or None
        ``participant_id, session_id, condition, sex, metabolite, baseline, response,
        percent_change``.
    stats : pandas.DataFrame, None, or a concurrent.futures.Future of one
        ``metabolite, analysis, term, subgroup, estimate, ci_low, ci_high, p_value, n``. A
        future (statistics still running) is waited for after the figures that do not need
        it have been started, when ``design`` names the ``metabolites``.
    sessions_qc : pandas.DataFrame or None
        One row per session: ``participant_id, session_id, condition, sex, n_transients,
        n_rejected, snr_median, fwhm_hz_median, shift_hz_range, status ('ok'/'failed'),
        message``.
    design : dict or None
        Study design and options; every key is optional (a missing key is reported as not
        recorded, or a default is used and said so):

        * ``title`` (str): report title; ``description`` (str): one paragraph.
        * ``conditions`` (list of str): conditions compared, active first (the contrast is
          first minus second); default: sorted from the data.
        * ``event`` (str): the event time 0 refers to; default ``'infusion onset'``.
        * ``baseline_window_s``, ``response_window_s`` ((start, end), s relative to the onset,
          ``None`` for an open end); defaults: all frames before the onset / after it.
        * ``infusion_window_s`` ((start, end), s) or ``infusion_duration_s`` (float, s):
          the shaded infusion period.
        * ``n_participants`` (dict sex -> int, or int); default: counted from the data.
        * ``metabolites`` (list of str): metabolites to plot; default: Glx, Glu, Gln, ... found.
        * ``time_bin_s`` (float, s): bin width of the group time courses (default: the median
          frame spacing).
        * acquisition: ``sequence``, ``echo_time_s``, ``repetition_time_s``,
          ``field_strength_t``, ``spectrometer_frequency_mhz``, ``manufacturer``,
          ``scanner_model``, ``scanner_software``, ``rf_coil``, ``additional_hardware``,
          ``voi_location``, ``voi_size_mm`` (3 values) or ``voi_volume_ml``,
          ``transients_per_frame``, ``averaging``, ``spectral_width_hz``, ``n_points``,
          ``additional_sequence_parameters``, ``water_suppression``, ``shimming``,
          ``motion_correction``.
        * analysis: ``basis`` (str), ``preprocessing`` (list of str or dicts),
          ``fitting_model``, ``quantification``, ``output_measure``, ``exclusion_criteria``,
          ``qc_reference_peak``, ``fit_quality``, ``software`` / ``software_version``
          (default: this mrspipe version), ``options`` (dict shown as is).
    fit_figures : iterable, optional
        Fit examples: each a PNG path, PNG bytes, a matplotlib Figure, or a ``(caption,
        item)`` pair of these.
    checklist : list of dict or pandas.DataFrame, optional
        A ready MRSinMRS checklist (``section, code, item, value``); by default it is built
        from ``design`` and the data by :func:`mrspipe.report.checklist.build_checklist`.
    dpi : float
        Resolution of the PNG figures.
    executor : concurrent.futures.Executor, optional
        Worker processes that draw the figures in parallel (the PNGs are the same bytes);
        default: drawn in this process.

    Returns
    -------
    Path
        ``out_dir/report.html``.

    Raises
    ------
    MRSFormatError
        If an input table lacks a required column (the table and columns are named).
    """
    later = stats if isinstance(stats, Future) else None
    if later is not None and not (design or {}).get("metabolites"):
        stats, later = later.result(), None  # the metabolites drawn may come from the stats
    for name, table in (
        ("timecourses", timecourses),
        ("responses", responses),
        ("stats", None if later else stats),
        ("sessions_qc", sessions_qc),
    ):
        _check_columns(name, table)
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    tables = study.Tables.build(
        timecourses=timecourses,
        responses=responses,
        stats=None if later else stats,
        sessions_qc=sessions_qc,
        design=design or {},
    )
    # the figures of the tables are drawn while the statistics (a future) finish
    from_tables = study.table_figures(tables)
    started = study.start_figures(from_tables, dpi=dpi, executor=executor)
    if later is not None:
        stats = later.result()
        _check_columns("stats", stats)
        tables = dataclasses.replace(tables, stats=study.as_frame(stats))
    answer = find_answer(tables.stats, conditions=tables.conditions, design=tables.design)
    first, last = study.answer_figures(answer), study.stats_figures(tables)
    around = study.start_figures(first + last, dpi=dpi, executor=executor)
    fits = [_fit_png(i, item, dpi) for i, item in enumerate(fit_figures, start=1)]
    # the page is rendered while the workers draw: each figure's data URI is a placeholder
    # until its PNG is there (the same page: a data URI has nothing to escape)
    token = f"mrspipe-figure-{uuid.uuid4().hex}-"
    order = [(j.name, j.caption) for j in first + from_tables + last]
    order += [(name, caption) for name, _, caption in fits]
    embedded: dict[str, dict[str, str]] = {}
    for i, (name, caption) in enumerate(order):
        embedded[name] = {"src": f"{token}{i}", "caption": caption, "file": f"figures/{name}.png"}
    # the group tables beside the report are linked (only those that exist)
    tables.design.setdefault(
        "linked_tables", [h for h in sections.LINKED_TABLES if (out_dir / h).is_file()]
    )
    page = render_page(
        sections.context(
            tables,
            answer=answer,
            figures=embedded,
            fit_names=[f[0] for f in fits],
            checklist=checklist,
        )
    )
    figures = study.finish_figures(first, around[: len(first)], dpi=dpi)
    figures += study.finish_figures(from_tables, started, dpi=dpi)
    figures += study.finish_figures(last, around[len(first) :], dpi=dpi)
    figures += [(name, png, caption) for name, png, caption in fits]
    uris = []
    for name, png, _ in figures:
        with atomic_path(fig_dir / f"{name}.png") as tmp:
            tmp.write_bytes(png)
        uris.append("data:image/png;base64," + base64.b64encode(png).decode("ascii"))
    page = re.sub(rf"{token}(\d+)", lambda m: uris[int(m[1])], page)
    path = atomic_write_text(out_dir / "report.html", page)
    logger.info("report written to %s (%d figures)", path, len(figures))
    return path


def _check_columns(name: str, table: Any) -> None:
    if table is None or len(getattr(table, "columns", ())) == 0:
        return
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in table.columns]
    if missing:
        raise MRSFormatError(f"{name} table lacks column(s) {', '.join(missing)}")


def _fit_png(index: int, item: Any, dpi: float) -> tuple[str, bytes, str]:
    """Return a fit example as ``(name, png bytes, caption)``."""
    caption = f"Fit example {index}"
    if isinstance(item, tuple) and len(item) == 2:
        caption, item = str(item[0]), item[1]
    if isinstance(item, bytes | bytearray):
        png = bytes(item)
    elif hasattr(item, "savefig"):
        from .figures import to_png

        png = to_png(item, dpi=dpi)
    else:
        path = Path(item)
        try:
            png = path.read_bytes()
        except OSError as exc:
            raise MRSFormatError(f"cannot read fit figure ({exc.strerror})", path) from None
        if caption == f"Fit example {index}":
            caption = path.stem
    if not png.startswith(b"\x89PNG"):
        raise MRSFormatError(f"fit figure {caption!r} is not a PNG image")
    return f"fit_{index:02d}_{_slug(caption)}", png, caption


def _slug(text: str) -> str:
    """Return a file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "figure"
