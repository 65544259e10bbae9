"""One lipid model for all sessions of a participant (``[fit] lipid_phase_scope``).

Truth: a crossover participant whose two sessions hold the same metabolites and the same noise
realisation; ses-1 carries an out-of-voxel lipid 2.4 rad out of phase (1.0 x the LCModel lipid
set), ses-2 a weak one at the same phase (0.12 x: its own test is not significant). The MM-free
analytic basis plus LCModel's appended components made the data, so the free-phase model is the
true one. Any level difference between the sessions is the fit's, the truth has none.

* default (participant): both sessions are fitted with the lipid phase free, the Gln and GABA
  levels of the two sessions agree with the truth's zero difference; outputs record the model,
  the scope, each session's own p and lipid phase (qc tables, done.json summary, report);
* ``session``: today's behaviour -- ses-1 free, ses-2 in phase, the ses-2 levels biased (Gln,
  GABA), and the report flags the participant;
* a second participant with a broken session: that session fails alone, the other one of the
  participant is fitted, the run goes on;
* :func:`plan_lipids`: the "any session" rule per participant and for the study.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fit_helpers import CF, DEFAULT_NAMES, TRUTH, make_basis, simulate

from mrspipe.config import config_from_dict
from mrspipe.fit.lipids import LIPID_RECORD
from mrspipe.fit.problem import with_default_macromolecules
from mrspipe.io.basis import save_basis
from mrspipe.io.nifti_mrs import load_mrs, save_mrs
from mrspipe.io.tables import read_json, read_table
from mrspipe.pipeline import run_study
from mrspipe.pipeline.lipid_scope import plan_lipids
from mrspipe.simulate import simulate_study

N_TRANSIENTS, NOISE_SD, BLOCK = 32, 14.0, 4
COMPONENTS = {"MM09": 3.0, "MM12": 1.0, "MM14": 2.2, "MM17": 1.1, "MM20": 3.0}
LIPIDS = {"Lip09": 2.0, "Lip13a": 5.0, "Lip13b": 5.0}
#: lipid size (x LIPIDS) per session of sub-01; the phase is 2.4 rad in both
SIZES = {"ses-1": 1.0, "ses-2": 0.12}
TCR = TRUTH["Cr"] + TRUTH["PCr"]


def _fids(full: Any, size: float) -> np.ndarray:
    fids = np.array(full.fids)
    fids[[full.names.index(k) for k in LIPIDS]] *= np.exp(2.4j)
    truth = dict(TRUTH, **COMPONENTS, **{k: size * v for k, v in LIPIDS.items()})
    conc = np.array([truth.get(k, 0.0) for k in full.names])
    return simulate(
        dataclasses.replace(full, fids=fids),
        np.tile(conc, (N_TRANSIENTS, 1)),
        lorentz_hz=3.0,
        gauss_hz=4.0,
        phase0=0.3,
        noise_sd=NOISE_SD,
        rng=np.random.default_rng(1),  # the same noise in every session
    ).fids


@pytest.fixture(scope="module")
def crossover(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lipid_scope")
    simulate_study(
        root / "study",
        n_participants=2,
        n_transients=N_TRANSIENTS,
        n_points=1024,
        dwell_time=5e-4,
        field_mhz=CF,
        water_reference=False,
        residual_water=0.0,
        phenotype=False,
        rng=1,
    )
    basis = make_basis(tuple(n for n in DEFAULT_NAMES if n != "Mac"))
    save_basis(basis, root / "basis", format="fsl")
    full, _ = with_default_macromolecules(basis)
    for pid, ses, size in (
        ("sub-01", "ses-1", SIZES["ses-1"]),
        ("sub-01", "ses-2", SIZES["ses-2"]),
        ("sub-02", "ses-1", 0.0),
    ):
        path = root / "study" / pid / ses / "mrs" / f"{pid}_{ses}_svs.nii.gz"
        data = load_mrs(path)
        save_mrs(data.with_fids(_fids(full, size).reshape(data.fids.shape)), path)
    broken = root / "study" / "sub-02" / "ses-2" / "mrs" / "sub-02_ses-2_svs.nii.gz"
    broken.write_bytes(broken.read_bytes()[:200])  # a truncated file: this session fails
    return root / "study", root / "basis"


def _run(crossover: tuple[Path, Path], out: Path, scope: str | None, jobs: int = 1) -> Any:
    study, basis = crossover
    fit = {} if scope is None else {"lipid_phase_scope": scope}
    config = config_from_dict({"fit": fit, "preprocess": {"block": BLOCK}})
    return run_study(study, out, basis=basis, config=config, jobs=jobs)


def _session(out: Path, pid: str, ses: str) -> tuple[dict[str, Any], dict[str, float]]:
    """The lipid record of a session's qc table (one per session) and its ratios to tCr."""
    folder = out / pid / ses
    qc = read_table(folder / f"{pid}_{ses}_desc-frames_qc.tsv")
    for column in LIPID_RECORD:  # one value per session
        assert qc[column].nunique(dropna=False) == 1, column
    fits = read_table(folder / f"{pid}_{ses}_desc-fit_estimates.tsv")
    level = fits.groupby("metabolite")["estimate"].mean()
    return qc.iloc[0][list(LIPID_RECORD)].to_dict(), {
        k: level[k] / level["tCr"] for k in ("Glu", "Gln", "GABA", "tNAA")
    }


