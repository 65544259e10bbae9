"""End to end with the real modules: simulate a tiny study, run the whole pipeline, compare.

Skipped until simulate, io.bids, io.basis, preprocess, fit, dynamic, stats and report are all
present (they are written on other branches and merged together). Small on purpose: 2
participants x 2 sessions x 32 transients x 1024 points.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

for _module in (
    "mrspipe.simulate",
    "mrspipe.io.bids",
    "mrspipe.io.basis",
    "mrspipe.preprocess",
    "mrspipe.fit",
    "mrspipe.dynamic",
    "mrspipe.stats",
    "mrspipe.report",
):
    pytest.importorskip(_module)

from study_helpers import simulated_study_with_basis  # noqa: E402

from mrspipe.cli import main  # noqa: E402
from mrspipe.config import config_from_dict  # noqa: E402
from mrspipe.io.derivatives import GROUP_TABLES, session_paths  # noqa: E402
from mrspipe.io.nifti_mrs import load_mrs  # noqa: E402
from mrspipe.io.tables import read_json, read_table  # noqa: E402
from mrspipe.pipeline import run_study  # noqa: E402

N_TRANSIENTS, N_POINTS, BLOCK = 32, 1024, 8


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("e2e")
    study, basis_dir, truth = simulated_study_with_basis(
        root, n_participants=2, n_transients=N_TRANSIENTS, n_points=N_POINTS, rng=7
    )
    return root / "study", root / "basis", truth


def test_whole_pipeline_on_a_simulated_study(
    simulated: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    study, basis, truth = simulated
    before = _digest(study)
    # [pooling] needs 6 sessions per condition by default; 2 here, so the stage runs too
    config = config_from_dict(
        {
            "preprocess": {"block": BLOCK},
            "stats": {"mixed_model": False},
            "pooling": {"min_sessions": 2},
        }
    )
    out = tmp_path / "out"
    result = run_study(study, out, basis=basis, config=config)
    assert result.errors == [] and result.exit_status == 0
    assert result.contrast == ("naltrexone", "placebo")
    assert _digest(study) == before

    for name, (columns, _) in GROUP_TABLES.items():
        df = read_table(out / "group" / f"{name}.tsv")
        assert list(df.columns[: len(columns)]) == columns and len(df)
    tc = read_table(out / "group" / "timecourses.tsv")
    glu = tc[tc["metabolite"] == "Glu"]
    assert len(glu) == 4 * N_TRANSIENTS // BLOCK
    onset = truth["design"]["infusion_onset"]
    tr = truth["design"]["tr"]
    centres = (np.arange(N_TRANSIENTS // BLOCK) * BLOCK + (BLOCK - 1) / 2) * tr - onset
    np.testing.assert_allclose(np.unique(glu["time_s"]), centres, atol=1e-6)

    # the fit sees the simulated concentrations: baseline Glu/tCr within 20 % of the truth
    base = (
        tc[tc["time_s"] < 0]
        .groupby(["session_id", "participant_id", "metabolite"])["estimate"]
        .mean()
        .unstack("metabolite")
    )
    fitted = (base["Glu"] / base["tCr"]).sort_index()
    true = {
        (s["session_id"], s["participant_id"]): s["concentrations"]["Glu"]
        / (s["concentrations"]["Cr"] + s["concentrations"]["PCr"])
        for s in truth["sessions"]
    }
    expected = np.array([true[key] for key in fitted.index])
    np.testing.assert_allclose(fitted.to_numpy(), expected, rtol=0.2)

    stats = read_table(out / "group" / "stats.tsv")
    paired = stats[
        (stats["analysis"] == "paired")
        & (stats["metabolite"] == "Glu")
        & (stats["term"] == "naltrexone-placebo")
        & (stats["subgroup"] == "all")
    ]
    assert len(paired) == 1 and np.isfinite(paired["estimate"].iloc[0])
    # [pooling]: Gln and GABA pooled per condition; the group tables hold the pooled Glu,
    # Gln itself and the session folders are each session's own; the tests use the own
    pooling = read_table(out / "group" / "pooling.tsv")
    assert set(pooling["metabolite"]) == {"Gln", "GABA"} and (pooling["n_sessions"] == 2).all()
    group = read_table(out / "group" / "responses.tsv").set_index(["participant_id", "session_id"])
    own = pd.concat(
        read_table(session_paths(out, p, s).table("responses")).assign(participant_id=p)
        for p, s in group.index.unique()
    ).set_index(["participant_id", "session_id"])
    for m, same in (("Glu", False), ("Gln", True), ("Glx/tNAA", False)):
        a = group[group["metabolite"] == m]["percent_change"].sort_index()
        b = own[own["metabolite"] == m]["percent_change"].sort_index()
        assert np.allclose(a, b) == same, m
    by_condition = own[own["metabolite"] == "Glu"].groupby("condition")["percent_change"].mean()
    assert paired["estimate"].iloc[0] == pytest.approx(
        by_condition["naltrexone"] - by_condition["placebo"], rel=1e-9
    )
    glm = read_table(out / "group" / "glm.tsv")
    assert set(glm["term"]) == {"intercept", "ramp"} and np.isfinite(glm["percent"]).all()
    glm_rows = stats[stats["analysis"] == "glm_paired"]
    assert set(glm_rows["subgroup"]) >= {"all"} and np.isfinite(glm_rows["estimate"]).all()
    html = (out / "report.html").read_text()
    assert "naltrexone" in html and "<img" in html
    # the answer first, read from stats.tsv; settings in words, never Python reprs
    answer = html.split('id="answer"')[1].split("</section>")[0]
    assert "Naltrexone − placebo, all participants" in answer and "95 % CI" in answer
    assert answer.index("Answer") < answer.index("95 % CI")
    assert not re.search(r"\{&#39;|\{'|= True|= False|\(\d+\.?\d*, \d", html)
    assert "Sequence</td><td>press (simulated)</td>" in html  # from the data header
    desc = read_json(out / "dataset_description.json")["GeneratedBy"][0]
    assert desc["Version"] and desc["Configuration"]["preprocess"]["block"] == BLOCK

    paths = session_paths(out, "sub-01", "ses-1")
    frames = load_mrs(paths.preprocessed)
    assert frames.size("dyn") == N_TRANSIENTS // BLOCK and frames.n_points == N_POINTS
    qc = read_table(paths.table("qc_transients"))
    assert len(qc) == N_TRANSIENTS
    assert {"transient", "time_s", "shift_hz", "phase_rad", "snr", "fwhm_hz", "rejected"} <= set(
        qc.columns
    )
    # a fit figure per session, and the report shows some of them as fit examples
    assert paths.figure("fit").stat().st_size > 1000
    assert "Fit examples" in html and html.count("data:image/png") >= 5

    again = run_study(study, out, basis=basis, config=config)
    assert all(r.ok and r.computed == () for r in again.sessions)


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--participants", "2", "--transients", "32", "--jobs", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "report:" in text and "simulated" in text
    assert (out / "results" / "report.html").is_file()
    assert (out / "study" / "truth.json").is_file()
