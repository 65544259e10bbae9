"""Attack suite, the study as a whole and silent fallbacks.

One participant must not sink the study after the fitting: design and events problems stop the
run before any work (exit 2, every problem listed), what merely limits an analysis is a warning
in the log and the report. Fallbacks that changed numbers silently are errors or warnings.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from attack_helpers import one_line_error, snapshot
from test_pipeline import CALLS, DOUBLES, PEOPLE, REPORTED, make_study

from mrspipe.cli import main
from mrspipe.data import MRSData
from mrspipe.io.nifti_mrs import save_mrs
from mrspipe.io.tables import read_table

SMALL = ("NAA", "Cr", "PCr", "Glu", "Gln", "Ins")


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Any:
    import mrspipe.commands.run as run_cmd

    def setter(steps: Any = DOUBLES) -> None:
        CALLS.clear()
        monkeypatch.setattr(run_cmd, "pipeline_steps", lambda: steps)

    setter()
    return setter


def _run(study: Path, out: Path, basis: Path, *extra: str) -> int:
    return main(["run", str(study), str(out), "--basis", str(basis), "--block", "4", *extra])


def _set_condition(study: Path, pid: str, session: str, condition: str) -> None:
    path = study / pid / f"{pid}_sessions.tsv"
    df = pd.read_csv(path, sep="\t", dtype=str)
    df.loc[df["session_id"] == session, "condition"] = condition
    df.to_csv(path, sep="\t", index=False)


def _set_events(study: Path, pid: str, session: str, **columns: list[Any]) -> None:
    path = study / pid / session / "mrs" / f"{pid}_{session}_svs_events.tsv"
    df = pd.read_csv(path, sep="\t")
    for key, values in columns.items():
        df[key] = values
    df.to_csv(path, sep="\t", index=False, na_rep="n/a")


def test_design_and_events_problems_stop_the_run_before_any_work(
    use: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    _set_condition(study, "sub-01", "ses-2", "placebo")  # both sessions placebo
    _set_events(study, "sub-02", "ses-1", duration=[0.0, -60.0])  # negative duration
    _set_events(study, "sub-03", "ses-2", onset=[0.0, float("nan")])  # n/a onset
    out = tmp_path / "out"
    before, inputs = snapshot(tmp_path, exclude=out), snapshot(study)
    assert _run(study, out, basis) == 2
    line = one_line_error(
        capsys.readouterr().err,
        "2 problem(s) found before any work",
        "sub-02_ses-1_svs_events.tsv: duration must be n/a or a number >= 0 (s): row 2: -60.0",
        "sub-03_ses-2_svs_events.tsv: onset must be a finite number (s): row 2",
    )
    assert "Traceback" not in line
    assert not out.exists() and CALLS["preprocess"] == 0
    assert snapshot(tmp_path, exclude=out) == before and snapshot(study) == inputs


def test_a_third_session_of_a_condition_is_a_warning(
    use: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12: analysed on what is complete (the first session of each condition), warned."""
    import shutil

    study, basis = make_study(tmp_path, PEOPLE)
    shutil.copytree(study / "sub-02" / "ses-2", study / "sub-02" / "ses-3")
    table = study / "sub-02" / "sub-02_sessions.tsv"
    table.write_text(table.read_text() + "ses-3\tplacebo\n")
    for f in (study / "sub-02" / "ses-3" / "mrs").iterdir():
        f.rename(f.with_name(f.name.replace("ses-2", "ses-3")))
    with caplog.at_level("WARNING", logger="mrspipe"):
        assert _run(study, tmp_path / "out", basis) == 0
    assert "sub-02: 2 placebo sessions (ses-2, ses-3); the first is analysed" in caplog.text


