"""One path per job: ``mrspipe preproc`` / ``mrspipe fit`` give what ``mrspipe run`` gave.

A tiny simulated study (2 participants x 2 sessions x 32 transients x 1024 points) is run with
the real modules and the default options; then the session's preprocessed frames are fitted
again with ``mrspipe fit`` and its raw data preprocessed again with ``mrspipe preproc``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from study_helpers import simulated_study_with_basis

from mrspipe.cli import main
from mrspipe.config import config_from_dict
from mrspipe.io.derivatives import session_paths
from mrspipe.io.nifti_mrs import load_mrs
from mrspipe.io.tables import read_table
from mrspipe.pipeline import Steps, run_study

N_TRANSIENTS, N_POINTS = 32, 1024


def _no_report(out: Path, **tables: Any) -> Path:
    path = Path(out) / "report.html"
    path.write_text("<html></html>")
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("one_path")
    study, basis_dir, truth = simulated_study_with_basis(
        root, n_participants=2, n_transients=N_TRANSIENTS, n_points=N_POINTS, rng=3
    )
    # defaults everywhere that touches preprocessing and fitting; the group step kept cheap
    config = config_from_dict({"stats": {"mixed_model": False}, "glm": {"enabled": False}})
    steps = Steps(report=_no_report, fit_figure=None)
    result = run_study(
        root / "study", root / "out", basis=root / "basis", config=config, steps=steps
    )
    assert result.exit_status == 0
    return {"root": root, "study": root / "study", "out": root / "out", "basis": root / "basis"}


def _estimates(path: Path) -> pd.Series:
    fits = read_table(path)
    return fits.set_index(["frame", "metabolite"])["estimate"].sort_index()


def test_fit_command_gives_the_estimates_of_run(ran: dict[str, Any], tmp_path: Path) -> None:
    paths = session_paths(ran["out"], "sub-01", "ses-1")
    out = tmp_path / "fit"
    argv = ["fit", str(paths.preprocessed), "--basis", str(ran["basis"]), "--out", str(out)]
    assert main([*argv, "--no-figures"]) == 0
    again = _estimates(out / "fits.tsv")
    before = _estimates(paths.table("fits"))
    assert again.index.equals(before.index)
    scale = before.abs().groupby(level="metabolite").transform("max")
    rel = ((again - before).abs() / scale).max()
    assert rel < 1e-4, rel


def test_fit_command_batches_files_like_one_by_one(ran: dict[str, Any], tmp_path: Path) -> None:
    files = [
        session_paths(ran["out"], pid, sid).preprocessed
        for pid in ("sub-01", "sub-02")
        for sid in ("ses-1", "ses-2")
    ]
    together = tmp_path / "together"
    base = ["--basis", str(ran["basis"]), "--no-figures"]
    assert main(["fit", *map(str, files), "--out", str(together), *base]) == 0
    joint = read_table(together / "fits.tsv")
    assert list(joint["source"].unique()) == [f.name for f in files]
    for f in files[:2]:
        alone = tmp_path / f.name
        assert main(["fit", str(f), "--out", str(alone), *base]) == 0
        single = read_table(alone / "fits.tsv")
        part = joint[joint["source"] == f.name].reset_index(drop=True)
        pd.testing.assert_frame_equal(part[single.columns], single, rtol=1e-6)
        qc_joint = read_table(together / "qc.tsv")
        qc_single = read_table(alone / "qc.tsv")
        qc_part = qc_joint[qc_joint["source"] == f.name].reset_index(drop=True)
        pd.testing.assert_frame_equal(qc_part[qc_single.columns], qc_single, rtol=1e-6)


def test_preproc_command_gives_the_frames_of_run(ran: dict[str, Any], tmp_path: Path) -> None:
    svs = sorted((ran["study"] / "sub-01" / "ses-1" / "mrs").glob("*_svs.nii.gz"))[0]
    refs = sorted((ran["study"] / "sub-01" / "ses-1" / "mrs").glob("*_mrsref.nii.gz"))
    argv = ["preproc", str(svs), "--out", str(tmp_path)]
    if refs:
        argv += ["--water", str(refs[0])]
    assert main(argv) == 0
    mine = load_mrs(next(tmp_path.glob("*_preproc.nii.gz")))
    theirs = load_mrs(session_paths(ran["out"], "sub-01", "ses-1").preprocessed)
    assert mine.fids.shape == theirs.fids.shape
    np.testing.assert_allclose(mine.fids, theirs.fids, rtol=0, atol=1e-6 * abs(theirs.fids).max())


def test_session_options_are_the_layers_objects() -> None:
    from mrspipe.config import defaults
    from mrspipe.pipeline import SessionOptions

    cfg = defaults()
    options = SessionOptions(out=Path("out"))
    assert options.preprocess == cfg.preprocess and options.fit == cfg.fit
    assert options.windows == cfg.windows
    changed = dataclasses.replace(cfg.fit, baseline="poly")
    assert dataclasses.replace(options, fit=changed).fit.baseline == "poly"


def test_covariance_is_saved_and_reaches_the_ratios(ran: dict[str, Any]) -> None:
    """covariance.tsv beside fits.tsv; the time-course ratio SDs propagate it."""
    from mrspipe.dynamic import DEFAULT_RATIOS
    from mrspipe.uncertainty import ratio_sd

    paths = session_paths(ran["out"], "sub-01", "ses-1")
    cov = read_table(paths.table("covariance"))
    assert list(cov.columns) == ["frame", "metabolite_a", "metabolite_b", "covariance"]
    fits = read_table(paths.table("fits")).set_index(["metabolite", "frame"])
    tc = read_table(paths.table("timecourses"))
    checked = 0
    for name, (num, den) in DEFAULT_RATIOS.items():
        rows = tc[tc.metabolite == name].set_index("frame").sort_index()
        if rows.empty:
            continue
        pair = cov[
            ((cov.metabolite_a == num) & (cov.metabolite_b == den))
            | ((cov.metabolite_a == den) & (cov.metabolite_b == num))
        ].set_index("frame")["covariance"]
        a, b = fits.loc[num].loc[rows.index], fits.loc[den].loc[rows.index]
        _, sd = ratio_sd(
            a.estimate.to_numpy(),
            b.estimate.to_numpy(),
            a.crlb_sd.to_numpy() ** 2,
            b.crlb_sd.to_numpy() ** 2,
            pair.loc[rows.index].to_numpy(),
        )
        np.testing.assert_allclose(rows.crlb_sd.to_numpy(), sd, rtol=1e-6)
        assert np.any(pair.to_numpy() != 0)
        checked += 1
    assert checked >= 1
