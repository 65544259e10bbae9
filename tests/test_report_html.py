"""write_report: a self-contained HTML file with every section, and the figures as PNG."""

from __future__ import annotations

import base64
import html
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report_summaries import BASELINE, CONDITIONS, TIMES, make_study

from mrspipe.errors import MRSFormatError
from mrspipe.report import summaries as S
from mrspipe.report import write_report
from mrspipe.report.sections import SECTIONS

DPI = 30  # small figures keep the tests fast
DESIGN = {
    "title": "Synthetic crossover",
    "conditions": list(CONDITIONS),
    "baseline_window_s": BASELINE,
    "response_window_s": (300.0, None),
    "infusion_duration_s": 600.0,
    "sequence": "sLASER",
    "echo_time_s": 0.028,
}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> tuple[Path, str, dict]:
    study = make_study(noise=0.01, missing_sex=(5,), failed=((2, 1),))
    out = tmp_path_factory.mktemp("report")
    path = write_report(
        out,
        timecourses=study["timecourses"],
        responses=study["responses"],
        stats=study["stats"],
        sessions_qc=study["sessions_qc"],
        design=DESIGN,
        dpi=DPI,
    )
    return path, path.read_text(encoding="utf-8"), study


def test_report_is_self_contained(full_report):
    path, text, _ = full_report
    assert path.name == "report.html" and path.is_file()
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', text)
    assert refs, "no src/href found at all"
    for ref in refs:
        # embedded figures, in-page anchors, or tables that exist beside the report
        assert ref.startswith(("data:image/png;base64,", "#")) or (path.parent / ref).is_file(), ref
    assert not re.search(r"<(?:link|script)\b", text)
    assert "@import" not in text and "url(" not in text


def test_inlined_images_are_the_saved_pngs(full_report):
    path, text, _ = full_report
    inlined = {
        base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    }
    files = sorted((path.parent / "figures").glob("*.png"))
    names = {f.stem for f in files}
    assert names == {
        "answer",
        "qc_summary",
        "timecourse_Glx",
        "timecourse_Glu",
        "timecourse_tNAA",
        "responses_paired",
        "forest",
    }
    for f in files:
        data = f.read_bytes()
        assert data.startswith(PNG) and len(data) > 1000
        assert data in inlined
    assert len(inlined) == len(files)


def test_sections_windows_stats_and_failures(full_report):
    _, text, study = full_report
    for _anchor, heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in text
    # the windows used, stated explicitly (open end included)
    assert "from -300 s (-5.0 min) to 0 s (0.0 min) relative to the infusion onset" in text
    assert "from 300 s (5.0 min) to the end of the scan relative to the infusion onset" in text
    # every stats row, grouped by metabolite, with formatted numbers and p-values
    rows = table_rows(text)
    for row in (
        ["paired", "naltrexone-placebo", "all", "-3.21", "-4.5", "-1.9", "<0.001", "6"],
        ["mixedlm", "condition:time", "all", "-0.012", "-0.02", "-0.004", "0.029"],
        ["paired", "naltrexone-placebo", "all", "-2", "–", "–", "–", "6"],
    ):
        assert any(r[: len(row)] == row for r in rows), row
    for metabolite in ("Glx", "Glu"):
        assert f"<summary>{metabolite}" in text
    # the failed session and its message, listed and highlighted
    assert "<b>sub-03 ses-2</b>: water reference missing in sub-03" in text
    assert "session failed" in text.split('id="warnings"')[1].split("</section>")[0]
    assert text.count('<tr class="failed">') == 1
    assert "1 failed" in text
    # participants counted by sex, the missing one said so
    assert "6 (F: 3, M: 2, sex not recorded: 1; counted from the data)" in text


def table_rows(text: str) -> list[list[str]]:
    """The text of every table row's cells (unescaped)."""
    out = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", text, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if cells:
            out.append([html.unescape(c) for c in cells])
    return out


def test_plotted_time_course_is_the_summary_mean():
    """The line drawn for a condition is the summary mean (read back from the Line2D)."""
    from mrspipe.report.timecourse_figures import plot_timecourses

    tc = make_study(noise=0.01, missing_sex=(0,))["timecourses"]
    summary = S.timecourse_summary(tc, baseline_window=BASELINE, metabolites=["Glx"])
    fig = plot_timecourses(
        summary,
        metabolite="Glx",
        conditions=CONDITIONS,
        windows={"baseline": BASELINE},
        time_unit="s",
    )
    axes = fig.axes
    assert [ax.get_title().split("\n")[0] for ax in axes] == [
        "all participants",
        "females",
        "males",
    ]
    for ax, panel in zip(axes, ("all", "F", "M"), strict=True):
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        for cond in CONDITIONS:
            d = summary[(summary["panel"] == panel) & (summary["condition"] == cond)]
            np.testing.assert_allclose(lines[cond].get_xdata(), TIMES)
            np.testing.assert_allclose(lines[cond].get_ydata(), d["mean"])


