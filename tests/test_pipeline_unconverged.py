"""Frames whose fit did not converge: left out of the time courses by default, counted in QC.

A simulated study (known Glu % change per session) is fitted by the real fitter; in every
session two frames of the response window are then replaced by a fit stopped after one
iteration from a poor start (``converged`` false), as a fit that hit its iteration limit.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mrspipe.config import config_from_dict
from mrspipe.io.tables import read_table
from mrspipe.pipeline import run_study
from mrspipe.pipeline.steps import Steps, default_fit

#: frames (of 12 per session: 48 transients, blocks of 4) forced not to converge: both in the
#: response window (onset 48 s = frame 4 at TR 3 s)
STUCK = [7, 9]
N_TRANSIENTS, BLOCK = 48, 4


def _splice(good: Any, bad: Any, rows: list[int]) -> Any:
    """``good`` with the per-frame results of ``rows`` taken from ``bad``, not converged."""
    n = good.converged.shape[0]
    take = np.isin(np.arange(n), rows)
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(good):
        g, b = getattr(good, f.name), getattr(bad, f.name)
        if isinstance(g, np.ndarray) and g.ndim and g.shape[0] == n and g.shape == b.shape:
            changes[f.name] = np.where(take.reshape((-1,) + (1,) * (g.ndim - 1)), b, g)
    changes["params"] = {
        k: np.where(take.reshape((-1,) + (1,) * (v.ndim - 1)), bad.params[k], v)
        for k, v in good.params.items()
    }
    changes["converged"] = good.converged & ~take
    return dataclasses.replace(good, **changes)


def fit_with_stuck_frames(frames: Any, basis: Any, *, options: Any, infusion: Any = None) -> Any:
    """The real fit, with the frames :data:`STUCK` from a fit stopped after one iteration."""
    from mrspipe.fit import fit_spectra

    good = default_fit(frames, basis, options=options, infusion=infusion)
    kwargs = {**options.spectra_kwargs(), "max_iter": 1, "lorentz_hz": 12.0, "gauss_hz": 12.0}
    bad = fit_spectra(frames, basis, **kwargs)
    assert not bad.converged[STUCK].any()  # really stopped short, not just relabelled
    return _splice(good, bad, STUCK)


def no_report(out: Path, **tables: Any) -> Path:
    """Report step double: the statistics and tables only (the figures take the time)."""
    return Path(out) / "report.html"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    from mrspipe.io.basis import save_basis
    from mrspipe.simulate import simulate_basis, simulate_study

    root = tmp_path_factory.mktemp("unconverged")
    truth = simulate_study(
        root / "study",
        n_participants=2,
        n_transients=N_TRANSIENTS,
        n_points=512,
        snr=100.0,
        infusion_onset=48.0,
        infusion_duration=150.0,
        response_tau=30.0,
        rng=3,
    )
    d = truth["design"]
    basis = simulate_basis(
        sequence=d["sequence"],
        field_mhz=d["field_mhz"],
        te=d["te"],
        dwell_time=d["dwell_time"],
        n_points=512,
    )
    save_basis(basis, root / "basis", format="fsl")
    return root / "study", root / "basis", truth


def _run(study: tuple[Path, Path, dict[str, Any]], out: Path, **options: Any) -> Any:
    windows = {"windows": options.pop("windows")} if "windows" in options else {}
    config = config_from_dict(
        {"preprocess": {"block": BLOCK}, "stats": {"mixed_model": False}, **windows}
    )
    steps = Steps(fit=fit_with_stuck_frames, fit_figure=None, **options)
    return run_study(study[0], out, basis=study[1], config=config, steps=steps)


def _glu_errors(out: Path, truth: dict[str, Any]) -> np.ndarray:
    """Glu % change (response window) minus its truth, per session."""
    responses = read_table(out / "group" / "responses.tsv")
    glu = responses[responses["metabolite"] == "Glu"].sort_values(["participant_id", "session_id"])
    true = {
        (s["participant_id"], s["session_id"]): s["glu_percent_change_window"]
        for s in truth["sessions"]
    }
    return np.array(
        [
            pc - true[p, s]
            for p, s, pc in zip(glu.participant_id, glu.session_id, glu.percent_change, strict=True)
        ]
    )


def test_unconverged_frames_are_left_out_and_counted(
    study: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _run(study, out)
    assert result.exit_status == 0 and result.errors == []
    n_frames = N_TRANSIENTS // BLOCK
    assert [r.summary["n_frames_excluded"] for r in result.sessions] == [len(STUCK)] * 4
    # the estimates stay in the session's fit table, flagged in its QC table
    fits = read_table(next(out.rglob("sub-01_ses-1_desc-fit_estimates.tsv")))
    qc = read_table(next(out.rglob("sub-01_ses-1_desc-frames_qc.tsv")))
    assert sorted(qc.loc[~qc["converged"].astype(bool), "frame"]) == STUCK
    assert np.isfinite(fits.loc[fits["frame"].isin(STUCK), "estimate"]).all()
    # the time courses keep the rows (a gap stays a gap) with NaN, ratios included
    tc = read_table(out / "group" / "timecourses.tsv")
    stuck = tc["frame"].isin(STUCK)
    assert len(tc) == 4 * n_frames * tc["metabolite"].nunique()
    assert tc.loc[stuck, ["estimate", "crlb_sd"]].isna().all().all()
    assert "Glx/tNAA" in set(tc.loc[stuck, "metabolite"])
    assert np.isfinite(tc.loc[~stuck, "estimate"]).all()
    # the windows average the other frames: the plain mean of the converged frames' estimates
    responses = read_table(out / "group" / "responses.tsv")
    glu = responses[responses["metabolite"] == "Glu"].sort_values(["participant_id", "session_id"])
    assert (glu["n_response"] == n_frames - 4 - len(STUCK)).all()
    assert (glu["n_baseline"] == 4).all() and np.isfinite(glu["response_se"]).all()
    one = fits[(fits["metabolite"] == "Glu") & ~fits["frame"].isin(STUCK)]
    expected = one.loc[one["frame"] >= 4, "estimate"].mean()
    assert glu["response"].iloc[0] == pytest.approx(expected, rel=1e-12)
    # against truth: the converged frames give the true change within its reported SE (~1.9 pp)
    se = glu["percent_change_se"].to_numpy()
    assert (np.abs(_glu_errors(out, study[2])) < 3.5 * se).all() and (se < 3.0).all()
    # the report counts them and lists them per session
    html = (out / "report.html").read_text()
    assert f"{4 * len(STUCK)} of {4 * n_frames} frames left out of the time courses" in html
    assert "n_frames_excluded" in html


def test_kept_unconverged_frames_bias_the_response(
    study: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    """``[windows] exclude_unconverged = false``: their estimates enter the windows."""
    out = tmp_path / "keep"
    result = _run(study, out, windows={"exclude_unconverged": False}, report=no_report)
    assert result.exit_status == 0
    assert [r.summary["n_frames_excluded"] for r in result.sessions] == [0] * 4
    responses = read_table(out / "group" / "responses.tsv")
    assert (responses["n_response"] == N_TRANSIENTS // BLOCK - 4).all()
    # two frames stopped far from their optimum move Glu's % change by more than 10 pp
    assert (_glu_errors(out, study[2]) > 10.0).all()