def _difference_pp(a: dict[str, float], b: dict[str, float], name: str) -> float:
    """ses-1 minus ses-2 in % of the true ratio (the truth: 0)."""
    return 100.0 * (a[name] - b[name]) / (TRUTH[name] / TCR)


@pytest.fixture(scope="module")
def runs(
    crossover: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, Any]]:
    root = tmp_path_factory.mktemp("lipid_scope_runs")
    return {
        "participant": (root / "participant", _run(crossover, root / "participant", None, 2)),
        "session": (root / "session", _run(crossover, root / "session", "session")),
    }


def test_default_fits_a_participants_sessions_with_one_model(runs: dict[str, Any]) -> None:
    out, result = runs["participant"]
    one, levels_1 = _session(out, "sub-01", "ses-1")
    two, levels_2 = _session(out, "sub-01", "ses-2")
    # the premise: ses-1's own test frees the lipid, ses-2's does not
    assert one["lipid_phase_p"] < 1e-6 and two["lipid_phase_p"] > 1e-3
    assert abs(one["lipid_phase_mean_rad"] - 2.4) < 0.2
    assert one["lipid_phase_model"] == two["lipid_phase_model"] == "free"
    assert one["lipid_phase_scope"] == two["lipid_phase_scope"] == "participant"
    # the level comparison across the two sessions is unbiased (truth: no difference)
    assert abs(_difference_pp(levels_1, levels_2, "Gln")) < 2.0
    assert abs(_difference_pp(levels_1, levels_2, "GABA")) < 3.0
    assert abs(_difference_pp(levels_1, levels_2, "Glu")) < 1.0
    # recorded in the session summary (done.json, the report's per-session table)
    done = read_json(out / "sub-01" / "ses-2" / "done.json")
    assert done["summary"]["lipid_phase_model"] == "free"
    assert done["summary"]["lipid_phase_p"] == pytest.approx(two["lipid_phase_p"])
    assert not (out / "sub-01" / "ses-2" / "prepared.json").exists()
    sidecar = read_json(out / "sub-01" / "ses-2" / "sub-01_ses-2_desc-frames_qc.json")
    assert "participant" in sidecar["lipid_phase_scope"]["Description"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "lipid model differs" not in html
    # the broken session failed alone: its participant's other session is fitted
    failed = [(r.participant_id, r.session_id, r.failed_step) for r in result.sessions if not r.ok]
    assert failed == [("sub-02", "ses-2", "load")]
    lone, _ = _session(out, "sub-02", "ses-1")
    assert lone["lipid_phase_model"] == "metabolites" and lone["lipid_phase_p"] > 1e-3


def test_session_scope_is_todays_per_session_decision(runs: dict[str, Any]) -> None:
    out, _ = runs["session"]
    one, levels_1 = _session(out, "sub-01", "ses-1")
    two, levels_2 = _session(out, "sub-01", "ses-2")
    assert (one["lipid_phase_model"], two["lipid_phase_model"]) == ("free", "metabolites")
    assert one["lipid_phase_scope"] == two["lipid_phase_scope"] == "session"
    # the participant-scope run tested the same preprocessed data
    p_participant = _session(runs["participant"][0], "sub-01", "ses-2")[0]["lipid_phase_p"]
    assert two["lipid_phase_p"] == pytest.approx(p_participant, rel=1e-6)
    # the in-phase model biases ses-2's Gln and GABA: the comparison is off by it
    assert _difference_pp(levels_1, levels_2, "Gln") < -2.0
    assert _difference_pp(levels_1, levels_2, "GABA") < -6.0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "lipid model differs between the participant" in html


def test_a_resumed_run_decides_again_without_preprocessing_or_refitting(
    crossover: tuple[Path, Path], runs: dict[str, Any], tmp_path: Path
) -> None:
    out, _ = runs["participant"]
    copy = tmp_path / "again"
    shutil.copytree(out, copy)
    again = _run(crossover, copy, None)
    # the first pass reads each test from done.json; the same decision resumes every fit
    assert [r.computed for r in again.sessions if r.ok] == [()] * 3
    assert not any(p.name == "prepared.json" for p in copy.rglob("*"))
    for pid, ses in (("sub-01", "ses-1"), ("sub-01", "ses-2")):
        assert _session(copy, pid, ses) == _session(out, pid, ses)


def test_plan_lipids_frees_a_group_when_any_session_needs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tests = {
        ("sub-01", "ses-1"): {"p": 1e-8, "phase_rad": 2.4},
        ("sub-01", "ses-2"): {"p": 0.2, "phase_rad": 0.3},
        ("sub-02", "ses-1"): {"p": 0.01},
        ("sub-02", "ses-2"): {},  # nothing tested (no lipid in the band)
        ("sub-03", "ses-1"): {"p": float("nan")},
    }
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        plans = plan_lipids(tests, "participant")
    assert {k: p.model for k, p in plans.items()} == {
        ("sub-01", "ses-1"): "free",
        ("sub-01", "ses-2"): "free",
        ("sub-02", "ses-1"): "metabolites",
        ("sub-02", "ses-2"): "metabolites",
        ("sub-03", "ses-1"): "metabolites",
    }
    assert plans[("sub-01", "ses-2")].freed_by == ("sub-01 ses-1",)
    assert plans[("sub-01", "ses-2")].record() == {
        "lipid_phase_model": "free",
        "lipid_phase_scope": "participant",
        "lipid_phase_p": 0.2,
        "lipid_phase_mean_rad": 0.3,
    }
    assert "sub-01: the lipid is out of phase in sub-01 ses-1 only" in caplog.text
    study = plan_lipids(tests, "study")
    assert {p.model for p in study.values()} == {"free"}
    assert {p.scope for p in study.values()} == {"study"}
    assert plan_lipids({}, "participant") == {}


def test_fit_command_decides_each_files_lipid_on_its_own(tmp_path: Path) -> None:
    """``mrspipe fit`` batches files of one grid; a file's lipid model is its own test's."""
    from mrspipe.cli import main

    basis = make_basis(tuple(n for n in DEFAULT_NAMES if n != "Mac"))
    save_basis(basis, tmp_path / "basis", format="fsl")
    full, _ = with_default_macromolecules(basis)
    files = []
    for name, size in (("clean.nii.gz", 0.0), ("lipid.nii.gz", 1.0), ("clean2.nii.gz", 0.0)):
        frames = simulate(
            full,
            np.tile([dict(TRUTH, **COMPONENTS).get(k, 0.0) for k in full.names], (2, 1)),
            noise_sd=0.5,
            rng=np.random.default_rng(2),
        )
        if size:
            frames = frames.with_fids(_fids(full, size)[:2])
        save_mrs(frames, tmp_path / name)
        files.append(tmp_path / name)
    args = ["--basis", str(tmp_path / "basis"), "--no-figures"]
    assert main(["fit", *map(str, files), "--out", str(tmp_path / "all"), *args]) == 0
    qc = read_table(tmp_path / "all" / "qc.tsv")
    assert list(dict.fromkeys(qc["source"])) == [f.name for f in files]  # input order kept
    model = qc.groupby("source", sort=False)["lipid_phase_model"].unique().map(tuple)
    assert model.to_dict() == {
        "clean.nii.gz": ("metabolites",),
        "lipid.nii.gz": ("free",),
        "clean2.nii.gz": ("metabolites",),
    }
    assert set(qc["lipid_phase_scope"]) == {"data"}
    alone = tmp_path / "alone"
    assert main(["fit", str(files[0]), "--out", str(alone), *args]) == 0
    single = read_table(alone / "qc.tsv")
    np.testing.assert_allclose(
        qc.loc[qc["source"] == "clean.nii.gz", "lipid_phase_p"], single["lipid_phase_p"]
    )


def test_no_first_pass_when_there_is_nothing_to_decide() -> None:
    from types import SimpleNamespace

    from mrspipe.fit.options import FitOptions
    from mrspipe.pipeline.lipid_pass import lipid_pass_needed
    from mrspipe.pipeline.steps import Steps

    steps = Steps()
    mm_free = SimpleNamespace(names=("NAA", "Cr", "Glu"))
    assert lipid_pass_needed(FitOptions(), steps, mm_free)
    # a basis with its own macromolecules gets no lipid appended: nothing to free
    assert not lipid_pass_needed(FitOptions(), steps, SimpleNamespace(names=("NAA", "Mac")))
    assert not lipid_pass_needed(FitOptions(), steps, SimpleNamespace(names=("NAA", "MM09")))
    assert not lipid_pass_needed(FitOptions(default_macromolecules=False), steps, mm_free)
    assert not lipid_pass_needed(FitOptions(ppm_range=(1.8, 4.2)), steps, mm_free)
    assert not lipid_pass_needed(FitOptions(lipid_phase_scope="session"), steps, mm_free)
    assert not lipid_pass_needed(FitOptions(lipid_phase="free"), steps, mm_free)
    assert not lipid_pass_needed(FitOptions(dynamic=True), steps, mm_free)