def test_no_sex_column_is_a_warning_in_log_and_report(
    use: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mrspipe.pipeline.steps import default_find_sessions, default_stats

    study, basis = make_study(tmp_path, PEOPLE)
    table = study / "participants.tsv"
    pd.read_csv(table, sep="\t")[["participant_id"]].to_csv(table, sep="\t", index=False)
    use(dataclasses.replace(DOUBLES, find_sessions=default_find_sessions, stats=default_stats))
    with caplog.at_level("WARNING", logger="mrspipe"):
        assert _run(study, tmp_path / "out", basis) == 0  # the real statistics ran for all
    assert "no participant has a recorded sex" in caplog.text
    design = REPORTED["design"]
    assert any("no participant has a recorded sex" in w for w in design["warnings"])
    assert "no participant has a recorded sex" in design["description"]
    stats = read_table(tmp_path / "out" / "group" / "stats.tsv")
    assert len(stats) and set(stats["subgroup"].dropna()) <= {"all"}


def _rewrite_svs(study: Path, pid: str, ses: str, **fields: Any) -> Path:
    from mrspipe.io.nifti_mrs import load_mrs

    path = study / pid / ses / "mrs" / f"{pid}_{ses}_svs.nii.gz"
    data = dataclasses.replace(load_mrs(path), **fields)
    save_mrs(data, path)
    return path


def test_no_repetition_time_and_no_time_header_fails_that_session_named(
    use: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    bad = _rewrite_svs(
        study, "sub-02", "ses-2", repetition_time=0.0, frame_times=None, dim_headers={}
    )
    out = tmp_path / "out"
    assert _run(study, out, basis) == 1
    errors = read_table(out / "errors.tsv")
    assert errors[["participant_id", "session_id"]].values.tolist() == [["sub-02", "ses-2"]]
    assert "no transient times: RepetitionTime is missing or 0" in errors["error"].iloc[0]
    assert str(bad) in errors["error"].iloc[0]
    assert "Traceback" not in capsys.readouterr().err


def test_a_nan_transient_is_rejected_not_the_session(caplog: pytest.LogCaptureFixture) -> None:
    from mrspipe.preprocess import PreprocessOptions, preprocess_session
    from mrspipe.simulate import simulate_basis, simulate_spectra

    basis = simulate_basis(SMALL, n_points=512)
    data, _ = simulate_spectra(basis, {"NAA": np.full(16, 10.0), "Cr": 8.0}, noise_sd=0.01, rng=1)
    data = dataclasses.replace(data, repetition_time=2.0)
    fids = data.fids.copy()
    fids[5, 100] = np.nan
    fids[9, 3] = np.inf
    with caplog.at_level("WARNING", logger="mrspipe"):
        out = preprocess_session(data.with_fids(fids), options=PreprocessOptions(block=4))
    assert "2 transient(s) hold NaN or infinite values; rejected" in caplog.text
    assert np.flatnonzero(out.qc["rejected"]).tolist() == [5, 9]
    assert np.isfinite(out.frames.fids).all()


def test_sums_with_a_missing_member_are_absent() -> None:
    from mrspipe.fit.crlb import sum_weights

    names, weights = sum_weights(("Gln", "NAA", "NAAG", "Cr", "PCr", "GPC"))
    assert names == ("tNAA", "tCr")  # no Glx without Glu, no tCho without PCho
    assert weights.tolist() == [[0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0]]


def test_a_failing_session_glm_skips_that_session_only(caplog: pytest.LogCaptureFixture) -> None:
    from mrspipe.dynamic.options import GLMOptions
    from mrspipe.pipeline.steps import default_glm

    rows = []
    for pid, n in (("sub-01", 20), ("sub-02", 1)):  # sub-02 has one frame: no GLM possible
        for k in range(n):
            rows.append(
                {
                    "participant_id": pid,
                    "session_id": "ses-1",
                    "condition": "placebo",
                    "sex": "M",
                    "frame": k,
                    "time_s": 10.0 * k - 50,
                    "metabolite": "Glu",
                    "estimate": 1.0 + 0.01 * k,
                    "crlb_sd": 0.1,
                }
            )
    with caplog.at_level("WARNING", logger="mrspipe"):
        glm = default_glm(
            pd.DataFrame(rows), durations={("sub-01", "ses-1"): 60.0}, options=GLMOptions()
        )
    assert set(glm["participant_id"]) == {"sub-01"}
    assert "GLM skipped for sub-02 ses-1" in caplog.text


def test_basis_without_glu_reports_no_glx(tmp_path: Path) -> None:
    from mrspipe.fit import fit_spectra
    from mrspipe.simulate import simulate_basis, simulate_spectra

    basis = simulate_basis(SMALL, n_points=512)
    keep = [n for n in basis.names if n != "Glu"]
    data, _ = simulate_spectra(basis, np.ones((2, len(basis.names))), noise_sd=0.01, rng=2)
    table = fit_spectra(data, basis.select(keep)).table()
    assert "Gln" in set(table["metabolite"]) and "Glx" not in set(table["metabolite"])
    assert isinstance(data, MRSData)
