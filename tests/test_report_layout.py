"""The report figures' one-pass layout: long user strings are never cut at the figure's edge."""

from __future__ import annotations

import io

import numpy as np
import pytest
from test_report_summaries import CONDITIONS, make_study

pytest.importorskip("matplotlib")

from mrspipe.report.answer import find_answer  # noqa: E402
from mrspipe.report.layout import MIN_AXES_IN  # noqa: E402
from mrspipe.report.study import Tables, answer_figures, stats_figures, table_figures  # noqa: E402

LONG = {
    CONDITIONS[0]: "naltrexone 50 mg by mouth one hour before the ketamine infusion, "
    "double-blind arm A of the crossover (visit with the long name)",
    CONDITIONS[1]: "placebo capsule by mouth one hour before the ketamine infusion, arm B",
}
LONG_METABOLITE = "Glx (glutamate + glutamine, water-referenced)"


def _study() -> dict:
    study = make_study(noise=0.01, missing_sex=(5,), failed=((2, 1),))
    first = study["timecourses"]["metabolite"].iloc[0]
    for name in ("timecourses", "responses", "sessions_qc", "stats"):
        table = study[name]
        if "condition" in table:
            table["condition"] = table["condition"].replace(LONG)
        if "participant_id" in table:
            table["participant_id"] = "participant-with-a-rather-long-label-" + table[
                "participant_id"
            ].astype(str)
        if "metabolite" in table:
            table["metabolite"] = table["metabolite"].replace({first: LONG_METABOLITE})
    return study


def _boxes(fig, renderer):
    """Extents of everything drawn: each axes with its decorations, figure texts, legends."""
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
    boxes += [t.get_window_extent(renderer) for t in fig.texts if t.get_visible() and t.get_text()]
    boxes += [leg.get_window_extent(renderer) for leg in fig.legends]
    return [b for b in boxes if b is not None]


def test_long_conditions_participants_and_metabolites_are_inside_every_figure():
    from matplotlib.text import Text
    from PIL import Image

    from mrspipe.report.figures import to_png

    study = _study()
    tables = Tables.build(
        timecourses=study["timecourses"],
        responses=study["responses"],
        stats=study["stats"],
        sessions_qc=study["sessions_qc"],
        design={"conditions": list(LONG.values())},
    )
    answer = find_answer(tables.stats, conditions=tables.conditions, design=tables.design)
    jobs = answer_figures(answer) + table_figures(tables) + stats_figures(tables)
    names = {j.name for j in jobs}
    assert {"qc_summary", "responses_paired", "forest"} <= names
    assert any(n.startswith("timecourse_Glx") for n in names)
    for job in jobs:
        fig = job.plot(*job.args, **job.kwargs)
        png = to_png(fig, dpi=fig.dpi)  # laid out at the resolution measured below
        renderer = fig.canvas.get_renderer()
        frame = fig.bbox
        assert Image.open(io.BytesIO(png)).size == (int(frame.width), int(frame.height))
        for box in _boxes(fig, renderer):
            assert box.x0 >= frame.x0 - 0.5 and box.x1 <= frame.x1 + 0.5, job.name
            assert box.y0 >= frame.y0 - 0.5 and box.y1 <= frame.y1 + 0.5, job.name
        for ax in fig.axes:  # the long strings took space from the margins, not the axes
            assert ax.bbox.width >= MIN_AXES_IN * fig.dpi - 1, job.name
            assert ax.bbox.height >= MIN_AXES_IN * fig.dpi - 1, job.name
        drawn = " ".join(t.get_text() for t in fig.findobj(Text) if t.get_visible())
        if job.name.startswith("timecourse") or job.name == "responses_paired":
            assert all(name in drawn for name in LONG.values()), job.name
        if job.name == "qc_summary":
            assert "participant-with-a-rather-long-label-sub-01 ses-1" in drawn
        for leg in fig.legends:  # a figure legend sits beside the axes, not over them
            right = max(ax.get_tightbbox(renderer).x1 for ax in fig.axes)
            assert leg.get_window_extent(renderer).x0 >= right - 0.5, job.name


def test_a_legend_too_long_for_the_figure_widens_it():
    from mrspipe.report.figures import new_figure, to_png

    fig, axes = new_figure(1, 2, width=4.0, height=2.5)
    for ax in axes[0]:
        ax.plot([0, 1], [0, 1], label=LONG[CONDITIONS[0]])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper")
    fig.suptitle("a title " * 4)
    to_png(fig, dpi=fig.dpi)
    renderer = fig.canvas.get_renderer()
    assert fig.get_figwidth() > 4.0
    legend = fig.legends[0].get_window_extent(renderer)
    assert legend.x1 <= fig.bbox.x1 + 0.5
    assert legend.x0 >= max(ax.get_tightbbox(renderer).x1 for ax in axes[0]) - 0.5
    assert all(ax.bbox.width >= MIN_AXES_IN * fig.dpi - 1 for ax in axes[0])


def test_the_layout_fixes_the_ticks_it_measured():
    """The tick labels drawn are the ones measured (a locator would pick others for the
    new axes size, with labels of another width)."""
    from matplotlib.ticker import FixedLocator

    from mrspipe.report.figures import new_figure, to_png

    fig, axes = new_figure(1, 1, width=3.0, height=2.0)
    axes[0, 0].plot(np.linspace(-12.5, 7.5, 5), np.linspace(-1234.5, 99.0, 5))
    to_png(fig, dpi=fig.dpi)
    for axis in (axes[0, 0].xaxis, axes[0, 0].yaxis):
        assert isinstance(axis.get_major_locator(), FixedLocator)
