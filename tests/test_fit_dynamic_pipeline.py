"""``mrspipe run --dynamic``: the joint fit feeds the same time courses, responses and stats."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from study_helpers import simulated_study_with_basis

from mrspipe.config import config_from_dict
from mrspipe.io.tables import read_table
from mrspipe.pipeline import run_study

N_TRANSIENTS, N_POINTS, BLOCK = 32, 1024, 4


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dyn")
    study_dir, basis_dir, _ = simulated_study_with_basis(
        root, n_participants=2, n_transients=N_TRANSIENTS, n_points=N_POINTS, rng=7
    )
    return study_dir, basis_dir


def test_run_dynamic_feeds_responses_and_stats(
    study: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # options the joint fit does not have: warned once per run (not per session) and recorded
    # in run.json as what was fitted
    fit = {"dynamic": True, "lineshape": "kernel", "mm_priors": True, "baseline_stiffness": "ftest"}
    config = config_from_dict(
        {"preprocess": {"block": BLOCK}, "fit": fit, "stats": {"mixed_model": False}}
    )
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        result = run_study(study[0], out, basis=study[1], config=config)
    assert result.errors == [] and result.exit_status == 0
    for text in ("no 'kernel' lineshape", "no MM/lipid ratio priors", "fixed baseline stiffness"):
        assert sum(text in r.getMessage() for r in caplog.records) == 1, text
    used = json.loads((out / "run.json").read_text())["config"]["fit"]
    assert (used["lineshape"], used["mm_priors"], used["baseline_stiffness"]) == (
        "voigt",
        False,
        "fixed",
    )
    tc = read_table(out / "group" / "timecourses.tsv")
    glu = tc[tc["metabolite"] == "Glu"]
    assert len(glu) == 4 * N_TRANSIENTS // BLOCK
    # concentrations are fitted per frame: a time course, not a design's straight line
    for _, sess in glu.groupby(["participant_id", "session_id"]):
        pre = sess[sess["time_s"] < 0]["estimate"].to_numpy()
        assert pre.size >= 2 and np.ptp(pre) > 0 and (sess["crlb_sd"] > 0).all()
    responses = read_table(out / "group" / "responses.tsv")
    glu_resp = responses[responses["metabolite"] == "Glu"]
    assert len(glu_resp) == 4 and np.isfinite(glu_resp["percent_change"]).all()
    stats = read_table(out / "group" / "stats.tsv")
    assert ((stats["analysis"] == "paired") & (stats["metabolite"] == "Glu")).any()


def test_dynamic_tables_stand_in_for_a_frame_fit() -> None:
    from mrspipe.fit import fit_dynamic
    from mrspipe.pipeline.steps import DynamicFitTables
    from mrspipe.simulate import simulate_basis, simulate_spectra

    basis = simulate_basis(["NAA", "Cr", "Glu"], n_points=512)
    data, _ = simulate_spectra(
        basis, {"NAA": 10.0, "Cr": 8.0, "Glu": np.linspace(9, 10, 12)}, noise_sd=0.2, rng=0
    )
    tables = DynamicFitTables(fit_dynamic(data, basis, {"ramp": np.linspace(0, 1, 12)}))
    assert len(tables.table(source="s")) == 12 * len(tables.result.names + tables.result.sum_names)
    assert list(tables.qc_table(source="s")["frame"]) == list(range(12))
    assert tables.n_frames == 12 and tables.model_spectra().shape == (12, 512)
    with pytest.raises(AttributeError):
        _ = tables.no_such_attribute


def _study_like_session(basis, *, lorentz_bold: float, gauss_bold: float, response: float):
    """48 frames 40 s apart, onset at 480 s: Glu rises as 1 - exp(-t / 300 s) (not a ramp),
    the BOLD narrowing follows the same curve; noise-free."""
    from mrspipe.simulate import simulate_spectra

    times = np.arange(48) * 40.0
    onset = 480.0
    r = np.where(times > onset, -np.expm1(-(times - onset) / 300.0), 0.0)
    conc = {"NAA": 11.0, "Cr": 4.5, "PCr": 4.0, "GPC": 1.0, "Ins": 6.0, "Gln": 3.0}
    conc = {k: np.full(times.size, v) for k, v in conc.items()}
    conc["Glu"] = 9.5 * (1.0 + response * r)
    rng = np.random.default_rng(3)
    data, _ = simulate_spectra(
        basis,
        conc,
        lorentz_hz=5.0 - lorentz_bold * r,
        gauss_hz=4.0 - gauss_bold * r,
        shift_hz=rng.normal(0.0, 1.0, times.size),
        phase0=rng.normal(0.0, 0.05, times.size),
    )
    data = data.with_fids(data.fids, frame_times=times)
    glu = conc["Glu"]
    t = times - onset
    true = 100.0 * (glu[t >= 0].mean() / glu[t < 0].mean() - 1.0)
    return data, (onset, 2400.0), t, true


@pytest.mark.parametrize("lorentz_bold, gauss_bold", [(0.3, 0.0), (0.0, 0.6)])
def test_run_dynamic_session_is_unbiased_for_a_response_that_is_not_a_ramp(
    lorentz_bold: float, gauss_bold: float
) -> None:
    """The session fit of ``run --dynamic`` (noise-free, both BOLD forms): window % change of
    Glu exact although the response saturates; the former design (concentrations on intercept
    + infusion ramp) reads it about 1 pp low."""
    from mrspipe.fit import fit_dynamic
    from mrspipe.pipeline.fit_step import _fit_dynamic_session
    from mrspipe.simulate import simulate_basis

    basis = simulate_basis(["NAA", "Cr", "PCr", "GPC", "Ins", "Glu", "Gln"], n_points=512)
    data, infusion, t, true = _study_like_session(
        basis, lorentz_bold=lorentz_bold, gauss_bold=gauss_bold, response=0.06
    )
    kw = {"default_macromolecules": False, "precision": "double"}
    fit = _fit_dynamic_session(data, basis, infusion=infusion, **kw).result
    assert fit.model["conc"]["kind"] == "free"
    glu = fit.timecourses[:, fit.names.index("Glu")]
    est = 100.0 * (glu[t >= 0].mean() / glu[t < 0].mean() - 1.0)
    assert abs(est - true) < 0.005
    design = fit.design[["intercept", "ramp"]]
    ramp = fit_dynamic(data, basis, design, **kw)
    glu = ramp.timecourses[:, ramp.names.index("Glu")]
    assert 100.0 * (glu[t >= 0].mean() / glu[t < 0].mean() - 1.0) - true < -0.5


def test_constant_metabolites_share_one_concentration_and_leak_a_real_change() -> None:
    """``[fit] constant_metabolites`` (with ``--dynamic``): Gln and GABA held at one value for
    the session. Noise-free, exact while they are constant, with a smaller reported Glu SD
    (their overlap with Glu no longer competes frame by frame); a real Gln rise leaks into
    Glu (here +1.5 pp for a 7.8 % Gln change), which is what the option assumes away."""
    from mrspipe.pipeline.fit_step import _fit_dynamic_session
    from mrspipe.simulate import simulate_basis, simulate_spectra

    names = ["NAA", "Cr", "PCr", "GPC", "Ins", "Glu", "Gln", "GABA"]
    basis = simulate_basis(names, n_points=512)
    times = np.arange(48) * 40.0
    t = times - 480.0
    r = np.where(t > 0, -np.expm1(-t / 300.0), 0.0)
    kw = {"default_macromolecules": False, "precision": "double"}

    def change(values: np.ndarray) -> float:
        return 100.0 * (values[t >= 0].mean() / values[t < 0].mean() - 1.0)

    errors, sds = {}, {}
    for gln_rise in (0.0, 0.1):
        conc = {"NAA": 11.0, "Cr": 4.5, "PCr": 4.0, "GPC": 1.0, "Ins": 6.0, "GABA": 1.2}
        conc = {k: np.full(times.size, v) for k, v in conc.items()}
        conc["Glu"] = 9.5 * (1.0 + 0.06 * r)
        conc["Gln"] = 3.0 * (1.0 + gln_rise * r)
        data, _ = simulate_spectra(basis, conc, lorentz_hz=5.0, gauss_hz=4.0)
        data = data.with_fids(data.fids, frame_times=times)
        for constant in ((), ("Gln", "GABA")):
            fit = _fit_dynamic_session(
                data, basis, infusion=(480.0, 2400.0), constant=constant, **kw
            ).result
            glu = fit.names.index("Glu")
            errors[gln_rise, constant] = change(fit.timecourses[:, glu]) - change(conc["Glu"])
            sds[gln_rise, constant] = np.median(fit.timecourse_sd[:, glu])
            gln = fit.timecourses[:, fit.names.index("Gln")]
            if constant:  # one value for the session
                assert np.ptp(gln) < 1e-9 * gln.mean()
    assert abs(errors[0.0, ()]) < 0.005 and abs(errors[0.0, ("Gln", "GABA")]) < 0.005
    assert abs(errors[0.1, ()]) < 0.005
    assert errors[0.1, ("Gln", "GABA")] > 1.0
    assert sds[0.0, ("Gln", "GABA")] < 0.8 * sds[0.0, ()]


def test_constant_metabolites_need_the_joint_fit(study: tuple[Path, Path], tmp_path: Path) -> None:
    from mrspipe.errors import ConfigError

    config = config_from_dict({"fit": {"constant_metabolites": ["Gln"]}})
    with pytest.raises(ConfigError, match="constant_metabolites needs the joint fit"):
        run_study(study[0], tmp_path / "out", basis=study[1], config=config)
    assert not (tmp_path / "out" / "group").exists()


def test_a_joint_fit_that_does_not_converge_is_flagged_not_failed(
    study: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Exit 0 (a QC finding, like any frame that did not converge), flagged in tables and report.

    A joint fit has no fit per frame, so [windows] exclude_unconverged (on by default) leaves no
    frame out: the session keeps its estimates in the time courses, windows and statistics.
    """
    import mrspipe.fit.dynamic as dyn

    real = dyn.levenberg_marquardt_joint

    def stops_early(*args, **kwargs):
        gamma, local, asm, _, n_iter = real(*args, **{**kwargs, "max_iter": 1})
        return gamma, local, asm, False, n_iter

    monkeypatch.setattr(dyn, "levenberg_marquardt_joint", stops_early)
    config = config_from_dict(
        {"preprocess": {"block": BLOCK}, "fit": {"dynamic": True}, "stats": {"mixed_model": False}}
    )
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        result = run_study(study[0], out, basis=study[1], config=config, participant_labels=["01"])
    assert result.errors == [] and result.exit_status == 0
    messages = [r.getMessage() for r in caplog.records]
    assert sum("joint dynamic fit did not converge" in m for m in messages) == 2  # 2 sessions
    assert not any("left out of the time courses" in m for m in messages)
    assert [r.summary["n_frames_excluded"] for r in result.sessions] == [0, 0]
    tc = read_table(out / "group" / "timecourses.tsv")
    assert len(tc) and tc["estimate"].notna().all()  # the joint fit's estimates are kept
    responses = read_table(out / "group" / "responses.tsv")
    assert responses["percent_change"].notna().all() and (responses["n_response"] > 0).all()
    qc = read_table(next(out.rglob("*_desc-frames_qc.tsv")))
    assert not qc["converged"].any() and not qc["joint_converged"].any()
    assert qc["start_converged"].all() and (qc["joint_n_iter"] == 1).all()
    assert {r.summary["fit_not_converged_percent"] for r in result.sessions} == {100.0}
    html = (out / "report.html").read_text()
    flags = html[html.index('<div class="warnings">') :]
    flags = flags[: flags.index("</div>")]  # the QC flags at the top, not the criteria list
    assert "frames whose fit did not converge" in flags and "100 %" in flags


def test_a_converged_joint_fit_is_not_flagged() -> None:
    from mrspipe.fit import fit_dynamic
    from mrspipe.simulate import simulate_basis, simulate_spectra

    basis = simulate_basis(["NAA", "Cr", "Glu"], n_points=512)
    data, _ = simulate_spectra(
        basis, {"NAA": 10.0, "Cr": 8.0, "Glu": np.linspace(9, 10, 12)}, noise_sd=0.2, rng=0
    )
    kw = {"default_macromolecules": False}
    res = fit_dynamic(data, basis, {"ramp": np.linspace(0, 1, 12)}, **kw)
    qc = res.qc_table(source="s")
    assert res.converged and qc["converged"].all() and qc["joint_converged"].all()
    assert (qc["joint_n_iter"] == res.n_iter).all()
    frame_qc = res.frame_fit.qc_table(source="s")
    shared = [c for c in frame_qc.columns if c != "converged"]
    assert qc[shared].equals(frame_qc[shared])  # the start fit's QC otherwise
