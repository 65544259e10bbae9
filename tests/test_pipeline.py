"""Study orchestration with injected step doubles (tiny and fast).

The doubles below stand in for the numeric modules (preprocess, fit, dynamic, stats, report)
and for io.bids/io.basis: they are TEST DOUBLES, deliberately simple, and exist only to check
the orchestration: discovery -> per-session steps -> derivatives -> group tables, resumability,
failure isolation, parallel execution. The real modules are exercised in
``test_pipeline_e2e.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mrspipe.config import config_from_dict, defaults
from mrspipe.data import Basis, MRSData
from mrspipe.errors import ConfigError, MissingExtraError, StudyLayoutError
from mrspipe.io._atomic import atomic_write_text
from mrspipe.io.derivatives import GROUP_TABLES, session_paths
from mrspipe.io.nifti_mrs import save_mrs
from mrspipe.io.tables import read_json, read_table
from mrspipe.pipeline import Steps, resolve_contrast, run_study

N_TRANSIENTS, N_POINTS, TR = 16, 64, 2.0
ONSET = 12.0  # s after the first transient; the "infusion" event
METABOLITES = ("Glu", "Gln", "Glx", "tNAA", "tCr", "tCho", "Ins")

# -- test doubles -------------------------------------------------------------------------

CALLS: Counter[str] = Counter()
REPORTED: dict[str, Any] = {}  # what the report double received (in-process)


@dataclass(frozen=True)
class FakeSession:
    """Stand-in for mrspipe.io.bids.Session (same fields as the contract)."""

    participant_id: str
    session_id: str
    condition: str | None
    sex: str | None
    svs_path: Path
    ref_path: Path | None
    events_path: Path | None
    extra: dict[str, Any] = field(default_factory=dict)


def fake_find_sessions(study: Path) -> list[FakeSession]:
    """Test double of io.bids.find_sessions: just enough of the MRS-BIDS layout."""
    if not (study / "participants.tsv").is_file():
        raise StudyLayoutError("no participants.tsv", study)
    people = pd.read_csv(study / "participants.tsv", sep="\t", na_values=["n/a"])
    out = []
    for _, person in people.iterrows():
        pid = person["participant_id"]
        sex = None if pd.isna(person["sex"]) else person["sex"]
        table = pd.read_csv(study / pid / f"{pid}_sessions.tsv", sep="\t")
        for _, row in table.iterrows():
            mrs = study / pid / row["session_id"] / "mrs"
            prefix = f"{pid}_{row['session_id']}"
            ref = mrs / f"{prefix}_mrsref.nii.gz"
            out.append(
                FakeSession(
                    pid,
                    row["session_id"],
                    row["condition"],
                    sex,
                    mrs / f"{prefix}_svs.nii.gz",
                    ref if ref.exists() else None,
                    mrs / f"{prefix}_svs_events.tsv",
                )
            )
    return out


def fake_read_events(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")


def fake_infusion(
    events: pd.DataFrame, *, event: str | None, source: Any = None
) -> tuple[float, float]:
    """Test double of dynamic.infusion_event: first row whose trial_type has the event."""
    match = events["trial_type"].str.contains(event or "infusion")
    if not match.any():
        raise StudyLayoutError(f"no event {event!r}", source)
    row = events[match].iloc[0]
    return float(row["onset"]), float(row["duration"])


def fake_read_phenotype(study: Path, *, score: str) -> None:
    return None


def fake_load_basis(path: Path) -> Basis:
    names = Path(path).read_text().split()
    if not names:
        from mrspipe.errors import MRSFormatError

        raise MRSFormatError("empty basis", path)
    fids = np.ones((len(names), N_POINTS), complex)
    return Basis(tuple(names), fids, dwell_time=2.5e-4, spectrometer_frequency=123.2)


def fake_resample_basis(basis: Basis, data: MRSData) -> Basis:
    CALLS["resample"] += 1
    return basis


@dataclass
class FakePreprocessResult:
    frames: MRSData
    qc: dict[str, np.ndarray]
    steps: list[dict[str, Any]]


def fake_preprocess(data: MRSData, *, water: Any, options: Any, ecc_reference: Any = None) -> Any:
    """Test double: block-average transients (no alignment)."""
    CALLS["preprocess"] += 1
    block = options.block
    n = data.size("dyn") // block * block
    fids = data.fids[:n].reshape(n // block, block, -1).mean(axis=1)
    times = data.transient_times()[:n].reshape(-1, block).mean(axis=1)
    frames = data.with_fids(fids, dims=("dyn",), frame_times=times)
    k = np.arange(data.size("dyn"))
    qc = {
        "transient": k,
        "time_s": data.transient_times(),
        "shift_hz": 0 * k + 0.0,
        "phase_rad": 0 * k + 0.0,
        "snr": 10.0 + k,
        "fwhm_hz": 0 * k + 5.0,
        "rejected": k == 0,
    }
    return FakePreprocessResult(frames, qc, [{"Step": "block average", "block": block}])


@dataclass
class FakeFit:
    names: tuple[str, ...]
    estimates: np.ndarray

    def table(self, source: str | None = None) -> pd.DataFrame:
        n_frames, n_met = self.estimates.shape
        return pd.DataFrame(
            {
                "source": source,
                "frame": np.repeat(np.arange(n_frames), n_met),
                "metabolite": np.tile(self.names, n_frames),
                "estimate": self.estimates.ravel(),
                "crlb_sd": 0.1 * self.estimates.ravel(),
                "crlb_percent": 10.0,
            }
        )

    def qc_table(self, source: str | None = None) -> pd.DataFrame:
        n = self.estimates.shape[0]
        return pd.DataFrame(
            {
                "source": source,
                "frame": np.arange(n),
                "snr": 20.0,
                "fwhm_hz": 6.0,
                "shift_hz": 0.0,
                "phase_rad": 0.0,
                "residual_rel": 0.01,
                "converged": True,
            }
        )


def fake_fit(frames: MRSData, basis: Basis, *, options: Any, infusion: Any = None) -> FakeFit:
    """Test double: 'estimate' = |first point| times the metabolite's rank."""
    CALLS["fit"] += 1
    amp = np.abs(frames.fids[:, 0])
    return FakeFit(basis.names, amp[:, None] * np.arange(1, len(basis.names) + 1))


