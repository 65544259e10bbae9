"""The numbers behind the report figures, against closed forms and plain groupby means.

``make_study`` (also used by the other report tests) builds a small crossover study with known
truth: participant i in condition c has ``estimate = base * (1 + amp[i, c] * ramp(t))`` where
``ramp`` is 0 before the onset and rises linearly to 1 at 600 s, plus optional noise.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from mrspipe.report import summaries as S

CONDITIONS = ("naltrexone", "placebo")
METABOLITES = {"Glx": 12.0, "Glu": 9.0, "tNAA": 11.0}
TIMES = np.arange(-5, 15) * 60.0  # 20 frames, 5 before the onset
BASELINE = (-300.0, 0.0)


def ramp(t: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(t, dtype=float) / 600.0, 0.0, 1.0)


def make_study(
    *,
    n_participants: int = 6,
    noise: float = 0.0,
    missing_sex: tuple[int, ...] = (),
    failed: tuple[tuple[int, int], ...] = (),
    rng: np.random.Generator | None = None,
) -> dict:
    """Tables of a synthetic crossover study and the true amplitudes ``amp[i, c]``."""
    rng = np.random.default_rng(0) if rng is None else rng
    amp = np.column_stack(
        [rng.uniform(0.0, 0.04, n_participants), rng.uniform(0.04, 0.08, n_participants)]
    )
    tc, resp, qc = [], [], []
    for i in range(n_participants):
        pid = f"sub-{i + 1:02d}"
        sex = None if i in missing_sex else ("F" if i % 2 == 0 else "M")
        for c, cond in enumerate(CONDITIONS):
            sid = f"ses-{c + 1}"
            for met, base in METABOLITES.items():
                est = base * (1 + amp[i, c] * ramp(TIMES))
                est = est + noise * base * rng.standard_normal(TIMES.size)
                tc.append(
                    pd.DataFrame(
                        {
                            "participant_id": pid,
                            "session_id": sid,
                            "condition": cond,
                            "sex": sex,
                            "frame": np.arange(TIMES.size),
                            "time_s": TIMES,
                            "metabolite": met,
                            "estimate": est,
                            "crlb_sd": 0.05 * base,
                        }
                    )
                )
                b, r = est[TIMES < 0].mean(), est[TIMES >= 300].mean()
                resp.append((pid, sid, cond, sex, met, b, r, 100 * (r / b - 1)))
            bad = (i, c) in failed
            qc.append(
                (
                    pid,
                    sid,
                    cond,
                    sex,
                    400,
                    4 * (i + 1),
                    30.0 + i,
                    6.0 + 0.1 * i,
                    1.5 + c,
                    "failed" if bad else "ok",
                    f"water reference missing in {pid}" if bad else "",
                )
            )
    responses = pd.DataFrame(
        resp,
        columns=[
            "participant_id",
            "session_id",
            "condition",
            "sex",
            "metabolite",
            "baseline",
            "response",
            "percent_change",
        ],
    )
    sessions_qc = pd.DataFrame(
        qc,
        columns=[
            "participant_id",
            "session_id",
            "condition",
            "sex",
            "n_transients",
            "n_rejected",
            "snr_median",
            "fwhm_hz_median",
            "shift_hz_range",
            "status",
            "message",
        ],
    )
    stats = pd.DataFrame(
        [
            ("Glx", "paired", "naltrexone-placebo", "all", -3.21, -4.5, -1.9, 0.0004, 6),
            ("Glx", "paired", "naltrexone-placebo", "F", -2.5, -4.0, -1.0, 0.021, 3),
            ("Glx", "paired", "naltrexone-placebo", "M", -3.9, -6.1, -1.7, 0.048, 3),
            ("Glx", "paired", "condition:sex", "all", 1.4, -1.2, 4.0, 0.31, 6),
            ("Glx", "mixedlm", "condition:time", "all", -0.012, -0.02, -0.004, 0.029, 6),
            ("Glu", "paired", "naltrexone-placebo", "all", -2.0, np.nan, np.nan, np.nan, 6),
        ],
        columns=[
            "metabolite",
            "analysis",
            "term",
            "subgroup",
            "estimate",
            "ci_low",
            "ci_high",
            "p_value",
            "n",
        ],
    )
    return {
        "timecourses": pd.concat(tc, ignore_index=True),
        "responses": responses,
        "stats": stats,
        "sessions_qc": sessions_qc,
        "amp": amp,
    }


def test_mean_and_sem_match_closed_form():
    study = make_study()
    amp = study["amp"]
    summary = S.timecourse_summary(study["timecourses"], baseline_window=BASELINE)
    for c, cond in enumerate(CONDITIONS):
        for panel, rows in (
            ("all", slice(None)),
            ("F", slice(0, None, 2)),
            ("M", slice(1, None, 2)),
        ):
            d = summary[
                (summary["panel"] == panel)
                & (summary["condition"] == cond)
                & (summary["metabolite"] == "Glx")
            ]
            a = amp[rows, c]
            np.testing.assert_allclose(d["time_s"], TIMES)
            np.testing.assert_allclose(d["mean"], 100 * a.mean() * ramp(TIMES), atol=1e-9)
            sem = 100 * a.std(ddof=1) / np.sqrt(a.size) * ramp(TIMES)
            np.testing.assert_allclose(d["sem"], sem, atol=1e-9)
            assert (d["n"] == a.size).all()


def test_summary_equals_plain_groupby_mean(rng):
    tc = make_study(noise=0.02, rng=rng)["timecourses"]
    summary = S.timecourse_summary(tc, baseline_window=BASELINE)
    # independent computation: baseline mean per session, % change, mean across participants
    keys = ["participant_id", "session_id", "metabolite"]
    base = tc[(tc["time_s"] >= -300) & (tc["time_s"] < 0)].groupby(keys)["estimate"].mean()
    pct = 100 * (tc["estimate"] / base.reindex(pd.MultiIndex.from_frame(tc[keys])).to_numpy() - 1)
    tc = tc.assign(pct=pct.to_numpy())
    for panel, sub in (("all", tc), ("F", tc[tc["sex"] == "F"]), ("M", tc[tc["sex"] == "M"])):
        expect = sub.groupby(["condition", "metabolite", "time_s"])["pct"].agg(["mean", "sem"])
        got = summary[summary["panel"] == panel].set_index(["condition", "metabolite", "time_s"])
        got = got.loc[expect.index]
        np.testing.assert_allclose(got["mean"], expect["mean"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got["sem"], expect["sem"], rtol=1e-12, atol=1e-12)


def test_missing_sex_is_kept_in_all_panel_only():
    tc = make_study(missing_sex=(0,))["timecourses"]
    summary = S.timecourse_summary(tc, baseline_window=BASELINE, metabolites=["Glx"])
    assert set(summary["panel"]) == {"all", "F", "M"}
    n = summary.groupby("panel")["n"].max()
    assert n["all"] == 6 and n["F"] == 2 and n["M"] == 3


def test_session_without_baseline_is_dropped_and_logged(caplog):
    tc = make_study()["timecourses"]
    late = (tc["participant_id"] == "sub-01") & (tc["session_id"] == "ses-1")
    tc = tc[~late | (tc["time_s"] >= 0)]  # sub-01 ses-1 lost its baseline frames
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        summary = S.timecourse_summary(tc, baseline_window=BASELINE, metabolites=["Glx"])
    assert "no usable baseline" in caplog.text
    d = summary[(summary["panel"] == "all") & (summary["condition"] == "naltrexone")]
    assert d["n"].max() == 5 and np.isfinite(d["mean"]).all()


def test_jittered_frame_times_share_a_bin():
    tc = make_study()["timecourses"]
    jitter = np.where(tc["participant_id"] == "sub-02", 4.0, 0.0)  # 4 s late vs 60 s frames
    summary = S.timecourse_summary(
        tc.assign(time_s=tc["time_s"] + jitter), baseline_window=BASELINE
    )
    assert summary["time_s"].nunique() == TIMES.size
    assert (summary[summary["panel"] == "all"]["n"] == 6).all()


def test_paired_responses_wide_matches_input():
    study = make_study()
    resp = study["responses"]
    resp = resp[~((resp["participant_id"] == "sub-03") & (resp["condition"] == "placebo"))]
    wide = S.paired_responses(resp, conditions=CONDITIONS, metabolite="Glx")
    assert list(wide.columns) == ["participant_id", "sex", *CONDITIONS]
    glx = resp[resp["metabolite"] == "Glx"].set_index(["participant_id", "condition"])
    for row in wide.itertuples(index=False):
        for cond in CONDITIONS:
            value = getattr(row, cond)
            if row.participant_id == "sub-03" and cond == "placebo":
                assert math.isnan(value)
            else:
                assert value == pytest.approx(glx.loc[(row.participant_id, cond), "percent_change"])


def test_forest_rows_keep_only_rows_with_a_ci():
    stats = make_study()["stats"]
    rows = S.forest_rows(stats, analyses=None)
    assert len(rows) == 5 and "Glu" not in set(rows["metabolite"])
    assert rows["label"].iloc[0] == "Glx · paired · naltrexone-placebo · all"
    # by default only the contrasts in percentage points: paired (not d_z) and interaction
    focused = S.forest_rows(stats)
    assert set(focused["analysis"]) == {"paired"} and len(focused) == 4
    dz = stats.iloc[:1].assign(term="dz")
    assert S.forest_rows(dz).empty
    assert S.forest_rows(stats.iloc[:0]).empty
    assert S.forest_rows(None).empty


def test_qc_overview_counts_ok_sessions_only():
    qc = make_study(failed=((1, 0),))["sessions_qc"]
    o = S.qc_overview(qc)
    ok = qc[qc["status"] == "ok"]
    assert (o["n_sessions"], o["n_failed"], o["n_ok"]) == (12, 1, 11)
    assert o["n_rejected"] == ok["n_rejected"].sum()
    assert o["rejected_percent"] == pytest.approx(100 * ok["n_rejected"].sum() / (11 * 400))
    assert o["snr_median"] == pytest.approx(np.median(ok["snr_median"]))
    assert o["fwhm_hz_range"] == pytest.approx((ok["fwhm_hz_median"].min(), 6.5))


def test_defaults_for_conditions_metabolites_and_windows():
    study = make_study()
    assert S.study_conditions(study["responses"]) == ["naltrexone", "placebo"]
    assert S.study_conditions(None, {"conditions": ["b", "a"]}) == ["b", "a"]
    assert S.study_metabolites(study["timecourses"]) == ["Glx", "Glu", "tNAA"]
    assert S.study_metabolites(None, design={"metabolites": ["tCr"]}) == ["tCr"]
    assert S.resolve_window(None, (-math.inf, 0.0)) == (-math.inf, 0.0)
    assert S.resolve_window((None, 60), (0, 0)) == (-math.inf, 60.0)
