"""Crossover group statistics on simulated tidy tables with known truth."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mrspipe.dynamic import RESPONSE_COLUMNS, TIMECOURSE_COLUMNS
from mrspipe.errors import ConfigError, MissingExtraError
from mrspipe.stats import (
    STATS_COLUMNS,
    crossover_stats,
    interaction_rows,
    paired_rows,
    period_rows,
    symptom_changes,
)

CONDS = ("naltrexone", "placebo")


def simulate_responses(
    rng, *, n=20, placebo=8.0, nal_f=8.0, nal_m=2.0, sd_subject=3.0, sd_noise=2.5, period=0.0
) -> pd.DataFrame:
    """Glu % change per session: participant effect, sex-specific naltrexone attenuation.

    Even participants are male; sequences naltrexone-first / placebo-first alternate in pairs
    so both sexes have both sequences. ``period`` is added to every second-session response.
    """
    rows = []
    for i in range(n):
        sex = "M" if i % 2 == 0 else "F"
        u = rng.normal(0, sd_subject)
        nal_first = i % 4 < 2
        for cond in CONDS:
            mean = placebo if cond == "placebo" else (nal_m if sex == "M" else nal_f)
            per = 1 if (cond == "naltrexone") == nal_first else 2
            y = mean + u + period * (per == 2) + rng.normal(0, sd_noise)
            rows.append(
                (f"sub-{i:02d}", f"ses-{per}", cond, sex, "Glu", 10.0, 10 * (1 + y / 100), y)
            )
    return pd.DataFrame(rows, columns=list(RESPONSE_COLUMNS))


def _get(stats, analysis, term, subgroup="all", metabolite="Glu"):
    sel = stats[
        (stats["analysis"] == analysis) & (stats["term"] == term)
        & (stats["subgroup"] == subgroup) & (stats["metabolite"] == metabolite)
    ]  # fmt: skip
    assert len(sel) == 1, (analysis, term, subgroup, len(sel))
    return sel.iloc[0]


def _covers(r, truth):
    return r["ci_low"] <= truth <= r["ci_high"]


# Single simulated data sets are checked against the truth with 99.9 % intervals (ALPHA), i.e.
# within ~3.3 standard errors; calibration of the 95 % intervals is checked over repetitions.
ALPHA = 0.001


def test_paired_contrast_recovers_sex_specific_attenuation(rng):
    resp = simulate_responses(rng)
    st = pd.DataFrame(paired_rows(resp, "Glu", CONDS, ALPHA))
    truth = {"all": -3.0, "M": -6.0, "F": 0.0}
    for group, true in truth.items():
        r = _get(st, "paired", "naltrexone-placebo", group)
        assert _covers(r, true), (group, r.to_dict())
    male = _get(st, "paired", "naltrexone-placebo", "M")
    female = _get(st, "paired", "naltrexone-placebo", "F")
    assert male["n"] == 10 and female["n"] == 10 and _get(st, "paired", "dz")["n"] == 20
    # against scipy's paired t-test
    wide = resp.pivot(index="participant_id", columns="condition", values="percent_change")
    ref = sps.ttest_rel(wide["naltrexone"], wide["placebo"])
    r = _get(st, "paired", "naltrexone-placebo")
    assert r["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    d = wide["naltrexone"] - wide["placebo"]
    assert _get(st, "paired", "dz")["estimate"] == pytest.approx(d.mean() / d.std(ddof=1))


def test_attenuation_significant_in_males_not_females(rng):
    # 10 M + 10 F, male attenuation 6 %-points (d_z ~ 1.7), none in females; 60 studies
    n_rep, male_hits, female_hits = 60, 0, 0
    for _ in range(n_rep):
        st = pd.DataFrame(
            paired_rows(simulate_responses(rng), "Glu", CONDS, 0.05, effect_size=False)
        )
        male_hits += _get(st, "paired", "naltrexone-placebo", "M")["p_value"] < 0.05
        female_hits += _get(st, "paired", "naltrexone-placebo", "F")["p_value"] < 0.05
    assert male_hits / n_rep >= 0.9, male_hits  # power ~1 at this effect size
    assert female_hits / n_rep <= 0.15, female_hits  # nominal 5 %


def test_null_false_positive_rate_and_dz_interval(rng):
    hits, coverage = 0, 0
    n_rep = 200
    for _ in range(n_rep):
        resp = simulate_responses(rng, nal_m=8.0, nal_f=8.0)  # same response in both conditions
        st = pd.DataFrame(paired_rows(resp, "Glu", CONDS, 0.05, effect_size=False))
        r = _get(st, "paired", "naltrexone-placebo")
        hits += r["p_value"] < 0.05
        coverage += _covers(r, 0.0)
    assert 0.02 <= hits / n_rep <= 0.09, hits / n_rep
    assert coverage == n_rep - hits
    # the d_z interval inverts the same t-test: it excludes 0 exactly when p < alpha
    for _ in range(30):
        resp = simulate_responses(rng, nal_m=6.0, nal_f=7.0)
        st = pd.DataFrame(paired_rows(resp, "Glu", CONDS, 0.05))
        r, dz = _get(st, "paired", "naltrexone-placebo"), _get(st, "paired", "dz")
        assert (dz["ci_low"] > 0 or dz["ci_high"] < 0) == (r["p_value"] < 0.05)
        assert dz["ci_low"] < dz["estimate"] < dz["ci_high"]


def test_dz_interval_large_sample(rng):
    d = rng.normal(1.0, 2.0, size=400)  # true d_z = 0.5
    rows = [(f"s{i}", "ses-1", CONDS[0], "F", "Glu", 1.0, 1.0, x) for i, x in enumerate(d)]
    rows += [(f"s{i}", "ses-2", CONDS[1], "F", "Glu", 1.0, 1.0, 0.0) for i in range(d.size)]
    resp = pd.DataFrame(rows, columns=list(RESPONSE_COLUMNS))
    dz = _get(pd.DataFrame(paired_rows(resp, "Glu", CONDS, 0.05)), "paired", "dz")
    assert abs(dz["estimate"] - 0.5) < 0.12 and _covers(dz, 0.5)
    # large-n width ~ 2 * 1.96 * sqrt(1/n + dz^2/(2n))
    approx = 2 * 1.96 * np.sqrt(1 / 400 + dz["estimate"] ** 2 / 800)
    assert dz["ci_high"] - dz["ci_low"] == pytest.approx(approx, rel=0.05)


def test_interaction_welch_and_unknown_sex(rng):
    resp = simulate_responses(rng)
    unknown = ["sub-00", "sub-01"]
    resp.loc[resp["participant_id"].isin(unknown), "sex"] = np.nan
    st = pd.DataFrame(
        paired_rows(resp, "Glu", CONDS, ALPHA) + interaction_rows(resp, "Glu", CONDS, ALPHA)
    )
    assert _get(st, "paired", "naltrexone-placebo", "all")["n"] == 20
    assert _get(st, "paired", "naltrexone-placebo", "M")["n"] == 9
    assert _get(st, "paired", "naltrexone-placebo", "F")["n"] == 9
    inter = _get(st, "interaction", "condition:sex")
    assert inter["n"] == 18 and _covers(inter, -6.0)
    wide = resp.pivot(index="participant_id", columns="condition", values="percent_change")
    sex = resp.groupby("participant_id")["sex"].first()
    d = wide["naltrexone"] - wide["placebo"]
    ref = sps.ttest_ind(d[sex == "M"], d[sex == "F"], equal_var=False)
    assert inter["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert inter["estimate"] == pytest.approx(d[sex == "M"].mean() - d[sex == "F"].mean())


def test_period_effect_recovered(rng):
    resp = simulate_responses(rng, n=24, period=4.0)
    st = pd.DataFrame(period_rows(resp, "Glu", CONDS, ALPHA))
    per = _get(st, "crossover", "period")
    assert _covers(per, 4.0) and per["n"] == 24
    treat = _get(st, "crossover", "naltrexone-placebo")
    assert _covers(treat, -3.0)
    assert _covers(_get(st, "crossover", "carryover"), 0.0)  # no carry-over simulated
    # order from a 'period' column instead of session ids
    alt = resp.assign(period=resp["session_id"].str[-1].astype(int), session_id="ses-x")
    per2 = _get(pd.DataFrame(period_rows(alt, "Glu", CONDS, ALPHA)), "crossover", "period")
    assert per2["estimate"] == pytest.approx(per["estimate"])
    # order unknown -> no rows
    assert period_rows(resp.assign(session_id=resp["condition"]), "Glu", CONDS, 0.05) == []


def test_crossover_stats_table_and_mixedlm_interaction(rng):
    resp = simulate_responses(rng, n=24)
    st = crossover_stats(resp, conditions=CONDS, alpha=ALPHA)
    assert tuple(st.columns[:9]) == STATS_COLUMNS
    cs = _get(st, "mixedlm", "condition:sex")
    assert _covers(cs, -6.0) and cs["converged"]
    cond = _get(st, "mixedlm", "condition")
    assert _covers(cond, -3.0) and cond["n"] == 24
    # the balanced mixed model's condition:sex equals the difference of paired differences
    assert cs["estimate"] == pytest.approx(_get(st, "interaction", "condition:sex")["estimate"])
    assert {"condition_mean", "paired", "interaction", "crossover", "mixedlm"} <= set(
        st["analysis"]
    )
    plc = _get(st, "condition_mean", "placebo")
    assert _covers(plc, 8.0) and plc["p_value"] < 1e-4
    with pytest.raises(ConfigError, match="not in the data"):
        crossover_stats(resp, conditions=("naloxone", "placebo"))
    with pytest.raises(ConfigError, match="lacks columns"):
        crossover_stats(resp.drop(columns="sex"), conditions=CONDS)


def test_mixedlm_boundary_fit_does_not_warn(rng):
    # no participant variance: the REML optimum is on the boundary (statsmodels warns)
    resp = simulate_responses(rng, n=8, sd_subject=0.0)
    st = crossover_stats(resp, conditions=CONDS)
    rows = st[st["analysis"] == "mixedlm"]
    assert len(rows) == 3 and rows["converged"].map(lambda v: isinstance(v, bool)).all()


def test_missing_statsmodels_names_the_extra(rng, monkeypatch):
    resp = simulate_responses(rng, n=8)
    monkeypatch.setitem(sys.modules, "statsmodels.api", None)
    with pytest.raises(MissingExtraError, match=r'pip install "mrspipe\[stats\]"'):
        crossover_stats(resp, conditions=CONDS)
    st = crossover_stats(resp, conditions=CONDS, mixedlm=False)
    assert "mixedlm" not in set(st["analysis"]) and "paired" in set(st["analysis"])


def simulate_timecourses(
    rng, *, n=12, rise_plc=8.0, rise_m=2.0, rise_f=8.0, noise=2.0, sd_part=1.5, sd_sess=2.5
):
    """Glu time courses: step rise at the onset, random rise per participant and per session."""
    times = np.array([-400.0, -300.0, -200.0, -100.0, 100.0, 200.0, 300.0, 400.0, 500.0])
    rows = []
    for i in range(n):
        sex = "M" if i % 2 == 0 else "F"
        part = rng.normal(0, sd_part)
        for s, cond in enumerate(CONDS, 1):
            rise = rise_plc if cond == "placebo" else (rise_m if sex == "M" else rise_f)
            rise = rise + part + rng.normal(0, sd_sess)
            base = 10.0 * (1 + rng.normal(0, 0.05))
            pct = np.where(times > 0, rise, 0.0) + rng.normal(0, noise, times.size)
            est = base * (1 + pct / 100)
            rows += [(f"sub-{i:02d}", f"ses-{s}", cond, sex, f, t, "Glu", e, 0.2)
                     for f, (t, e) in enumerate(zip(times, est, strict=True))]  # fmt: skip
    return pd.DataFrame(rows, columns=list(TIMECOURSE_COLUMNS))


def test_mixedlm_timecourse_condition_time(rng):
    from mrspipe.dynamic import window_responses

    tc = simulate_timecourses(rng)
    resp = window_responses(tc)
    st = crossover_stats(resp, conditions=CONDS, timecourses=tc, alpha=ALPHA)
    ct = _get(st, "mixedlm_timecourse", "condition:time")
    assert _covers(ct, -3.0)  # mean attenuation of the rise
    assert _covers(_get(st, "mixedlm_timecourse", "condition:time:sex"), -6.0)
    assert _covers(_get(st, "mixedlm_timecourse", "time"), 6.5)
    for group, truth in (("M", -6.0), ("F", 0.0)):
        model = _get(st, "mixedlm_timecourse", "condition:time", group)
        assert _covers(model, truth)
        # sessions, not frames, are the evidence: within one sex the model's interval is the
        # paired t-test's on the windowed responses (tests/test_stats_mixed.py checks exactly)
        paired = _get(st, "paired", "naltrexone-placebo", group)
        ratio = (model["ci_high"] - model["ci_low"]) / (paired["ci_high"] - paired["ci_low"])
        assert abs(ratio - 1) < 1e-6, ratio


def test_clinical_scores(rng):
    resp = simulate_responses(rng, n=20)
    glu = resp.set_index(["participant_id", "condition"])["percent_change"]
    ph = []
    for (pid, cond), x in glu.items():
        base = rng.uniform(25, 35)
        red = 40.0 + 3.0 * (x - 8.0) + rng.normal(0, 9.0)  # symptom reduction tracks glutamate
        sid = resp.loc[(resp["participant_id"] == pid) & (resp["condition"] == cond), "session_id"]
        ph += [
            (pid, sid.iloc[0], "baseline", base),
            (pid, sid.iloc[0], "24h", base * (1 - red / 100)),
        ]
    phen = pd.DataFrame(ph, columns=["participant_id", "session_id", "timepoint", "score"])
    st = crossover_stats(resp, conditions=CONDS, phenotype=phen, mixedlm=False, score_name="MADRS")
    ch = symptom_changes(phen, resp)
    for cond in CONDS:
        r = _get(st, "clinical_response", f"{cond}@24h", metabolite="MADRS")
        sel = ch[ch["condition"] == cond]
        assert r["estimate"] == pytest.approx((sel["reduction_percent"] >= 50).mean())
        assert r["n"] == 20 and r["ci_low"] < r["estimate"] < r["ci_high"]
    wide = ch.pivot(index="participant_id", columns="condition", values="responder")
    n10 = int((wide["naltrexone"] & ~wide["placebo"]).sum())
    n01 = int((~wide["naltrexone"] & wide["placebo"]).sum())
    mc = _get(st, "clinical_response", "naltrexone-placebo@24h", metabolite="MADRS")
    assert mc["estimate"] == pytest.approx((n10 - n01) / 20)
    assert mc["p_value"] == pytest.approx(sps.binomtest(n10, n10 + n01).pvalue if n10 + n01 else 1)
    ct = _get(st, "clinical", "condition:time@24h", metabolite="MADRS")
    chw = ch.pivot(index="participant_id", columns="condition", values="change")
    assert ct["estimate"] == pytest.approx((chw["naltrexone"] - chw["placebo"]).mean())
    # true r between glutamate response and reduction within a condition: 3*3/sqrt(9*9+9*9)
    true_r = 9.0 / np.sqrt(81.0 + 81.0)
    for cond in CONDS:
        pr = _get(st, "correlation", f"pearson:{cond}@24h")
        assert _covers(pr, true_r) and pr["estimate"] > 0.3 and pr["n"] == 20
        sr = _get(st, "correlation", f"spearman:{cond}@24h")
        assert _covers(sr, true_r) and sr["ci_low"] < sr["estimate"] < sr["ci_high"]
    diff = _get(st, "correlation", "pearson:naltrexone-placebo@24h")
    assert diff["estimate"] > 0
    with pytest.raises(ConfigError, match="timepoint"):
        crossover_stats(
            resp, conditions=CONDS, phenotype=phen.assign(timepoint="day1"), mixedlm=False
        )


def test_pipeline_path_with_unknown_sex(rng):
    """session_timecourses -> window_responses -> crossover_stats with one participant of
    unknown sex: kept in 'all', out of the sex split and the models with sex."""
    from mrspipe.dynamic import session_timecourses, window_responses

    tc = simulate_timecourses(rng, n=10)
    parts = []
    for (pid, sid, cond, sex), grp in tc.groupby(
        ["participant_id", "session_id", "condition", "sex"]
    ):
        frames = grp[["frame", "time_s", "metabolite", "estimate", "crlb_sd"]].assign(
            time_s=lambda d: d["time_s"] + 600.0
        )
        sex = "n/a" if pid == "sub-00" else sex
        info = {"participant_id": pid, "session_id": sid, "condition": cond, "sex": sex}
        events = pd.DataFrame({"onset": [600.0], "duration": [2400.0], "trial_type": ["infusion"]})
        parts.append(session_timecourses(frames, info, events=events))
    tcs = pd.concat(parts, ignore_index=True)
    np.testing.assert_allclose(np.sort(tcs["time_s"].unique()), np.sort(tc["time_s"].unique()))
    resp = window_responses(tcs)
    assert resp["sex"].isna().sum() == 2  # sub-00, both sessions
    st = crossover_stats(resp, conditions=CONDS, timecourses=tcs, alpha=ALPHA)
    assert _get(st, "paired", "naltrexone-placebo")["n"] == 10
    assert _get(st, "paired", "naltrexone-placebo", "M")["n"] == 4
    assert _get(st, "paired", "naltrexone-placebo", "F")["n"] == 5
    assert _get(st, "mixedlm", "condition:sex")["n"] == 9
    assert _get(st, "mixedlm_timecourse", "condition:time:sex")["n"] == 9
    p = st["p_value"].dropna()
    assert len(p) > 20 and p.between(0, 1).all()


def test_glm_contrast_rows_are_the_paired_test_of_the_glm_response():
    """glm_paired on GLM percents equals scipy's paired t on the same per-session numbers."""
    import scipy.stats

    from mrspipe.stats import crossover_stats

    rng = np.random.default_rng(5)
    n = 12
    pids = [f"sub-{i:02d}" for i in range(n)]
    sex = ["M" if i % 2 else "F" for i in range(n)]
    nal = rng.normal(2.0, 2.0, n)
    pla = rng.normal(8.0, 2.0, n)
    glm = pd.DataFrame(
        {
            "participant_id": pids * 2,
            "session_id": ["ses-1"] * n + ["ses-2"] * n,
            "condition": ["naltrexone"] * n + ["placebo"] * n,
            "sex": sex * 2,
            "metabolite": "Glu",
            "term": "ramp",
            "percent": np.r_[nal, pla],
        }
    )
    responses = glm.assign(baseline=1.0, response=1.0, percent_change=glm["percent"])
    stats = crossover_stats(
        responses,
        conditions=("naltrexone", "placebo"),
        mixedlm=False,
        glm=pd.concat([glm, glm.assign(term="intercept")]),
    )
    row = stats[(stats["analysis"] == "glm_paired") & (stats["subgroup"] == "all")].iloc[0]
    ref = scipy.stats.ttest_rel(nal, pla)
    assert row["estimate"] == pytest.approx(np.mean(nal - pla), rel=1e-12)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert row["term"] == "naltrexone-placebo" and row["n"] == n
    assert len(stats[stats["analysis"] == "glm_interaction"]) == 1
