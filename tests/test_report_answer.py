"""The answer section: the rows that answer the question, found by name, stated first."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest
from test_report_summaries import make_study

from mrspipe.report import write_report
from mrspipe.report.answer import find_answer

COLS = [
    "metabolite",
    "analysis",
    "term",
    "subgroup",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "n",
]


def _stats(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLS)


def visible_text(page: str) -> str:
    """Rough visible text of a page: no head, no tags, entities decoded, spaces collapsed."""
    body = page.split("<body>", 1)[1]
    body = re.sub(r"<details>.*?</details>", " ", body, flags=re.S)  # closed: not visible
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


CROSSOVER = _stats(
    [
        ("Glu", "paired", "naltrexone-placebo", "all", -2.94, -5.03, -0.85, 0.0089, 16),
        ("Glu", "paired", "dz", "all", -0.7, -1.2, -0.2, 0.0089, 16),
        ("Glu", "paired", "naltrexone-placebo", "M", -5.65, -7.6, -3.7, 0.00024, 8),
        ("Glu", "paired", "naltrexone-placebo", "F", -0.24, -2.98, 2.51, 0.84, 8),
        ("Glu", "crossover", "naltrexone-placebo", "all", -2.9, -5.0, -0.8, 0.01, 16),
        ("Glu", "interaction", "condition:sex", "all", -5.41, -8.5, -2.32, 0.002, 16),
        ("Glu", "mixedlm", "condition:sex", "all", -5.41, -7.0, -3.8, 0.0001, 16),
        ("Gln", "paired", "naltrexone-placebo", "all", 9.0, 1.0, 17.0, 0.04, 16),
    ]
)


def test_crossover_answer_reads_the_contrast_by_sex_and_the_interaction():
    a = find_answer(CROSSOVER, conditions=["naltrexone", "placebo"], design={"primary": "Glu"})
    assert a.metabolite == "Glu" and a.design == "crossover"
    got = [(r.role, r.subgroup, r.analysis, r.estimate) for r in a.rows]
    assert got == [
        ("contrast", "all", "paired", -2.94),
        ("contrast", "M", "paired", -5.65),
        ("contrast", "F", "paired", -0.24),
        ("interaction", "all", "interaction", -5.41),
    ]
    s = a.rows[0].sentence
    assert "Naltrexone − placebo, all participants (n = 16)" in s
    assert "−2.94 percentage points" in s and "95 % CI −5.03 to −0.85" in s and "p = 0.009" in s
    assert "p < 0.001" in a.rows[1].sentence


def test_preferred_analysis_wins_and_multiplicity_columns_are_stated():
    stats = CROSSOVER.copy()
    extra = stats.iloc[[0]].assign(analysis="paired_period", estimate=-3.1, p_value=0.004)
    stats = pd.concat([stats, extra], ignore_index=True)
    stats["p_holm"] = 0.02
    stats["q_bh"] = np.nan
    stats["p_perm"] = 0.0005
    stats["primary"] = stats["metabolite"] == "Glu"
    a = find_answer(stats, conditions=["naltrexone", "placebo"], design={})
    assert a.metabolite == "Glu"  # from the primary column
    first = a.rows[0]
    assert (first.analysis, first.estimate) == ("paired_period", -3.1)
    assert "permutation p < 0.001" in first.sentence and "Holm-adjusted p = 0.020" in first.sentence
    assert "BH q" not in first.sentence  # NaN: not stated
    assert a.rows[1].analysis == "paired"  # no period-adjusted row for males: the next one


def test_task_design_states_the_response_by_sex():
    stats = _stats(
        [
            ("Glu", "response", "response-baseline", "all", 3.2, 1.0, 5.4, 0.006, 12),
            ("Glu", "response", "response-baseline", "M", 4.0, 0.5, 7.5, 0.03, 6),
            ("Glu", "response", "response-baseline", "F", 2.4, -1.0, 5.8, 0.14, 6),
            ("Glu", "response", "sex", "M-F", 1.6, -3.0, 6.2, 0.46, 12),
        ]
    )
    a = find_answer(stats, conditions=[], design={"primary": "Glu"})
    assert a.design == "task"
    assert [(r.role, r.subgroup) for r in a.rows] == [
        ("response", "all"),
        ("response", "M"),
        ("response", "F"),
        ("sex_difference", "all"),
    ]
    assert a.rows[0].sentence.startswith("Response − baseline, all participants (n = 12)")


def test_no_answer_without_rows():
    assert find_answer(None, conditions=["a", "b"], design={}).rows == []
    empty = find_answer(CROSSOVER, conditions=["x", "y"], design={"primary": "Glu"})
    assert [r.role for r in empty.rows] == ["interaction"]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    study = make_study(noise=0.01)
    out = tmp_path_factory.mktemp("answer")
    path = write_report(
        out,
        timecourses=study["timecourses"],
        responses=study["responses"],
        stats=study["stats"],
        sessions_qc=study["sessions_qc"],
        design={
            "conditions": ["naltrexone", "placebo"],
            "primary": "Glx",
            "options": {"preprocess": {"block": 8, "align_range": (1.8, 4.2), "align": True}},
            "option_docs": {
                "preprocess": {"block": "transients averaged into one frame (non-overlapping)"}
            },
            "option_defaults": {"preprocess": {"block": 16, "align_range": (1.8, 4.2)}},
        },
        dpi=30,
    )
    return path.read_text(encoding="utf-8")


def test_report_opens_on_the_answer(report):
    text = visible_text(report)[:1500]
    assert "Answer: Glx, naltrexone − placebo" in text
    assert "all participants (n = 6): Glx response −3.21 percentage points (95 % CI −4.50" in text
    assert "females (n = 3)" in text and "males (n = 3)" in text
    assert "Condition × sex interaction" in text
    assert report.index('id="answer"') < report.index('id="warnings"') < report.index('id="design"')


def test_settings_are_tables_not_dicts(report):
    assert not re.search(r"\{'[a-z_]+': ", html.unescape(report))
    assert '<td>align_range</td><td class="value">1.8 to 4.2</td>' in report
    # the meaning comes from the configuration registry; changed values are marked
    assert "transients averaged into one frame" in report
    assert '<tr class="changed"><td>block</td>' in report


def test_user_strings_are_escaped_everywhere(tmp_path):
    """Names from the study (conditions, IDs, metabolites, title) never reach HTML raw, and a
    ``$...$`` in them is drawn as text (not parsed as mathtext, which would kill the figure)."""
    evil = "<script>alert(1)</script>"
    study = make_study(noise=0.01, failed=((1, 1),))
    swap = {"naltrexone": evil, "placebo": "pla$c_e$bo"}
    for name in ("timecourses", "responses", "sessions_qc"):
        study[name]["condition"] = study[name]["condition"].map(swap)
    study["sessions_qc"]["participant_id"] = study["sessions_qc"]["participant_id"] + "$\\x$"
    stats = study["stats"].assign(term=f"{evil}-pla$c_e$bo")
    path = write_report(
        tmp_path,
        timecourses=study["timecourses"],
        responses=study["responses"],
        stats=stats,
        sessions_qc=study["sessions_qc"],
        design={"title": f"T {evil}", "conditions": [evil, "pla$c_e$bo"], "primary": "Glx"},
        dpi=30,
    )
    page = path.read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Answer: Glx, &lt;script&gt;" in page  # the answer still found its rows


def test_sensitivity_and_baseline_rows_are_not_the_answer():
    """Issue-14 layout: ``paired`` is the main (period-adjusted) row, ``paired_unadjusted`` a
    sensitivity row, ``baseline`` the pre-infusion level; the ``test`` column names the test."""
    stats = _stats(
        [
            ("Glx/tNAA", "baseline", "naltrexone-placebo", "all", 0.4, -1.0, 1.8, 0.5, 16),
            (
                "Glx/tNAA",
                "paired_unadjusted",
                "naltrexone-placebo",
                "all",
                -2.5,
                -4.0,
                -1.0,
                0.01,
                16,
            ),
            ("Glx/tNAA", "paired", "naltrexone-placebo", "all", -2.7, -4.4, -1.0, 0.006, 16),
            ("Glx/tNAA", "effect_size", "dz", "all", -0.8, -1.3, -0.3, np.nan, 16),
            (
                "Glx/tNAA",
                "interaction_unadjusted",
                "condition:sex",
                "all",
                -4.0,
                -7.0,
                -1.0,
                0.01,
                16,
            ),
            ("Glx/tNAA", "interaction", "condition:sex", "all", -4.2, -7.4, -1.0, 0.02, 16),
        ]
    ).assign(test=lambda d: np.where(d["analysis"] == "paired", "Jones-Kenward t (df 14)", ""))
    a = find_answer(stats, conditions=["naltrexone", "placebo"], design={"primary": "Glx/tNAA"})
    assert [(r.role, r.analysis) for r in a.rows] == [
        ("contrast", "paired"),
        ("interaction", "interaction"),
    ]
    assert a.rows[0].sentence.endswith("; Jones-Kenward t (df 14)).")
    assert "Welch" in a.rows[1].sentence  # no test given: the analysis in words


def test_task_design_report_states_the_response_first(tmp_path):
    """No drug condition (issue 12's task design): the answer is the response by sex."""
    study = make_study(noise=0.01)
    for name in ("timecourses", "responses", "sessions_qc"):
        study[name]["condition"] = "task"
    stats = _stats(
        [
            ("Glx", "response", "response-baseline", "all", 3.2, 1.0, 5.4, 0.006, 6),
            ("Glx", "response", "response-baseline", "M", 4.0, 0.5, 7.5, 0.03, 3),
            ("Glx", "response", "response-baseline", "F", 2.4, -1.0, 5.8, 0.14, 3),
            ("Glx", "response", "sex", "M-F", 1.6, -3.0, 6.2, 0.46, 6),
        ]
    )
    path = write_report(
        tmp_path,
        timecourses=study["timecourses"],
        responses=study["responses"],
        stats=stats,
        sessions_qc=study["sessions_qc"],
        design={"primary": "Glx"},
        dpi=30,
    )
    text = visible_text(path.read_text(encoding="utf-8"))[:1500]
    assert "Answer: Glx, response − baseline" in text
    assert "Response − baseline, all participants (n = 6): Glx response 3.20 percentage" in text
    assert "Sex difference of the response (males − females) (n = 6)" in text
