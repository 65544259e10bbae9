"""Task fMRS designs through ``mrspipe run``: the bids-examples pain layout, filled with data.

The layout (participants, sidecars, events with heat blocks and pain ratings, ``task-`` entity,
no ``ses-`` level, two tasks per folder) is the standard's own example; its ``.nii.gz`` files
are 0-byte placeholders, filled here with simulated 3 T PRESS data. Kept small (few transients,
few points) so the whole study runs in seconds.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mrspipe.cli import main
from mrspipe.io.basis import save_basis
from mrspipe.io.nifti_mrs import save_mrs
from mrspipe.io.tables import read_table
from mrspipe.simulate import simulate_basis
from mrspipe.simulate.study import DEFAULT_CONCENTRATIONS, simulate_session

LAYOUT = "bids_examples_mrs_fmrs"
N_TRANSIENTS, TR = 20, 64.0  # the 1280 s of the task, coarsely sampled
METABOLITES = ["NAA", "Cr", "PCr", "GPC", "PCho", "Glu", "Gln", "Ins"]


@pytest.fixture(scope="module")
def pain_study(tmp_path_factory):
    from conftest import SHARED_DATA

    src = SHARED_DATA / LAYOUT
    if not src.is_dir():
        pytest.skip(f"third-party data not found at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("pain")
    study = root / "study"
    basis = simulate_basis(
        METABOLITES, sequence="press", field_mhz=127.7, te=0.022, dwell_time=5e-4, n_points=512
    )
    rng = np.random.default_rng(7)
    times = np.arange(N_TRANSIENTS) * TR
    truth = {}
    for path in sorted(src.rglob("*")):
        if not path.is_file():
            continue
        target = study / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not path.name.endswith(".nii.gz"):
            shutil.copyfile(path, target)
        elif path.name.endswith("_svs.nii.gz"):
            pid = path.name.split("_")[0]
            change = 4.0 if "task-pain" in path.name else 0.0
            svs, ref, _ = simulate_session(
                basis,
                concentrations=DEFAULT_CONCENTRATIONS,
                percent_change=change,
                times=times,
                onset=600.0,
                tau=60.0,
                snr=60.0,
                rng=rng,
            )
            save_mrs(svs, target)
            save_mrs(ref, target.with_name(target.name.replace("_svs", "_mrsref")))
            truth[pid] = change
    save_basis(basis, root / "basis", format="fsl")
    (root / "study.toml").write_text(
        '[windows]\nevent = "heat"\n[preprocess]\nblock = 2\n[glm]\nregressor = "boxcar"\n'
        '[metabolites]\nanalyse = ["Glu", "Glx"]\n'  # fewer report figures: faster
    )
    return root


@pytest.mark.shared_data
def test_pain_layout_runs_to_the_end(pain_study, capsys):
    root = pain_study
    out = root / "out"
    args = [str(root / "study"), str(out), "--basis", str(root / "basis")]
    assert main(["run", *args, "--config", str(root / "study.toml")]) == 2
    assert "baseline, pain" in capsys.readouterr().err  # several tasks: they are listed
    assert main(["run", *args, "--task-id", "pain", "--config", str(root / "study.toml")]) == 0
    responses = read_table(out / "group" / "responses.tsv")
    assert responses["participant_id"].nunique() == 15
    assert (out / "report.html").is_file()
    stats = read_table(out / "group" / "stats.tsv")
    glu = stats[(stats["metabolite"] == "Glu") & (stats["analysis"] == "response")]
    overall = glu[(glu["term"] == "response-baseline") & (glu["subgroup"] == "all")].iloc[0]
    assert overall["n"] == 15
    # a 4 % plateau from 600 s (tau 60 s), read in the frames after the heat onset
    assert overall["estimate"] > 1.0 and overall["estimate"] < 5.0 and overall["p_value"] < 0.01
    assert set(glu["subgroup"]) == {"all", "M", "F", "M-F"}
    assert not (stats["analysis"] == "paired").any()  # no condition contrast
    html = (out / "report.html").read_text()
    assert "task design" in html and "naltrexone" not in html
    # the sex difference is named by the test that gave its p (Welch), not the analysis
    sex_row = glu[glu["subgroup"] == "M-F"].iloc[0]
    assert sex_row["test"].startswith("Welch")
    assert "Welch t-test, males vs females" in html
    # the response window the run used (closed by the heat blocks' duration), in its words
    assert "to the end of the infusion" in html
    assert "to the end of the scan relative" not in html
    assert not (out / "errors.tsv").exists()