def test_empty_stats_no_fits_and_missing_tables(tmp_path):
    study = make_study()
    path = write_report(
        tmp_path,
        timecourses=study["timecourses"],
        responses=None,
        stats=pd.DataFrame(columns=study["stats"].columns),
        sessions_qc=None,
        design={},
        dpi=DPI,
    )
    text = path.read_text(encoding="utf-8")
    assert "No statistics were computed (the statistics table is empty)." in text
    assert "No contrasts with confidence intervals were computed." in text
    assert "No fit examples were given." in text
    assert "No session QC table was given." in text
    assert "(default)" in text  # windows not given: the defaults are said to be defaults
    assert "from the start of the scan to 0 s (0.0 min) relative to the infusion onset" in text
    names = {f.stem for f in (tmp_path / "figures").glob("*.png")}
    assert names == {"timecourse_Glx", "timecourse_Glu", "timecourse_tNAA"}


def test_to_png_lays_out_once_and_draws_what_savefig_draws():
    """to_png lays the figure out once itself: the same pixels as a plain savefig."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    from mrspipe.report.figures import new_figure, style, to_png

    def figure():
        fig, axes = new_figure(1, 2, width=5, height=2.5, sharey=True)
        for ax, name in zip(axes[0], ("naltrexone", "a long placebo label"), strict=True):
            ax.plot([0, 1, 2], [1, 0, 2], label=name)
            ax.set_xlabel("time (s)")
            ax.legend(loc="upper left")
        axes[0, 0].set_ylabel("% change from baseline")
        fig.suptitle("Glx: mean % change")
        return fig

    reference = figure()
    FigureCanvasAgg(reference)
    buf = io.BytesIO()
    with style():
        reference.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    fig = figure()
    engine, dpi = fig.get_layout_engine(), fig.get_dpi()
    png = to_png(fig, dpi=DPI)
    ours, theirs = (Image.open(io.BytesIO(b)) for b in (png, buf.getvalue()))
    assert ours.mode == "RGB"  # an opaque figure: no alpha channel to encode
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs.convert("RGB")))
    assert fig.get_layout_engine() is engine and fig.get_dpi() == dpi  # left as it came


def test_fit_figures_are_embedded_and_copied(tmp_path):
    from mrspipe.report.figures import new_figure, to_png

    fig, axes = new_figure(width=2, height=1.5)
    axes[0, 0].plot([0, 1], [1, 0])
    png = to_png(fig, dpi=DPI)
    saved = tmp_path / "sub-01_fit.png"
    saved.write_bytes(png)
    out = tmp_path / "out"
    path = write_report(
        out,
        timecourses=None,
        responses=None,
        stats=None,
        sessions_qc=None,
        design=None,
        fit_figures=[("sub-02 frame 3", png), saved],
        dpi=DPI,
    )
    text = path.read_text(encoding="utf-8")
    assert "sub-02 frame 3" in text and "sub-01_fit" in text
    assert {f.name for f in (out / "figures").glob("fit_*.png")} == {
        "fit_01_sub-02-frame-3.png",
        "fit_02_sub-01_fit.png",
    }
    assert text.count("data:image/png;base64,") == 2
    with pytest.raises(MRSFormatError, match="not a PNG"):
        write_report(
            out,
            timecourses=None,
            responses=None,
            stats=None,
            sessions_qc=None,
            design=None,
            fit_figures=[b"GIF89a"],
        )
    with pytest.raises(MRSFormatError, match="cannot read fit figure"):
        write_report(
            out,
            timecourses=None,
            responses=None,
            stats=None,
            sessions_qc=None,
            design=None,
            fit_figures=[tmp_path / "missing.png"],
        )


def test_missing_column_names_the_table(tmp_path):
    tc = make_study()["timecourses"].drop(columns=["time_s"])
    with pytest.raises(MRSFormatError, match="timecourses table lacks column.*time_s"):
        write_report(
            tmp_path, timecourses=tc, responses=None, stats=None, sessions_qc=None, design={}
        )
    assert not (tmp_path / "report.html").exists()


def test_importing_the_report_package_is_light():
    code = (
        "import sys, mrspipe.report; "
        "assert 'matplotlib' not in sys.modules and 'pandas' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=root, env={"PYTHONPATH": str(root)}
    )


def test_time_axis_follows_the_data_not_a_longer_infusion():
    """An infusion running past the end of the scan must not stretch the x axis beyond the data."""
    from mrspipe.report.timecourse_figures import plot_timecourses

    tc = make_study(noise=0.01)["timecourses"]
    summary = S.timecourse_summary(tc, baseline_window=BASELINE, metabolites=["Glx"])
    t = summary["time_s"].to_numpy(dtype=float)
    long_infusion = (0.0, 20.0 * (t.max() - t.min()))
    fig = plot_timecourses(
        summary,
        metabolite="Glx",
        conditions=CONDITIONS,
        windows={"baseline": BASELINE},
        infusion=long_infusion,
        time_unit="s",
    )
    span = t.max() - t.min()
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        assert t.min() - 0.1 * span <= lo <= t.min()
        assert t.max() <= hi <= t.max() + 0.1 * span