def fake_dynamics(
    fits: pd.DataFrame,
    *,
    frame_times: np.ndarray,
    onset: float,
    session: Any,
    windows: Any,
    covariance: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test double of the mrspipe.dynamic adapter."""

    def closed(window: tuple[float | None, float | None]) -> tuple[float, float]:
        a, b = window
        return (-np.inf if a is None else a, np.inf if b is None else b)

    baseline_window, response_window = closed(windows.baseline), closed(windows.response)
    CALLS["dynamics"] += 1
    tc = fits[["frame", "metabolite", "estimate", "crlb_sd"]].copy()
    tc["time_s"] = np.asarray(frame_times)[tc["frame"].to_numpy()] - onset
    for col in ("participant_id", "session_id", "condition", "sex"):
        tc[col] = getattr(session, col)

    def window_mean(df: pd.DataFrame, w: tuple[float, float]) -> float:
        return float(df.loc[(df["time_s"] >= w[0]) & (df["time_s"] < w[1]), "estimate"].mean())

    rows = []
    for met, df in tc.groupby("metabolite", sort=False):
        b, r = window_mean(df, baseline_window), window_mean(df, response_window)
        rows.append(
            {
                "participant_id": session.participant_id,
                "session_id": session.session_id,
                "condition": session.condition,
                "sex": session.sex,
                "metabolite": met,
                "baseline": b,
                "response": r,
                "percent_change": 100 * (r - b) / b,
            }
        )
    return tc, pd.DataFrame(rows)


def fake_stats(
    timecourses: pd.DataFrame,
    responses: pd.DataFrame,
    *,
    contrast: tuple[str, str],
    options: dict[str, Any],
    **windows: Any,
) -> pd.DataFrame:
    CALLS["stats"] += 1
    rows = []
    for met, df in responses.groupby("metabolite"):
        means = df.groupby("condition")["percent_change"].mean()
        rows.append(
            {
                "metabolite": met,
                "analysis": "paired",
                "term": f"{contrast[0]}-{contrast[1]}",
                "subgroup": "all",
                "estimate": means[contrast[0]] - means[contrast[1]],
                "ci_low": np.nan,
                "ci_high": np.nan,
                "p_value": np.nan,
                "n": df["participant_id"].nunique(),
            }
        )
    return pd.DataFrame(rows)


def fake_report(out: Path, **tables: Any) -> Path:
    CALLS["report"] += 1
    REPORTED.clear()
    REPORTED.update(tables)
    design = tables["design"]
    return atomic_write_text(
        Path(out) / "report.html", f"<html>baseline: {design['baseline_window_s']}</html>"
    )


def fake_failing_stats(*args: Any, **kwargs: Any) -> pd.DataFrame:
    raise ValueError("not enough pairs")


DOUBLES = Steps(
    find_sessions=fake_find_sessions,
    read_events=fake_read_events,
    load_basis=fake_load_basis,
    resample_basis=fake_resample_basis,
    preprocess=fake_preprocess,
    fit=fake_fit,
    infusion=fake_infusion,
    dynamics=fake_dynamics,
    read_phenotype=fake_read_phenotype,
    stats=fake_stats,
    report=fake_report,
    fit_figure=None,
)

# -- a tiny study on disk -------------------------------------------------------------------


def make_study(
    root: Path,
    participants: dict[str, str | None],
    *,
    corrupt: tuple[str, str] | None = None,
    study: Path | None = None,
) -> tuple[Path, Path]:
    """Write a tiny MRS-BIDS-like study (real NIfTI-MRS files) and a basis file."""
    study = root / "study" if study is None else study
    study.mkdir(parents=True)
    pd.DataFrame(
        {
            "participant_id": list(participants),
            "sex": [s if s else "n/a" for s in participants.values()],
        }
    ).to_csv(study / "participants.tsv", sep="\t", index=False)
    t = np.arange(N_POINTS) * 2.5e-4
    times = np.arange(N_TRANSIENTS) * TR
    for i, pid in enumerate(participants):
        (study / pid).mkdir()
        pd.DataFrame(
            {
                "session_id": ["ses-1", "ses-2"],
                "condition": ["naltrexone", "placebo"] if i % 2 else ["placebo", "naltrexone"],
            }
        ).to_csv(study / pid / f"{pid}_sessions.tsv", sep="\t", index=False)
        for j, ses in enumerate(("ses-1", "ses-2")):
            mrs = study / pid / ses / "mrs"
            mrs.mkdir(parents=True)
            amp = 1.0 + 0.1 * i + 0.05 * j + 0.2 * (times >= ONSET)
            fids = amp[:, None] * np.exp((2j * np.pi * 30 - 8) * t)
            data = MRSData(
                fids,
                dwell_time=2.5e-4,
                spectrometer_frequency=123.2,
                dims=("dyn",),
                repetition_time=TR,
                frame_times=times,
            )
            svs = mrs / f"{pid}_{ses}_svs.nii.gz"
            if corrupt == (pid, ses):
                svs.write_bytes(b"this is not a NIfTI file")
            else:
                save_mrs(data, svs)
            pd.DataFrame(
                {
                    "onset": [0.0, ONSET],
                    "duration": [0.0, 60.0],
                    "trial_type": ["scan_start", "ketamine_infusion"],
                }
            ).to_csv(mrs / f"{pid}_{ses}_svs_events.tsv", sep="\t", index=False)
    basis = root / "basis.txt"
    basis.write_text(" ".join(METABOLITES))
    return study, basis


def tree_digest(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


CONFIG = config_from_dict({"preprocess": {"block": 4}})
PEOPLE = {"sub-01": "M", "sub-02": "F", "sub-03": None}


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    CALLS.clear()
    return make_study(tmp_path, PEOPLE)


# -- tests -----------------------------------------------------------------------------------


def test_run_study_writes_contract_tables(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    study, basis = tiny
    out = tmp_path / "out"
    before = tree_digest(study)
    result = run_study(study, out, basis=basis, config=CONFIG, steps=DOUBLES)
    assert result.exit_status == 0 and not result.errors
    assert result.contrast == ("naltrexone", "placebo")
    assert [r.computed for r in result.sessions] == [("fit", "dynamic")] * 6
    assert tree_digest(study) == before  # inputs never touched
    for name, (columns, _) in GROUP_TABLES.items():
        df = read_table(out / "group" / f"{name}.tsv")
        assert list(df.columns[: len(columns)]) == columns
        assert (out / "group" / f"{name}.json").is_file()
    tc = read_table(out / "group" / "timecourses.tsv")
    n_frames = N_TRANSIENTS // 4
    # Ins is fitted but not in [metabolites] analyse: left out of the group tables
    assert set(tc["metabolite"]) == set(METABOLITES) - {"Ins"}
    assert len(tc) == 6 * n_frames * 6
    # time relative to the "infusion" event (the second row of events.tsv), frame centres
    expected_t = np.arange(n_frames) * 4 * TR + 1.5 * TR - ONSET
    np.testing.assert_allclose(np.unique(tc["time_s"]), expected_t)
    # unknown sex travels as n/a, the participant stays in the tables
    assert tc.loc[tc["participant_id"] == "sub-03", "sex"].isna().all()
    assert set(tc.loc[tc["participant_id"] == "sub-01", "sex"]) == {"M"}
    resp = read_table(out / "group" / "responses.tsv")
    assert len(resp) == 6 * 6 and resp["percent_change"].gt(0).all()
    for pid in PEOPLE:
        paths = session_paths(out, pid, "ses-2")
        assert paths.preprocessed.is_file()
        for table in ("qc_transients", "fits", "qc", "timecourses", "responses"):
            assert paths.table(table).is_file()
        assert read_json(paths.done)["summary"]["n_rejected"] == 1
    assert "baseline: [None, 0.0]" in (out / "report.html").read_text()
    assert read_json(out / "dataset_description.json")["DatasetType"] == "derivative"
    assert not (out / "errors.tsv").exists()
    # one data grid in the study: the basis is resampled once
    assert CALLS["resample"] == 1 and CALLS["stats"] == 1 and CALLS["report"] == 1
    design = REPORTED["design"]
    assert design["conditions"] == ["naltrexone", "placebo"]
    assert design["n_points"] == N_POINTS and design["transients_per_frame"] == 4
    assert design["infusion_duration_s"] == 60.0
    assert design["baseline_window_s"] == [None, 0.0]
    assert set(REPORTED["sessions_qc"]["status"]) == {"ok"}


def test_resume_recomputes_only_what_changed(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    study, basis = tiny
    out = tmp_path / "out"
    run_study(study, out, basis=basis, config=CONFIG, steps=DOUBLES)
    tables = {n: read_table(out / "group" / f"{n}.tsv") for n in GROUP_TABLES}
    CALLS.clear()
    again = run_study(study, out, basis=basis, config=CONFIG, steps=DOUBLES)
    assert CALLS["preprocess"] == CALLS["fit"] == CALLS["dynamics"] == 0
    assert all(r.computed == () for r in again.sessions)
    for name, df in tables.items():
        pd.testing.assert_frame_equal(read_table(out / "group" / f"{name}.tsv"), df)

    # a new window re-derives the time courses from the stored fits, without refitting
    CALLS.clear()
    windowed = CONFIG.with_overrides({"windows.baseline": (-10.0, 0.0)})
    res = run_study(study, out, basis=basis, config=windowed, steps=DOUBLES)
    assert (CALLS["fit"], CALLS["dynamics"]) == (0, 6)
    assert all(r.computed == ("dynamic",) for r in res.sessions)

    # a preprocessing option refits everything
    CALLS.clear()
    run_study(
        study,
        out,
        basis=basis,
        config=CONFIG.with_overrides({"preprocess.block": 8}),
        steps=DOUBLES,
    )
    assert (CALLS["preprocess"], CALLS["fit"]) == (6, 6)

    # touching an input without changing it: nothing; changing one input: that session only
    svs = session_paths(study, "sub-02", "ses-1").folder / "mrs" / "sub-02_ses-1_svs.nii.gz"
    svs.touch()
    CALLS.clear()
    run_study(
        study,
        out,
        basis=basis,
        config=CONFIG.with_overrides({"preprocess.block": 8}),
        steps=DOUBLES,
    )
    assert CALLS["fit"] == 0
    data = MRSData(
        np.ones((N_TRANSIENTS, N_POINTS), complex),
        dwell_time=2.5e-4,
        spectrometer_frequency=123.2,
        dims=("dyn",),
        repetition_time=TR,
    )
    save_mrs(data, svs)
    CALLS.clear()
    res = run_study(
        study,
        out,
        basis=basis,
        config=CONFIG.with_overrides({"preprocess.block": 8}),
        steps=DOUBLES,
    )
    assert CALLS["fit"] == 1
    assert [r.session_id for r in res.sessions if r.computed] == ["ses-1"]

    # overwrite recomputes all
    CALLS.clear()
    run_study(study, out, basis=basis, config=CONFIG, steps=DOUBLES, overwrite=True)
    assert CALLS["fit"] == 6


def test_failing_session_is_reported_and_skipped(tmp_path: Path) -> None:
    CALLS.clear()
    study, basis = make_study(tmp_path, PEOPLE, corrupt=("sub-02", "ses-1"))
    out = tmp_path / "out"
    result = run_study(study, out, basis=basis, config=CONFIG, steps=DOUBLES)
    assert result.exit_status == 1
    qc = REPORTED["sessions_qc"].set_index(["participant_id", "session_id"])
    assert qc.loc[("sub-02", "ses-1"), "status"] == "failed"
    assert "not a readable NIfTI" in qc.loc[("sub-02", "ses-1"), "message"]
    assert (qc.drop(("sub-02", "ses-1"))["status"] == "ok").all()
    assert qc["n_transients"].dropna().eq(N_TRANSIENTS).all()
    errors = read_table(out / "errors.tsv")
    assert errors[["participant_id", "session_id", "step"]].values.tolist() == [
        ["sub-02", "ses-1", "load"]
    ]
    assert "sub-02_ses-1_svs.nii.gz" in errors["error"].iloc[0]
    tc = read_table(out / "group" / "timecourses.tsv")
    assert len(tc.groupby(["participant_id", "session_id"])) == 5
    assert (out / "report.html").is_file()
    # the failed session is retried on the next run, the others resume
    CALLS.clear()
    again = run_study(study, out, basis=basis, config=CONFIG, steps=DOUBLES)
    assert CALLS["fit"] == 0 and again.exit_status == 1


def test_failing_group_step_keeps_tables(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    study, basis = tiny
    steps = dataclasses.replace(DOUBLES, stats=fake_failing_stats)
    result = run_study(study, tmp_path / "out", basis=basis, config=CONFIG, steps=steps)
    assert result.exit_status == 1
    assert result.errors[0]["step"] == "stats"
    assert (tmp_path / "out" / "group" / "timecourses.tsv").is_file()
    assert result.report is not None  # the report is written without statistics


def test_two_jobs_give_the_same_tables(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    study, basis = tiny
    one = run_study(study, tmp_path / "one", basis=basis, config=CONFIG, steps=DOUBLES)
    two = run_study(study, tmp_path / "two", basis=basis, config=CONFIG, steps=DOUBLES, jobs=2)
    assert one.exit_status == two.exit_status == 0
    assert [(r.participant_id, r.session_id) for r in two.sessions] == [
        (r.participant_id, r.session_id) for r in one.sessions
    ]
    for name in GROUP_TABLES:
        pd.testing.assert_frame_equal(
            read_table(tmp_path / "one" / "group" / f"{name}.tsv"),
            read_table(tmp_path / "two" / "group" / f"{name}.tsv"),
        )


def test_dask_local_cluster_gives_the_same_tables(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    # spawned Dask workers import the doubles from this test module
    import os

    here, root = Path(__file__).parent, Path(__file__).parents[1]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(here), str(root)]))
    study, basis = tiny
    one = run_study(study, tmp_path / "one", basis=basis, config=CONFIG, steps=DOUBLES)
    dask = run_study(
        study,
        tmp_path / "dask",
        basis=basis,
        config=CONFIG,
        steps=DOUBLES,
        jobs=2,
        scheduler="local",
    )
    assert dask.exit_status == 0
    assert one.exit_status == 0
    for name in GROUP_TABLES:
        pd.testing.assert_frame_equal(
            read_table(tmp_path / "one" / "group" / f"{name}.tsv"),
            read_table(tmp_path / "dask" / "group" / f"{name}.tsv"),
        )


def test_missing_dask_is_a_clear_error(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    study, basis = tiny
    with pytest.raises(MissingExtraError, match=r"mrspipe\[distributed\]"):
        run_study(
            study, tmp_path / "out", basis=basis, config=CONFIG, steps=DOUBLES, scheduler="local"
        )


def test_input_errors_before_any_work(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    study, basis = tiny
    with pytest.raises(StudyLayoutError, match="no such study"):
        run_study(tmp_path / "nope", tmp_path / "o1", basis=basis, steps=DOUBLES)
    with pytest.raises(ConfigError, match="no such basis"):
        run_study(study, tmp_path / "o2", basis=tmp_path / "nope", steps=DOUBLES)
    with pytest.raises(ConfigError, match="outside the contrast"):
        run_study(
            study,
            tmp_path / "o3",
            basis=basis,
            steps=DOUBLES,
            config=config_from_dict({"conditions": {"contrast": ["naltrexone", "saline"]}}),
        )
    with pytest.raises(ConfigError, match="not in the basis"):
        run_study(
            study,
            tmp_path / "o4",
            basis=basis,
            steps=DOUBLES,
            config=config_from_dict({"fit": {"metabolites": ["Glu", "GABA"]}}),
        )
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.docx").write_text("precious")
    with pytest.raises(FileExistsError, match="not an mrspipe output"):
        run_study(study, other, basis=basis, steps=DOUBLES)
    with pytest.raises(ConfigError, match="must not be the study"):
        run_study(study, study, basis=basis, steps=DOUBLES)
    assert CALLS["preprocess"] == 0
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))


def test_resolve_contrast() -> None:
    def s(cond: str | None) -> FakeSession:
        return FakeSession("sub-01", "ses-1", cond, "M", Path("x"), None, None)

    assert resolve_contrast(None, [s("placebo"), s("naltrexone")]) == ("naltrexone", "placebo")
    assert resolve_contrast(None, [s("b"), s("a")]) == ("a", "b")
    assert resolve_contrast(("placebo", "naltrexone"), [s("placebo")]) == ("placebo", "naltrexone")
    with pytest.raises(ConfigError, match="--conditions"):
        resolve_contrast(None, [s("a"), s("b"), s("c")])
    with pytest.raises(StudyLayoutError, match="without a condition"):
        resolve_contrast(None, [s(None), s("a")])


def test_default_windows_are_open_ended() -> None:
    cfg = defaults()
    assert cfg.windows.baseline == (None, 0.0) and cfg.windows.response == (0.0, None)
    from mrspipe.pipeline import describe_window

    assert describe_window((-math.inf, 0.0), "baseline") == "every frame before the onset"
    assert describe_window((60.0, 600.0), "response") == "60 s to 600 s relative to the onset"


def fake_preprocess_dying(
    data: MRSData, *, water: Any, options: Any, ecc_reference: Any = None
) -> Any:
    """Test double: the worker process dies (as if killed for memory) on sub-02 ses-1."""
    if "sub-02_ses-1" in str(data.source):
        import os

        os._exit(1)
    return fake_preprocess(data, water=water, options=options)


def test_a_dying_worker_fails_only_its_session(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    study, basis = tiny
    steps = dataclasses.replace(DOUBLES, preprocess=fake_preprocess_dying)
    result = run_study(study, tmp_path / "out", basis=basis, config=CONFIG, steps=steps, jobs=2)
    assert result.exit_status == 1
    assert [(e["participant_id"], e["session_id"], e["step"]) for e in result.errors] == [
        ("sub-02", "ses-1", "worker")
    ]
    assert sum(r.ok for r in result.sessions) == 5
    tc = read_table(tmp_path / "out" / "group" / "timecourses.tsv")
    assert len(tc.groupby(["participant_id", "session_id"])) == 5


def test_a_moved_study_resumes(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    study, basis = tiny
    out = tmp_path / "out"
    run_study(study, out, basis=basis, config=CONFIG, steps=DOUBLES)
    moved = shutil.copytree(study, tmp_path / "moved")  # new paths and mtimes, same contents
    CALLS.clear()
    result = run_study(moved, out, basis=basis, config=CONFIG, steps=DOUBLES)
    assert CALLS["fit"] == 0 and result.exit_status == 0


def fake_fit_figure(frames: MRSData, fit: Any, *, path: Path, title: str) -> Path:
    """Test double of a fit-figure writer: a placeholder file instead of a PNG."""
    return atomic_write_text(path, title)


def test_fit_figures_reach_the_report(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    study, basis = tiny
    steps = dataclasses.replace(DOUBLES, fit_figure=fake_fit_figure)
    result = run_study(study, tmp_path / "out", basis=basis, config=CONFIG, steps=steps)
    figures = REPORTED["fit_figures"]
    assert len(figures) == len(result.sessions) > 4  # every session reachable in the report
    caption, path = figures[0]
    assert caption.startswith("sub-01 ses-1") and path.read_text().startswith("sub-01_ses-1")
    run_study(study, tmp_path / "out", basis=basis, config=CONFIG, steps=steps)  # resumed
    assert len(REPORTED["fit_figures"]) == len(result.sessions)
