"""Crossover group statistics on simulated tidy tables with known truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mrspipe.dynamic import RESPONSE_COLUMNS, TIMECOURSE_COLUMNS
from mrspipe.errors import ConfigError
from mrspipe.stats import (
    STATS_COLUMNS,
    StatsOptions,
    crossover_stats,
    effect_size_rows,
    interaction_rows,
    period_rows,
    session_periods,
    symptom_changes,
    treatment_rows,
)
from mrspipe.stats._common import wide_by_condition

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
        (stats["analysis"] == analysis)
        & (stats["term"] == term)
        & (stats["subgroup"] == subgroup)
        & (stats["metabolite"] == metabolite)
    ]
    assert len(sel) == 1, (analysis, term, subgroup, len(sel))
    return sel.iloc[0]


def _covers(r, truth):
    return r["ci_low"] <= truth <= r["ci_high"]


# Single simulated data sets are checked against the truth with 99.9 % intervals (ALPHA), i.e.
# within ~3.3 standard errors; calibration of the 95 % intervals is checked over repetitions.
ALPHA = 0.001
OPTS = StatsOptions(ci_level=1 - ALPHA, permutations=2000)


def _wide(resp):
    return wide_by_condition(resp[resp["metabolite"] == "Glu"], CONDS)


def _rows(resp, opts=OPTS, **kw):
    w = _wide(resp)
    return pd.DataFrame(
        treatment_rows(w, "Glu", "naltrexone-placebo", opts, **kw)
        + effect_size_rows(w, "Glu", opts)
    )


def test_paired_contrast_recovers_sex_specific_attenuation(rng):
    resp = simulate_responses(rng)
    st = _rows(resp)
    truth = {"all": -3.0, "M": -6.0, "F": 0.0}
    for group, true in truth.items():
        r = _get(st, "paired", "naltrexone-placebo", group)
        assert _covers(r, true), (group, r.to_dict())
        assert "period-adjusted" in r["test"]
    male = _get(st, "paired", "naltrexone-placebo", "M")
    female = _get(st, "paired", "naltrexone-placebo", "F")
    assert male["n"] == 10 and female["n"] == 10 and _get(st, "effect_size", "dz")["n"] == 20
    # balanced sequences: the period-adjusted estimate is the plain mean, no sensitivity row
    wide = resp.pivot(index="participant_id", columns="condition", values="percent_change")
    d = wide["naltrexone"] - wide["placebo"]
    r = _get(st, "paired", "naltrexone-placebo")
    assert r["estimate"] == pytest.approx(d.mean(), rel=1e-12)
    assert "paired_unadjusted" not in set(st.loc[st["subgroup"] == "all", "analysis"])
    # Jones-Kenward against statsmodels OLS d ~ sequence (intercept = treatment effect)
    import statsmodels.api as sm

    first = resp[resp["condition"] == "naltrexone"].set_index("participant_id")["session_id"]
    seq = np.where(first.reindex(d.index) == "ses-1", 1.0, -1.0)
    ols = sm.OLS(d.to_numpy(), sm.add_constant(seq)).fit()
    assert r["p_value"] == pytest.approx(ols.pvalues[0], rel=1e-9)
    assert r["ci_low"] == pytest.approx(ols.conf_int(ALPHA)[0, 0], rel=1e-9)
    # plain paired t when the order is unknown, against scipy
    plain = _rows(resp.assign(session_id=resp["condition"]))
    ref = sps.ttest_rel(wide["naltrexone"], wide["placebo"])
    r = _get(plain, "paired", "naltrexone-placebo")
    assert r["p_value"] == pytest.approx(ref.pvalue, rel=1e-10) and "order unknown" in r["test"]
    assert _get(st, "effect_size", "dz")["estimate"] == pytest.approx(d.mean() / d.std(ddof=1))
    a, b = wide["naltrexone"], wide["placebo"]
    d_av = d.mean() / ((a.std() + b.std()) / 2)
    assert _get(st, "effect_size", "dz")["d_av"] == pytest.approx(d_av)
    d_rm = d.mean() / d.std() * np.sqrt(2 * (1 - np.corrcoef(a, b)[0, 1]))
    assert _get(st, "effect_size", "dz")["d_rm"] == pytest.approx(d_rm)


def test_attenuation_significant_in_males_not_females(rng):
    # 10 M + 10 F, male attenuation 6 %-points (d_z ~ 1.7), none in females; 60 studies
    n_rep, male_hits, female_hits = 60, 0, 0
    opts = StatsOptions(permutations=200)
    for _ in range(n_rep):
        st = _rows(simulate_responses(rng), opts)
        male_hits += _get(st, "paired", "naltrexone-placebo", "M")["p_value"] < 0.05
        female_hits += _get(st, "paired", "naltrexone-placebo", "F")["p_value"] < 0.05
    assert male_hits / n_rep >= 0.9, male_hits  # power ~1 at this effect size
    assert female_hits / n_rep <= 0.15, female_hits  # nominal 5 %


def test_null_false_positive_rate_and_dz_interval(rng):
    hits, perm_hits, coverage = 0, 0, 0
    n_rep = 200
    opts = StatsOptions(permutations=500)
    for _ in range(n_rep):
        resp = simulate_responses(rng, nal_m=8.0, nal_f=8.0)  # same response in both conditions
        r = _get(_rows(resp, opts), "paired", "naltrexone-placebo")
        hits += r["p_value"] < 0.05
        perm_hits += r["p_perm"] < 0.05
        coverage += _covers(r, 0.0)
    assert 0.02 <= hits / n_rep <= 0.09, hits / n_rep
    assert 0.02 <= perm_hits / n_rep <= 0.09, perm_hits / n_rep
    assert coverage == n_rep - hits
    # the d_z interval inverts the plain paired t-test: it excludes 0 exactly when p < alpha
    for _ in range(30):
        resp = simulate_responses(rng, nal_m=6.0, nal_f=7.0).assign(session_id=lambda d: "x")
        st = _rows(resp, StatsOptions(permutations=100))
        r, dz = _get(st, "paired", "naltrexone-placebo"), _get(st, "effect_size", "dz")
        assert (dz["ci_low"] > 0 or dz["ci_high"] < 0) == (r["p_value"] < 0.05)
        assert dz["ci_low"] < dz["estimate"] < dz["ci_high"]


def test_dz_interval_large_sample(rng):
    d = rng.normal(1.0, 2.0, size=400)  # true d_z = 0.5
    rows = [(f"s{i}", "ses-1", CONDS[0], "F", "Glu", 1.0, 1.0, x) for i, x in enumerate(d)]
    rows += [(f"s{i}", "ses-2", CONDS[1], "F", "Glu", 1.0, 1.0, 0.0) for i in range(d.size)]
    resp = pd.DataFrame(rows, columns=list(RESPONSE_COLUMNS))
    dz = _get(_rows(resp, StatsOptions()), "effect_size", "dz")
    assert abs(dz["estimate"] - 0.5) < 0.12 and _covers(dz, 0.5)
    # large-n width ~ 2 * 1.96 * sqrt(1/n + dz^2/(2n))
    approx = 2 * 1.96 * np.sqrt(1 / 400 + dz["estimate"] ** 2 / 800)
    assert dz["ci_high"] - dz["ci_low"] == pytest.approx(approx, rel=0.05)


def test_interaction_period_adjusted_welch_sensitivity_and_unknown_sex(rng):
    resp = simulate_responses(rng, n=24, period=3.0)
    unknown = ["sub-00", "sub-01"]
    resp.loc[resp["participant_id"].isin(unknown), "sex"] = np.nan
    w = _wide(resp)
    st = pd.DataFrame(
        treatment_rows(w, "Glu", "naltrexone-placebo", OPTS) + interaction_rows(w, "Glu", OPTS)
    )
    assert _get(st, "paired", "naltrexone-placebo", "all")["n"] == 24
    assert _get(st, "paired", "naltrexone-placebo", "M")["n"] == 11
    assert _get(st, "paired", "naltrexone-placebo", "F")["n"] == 11
    inter = _get(st, "interaction", "condition:sex")
    assert inter["n"] == 22 and _covers(inter, -6.0) and "period-adjusted" in inter["test"]
    # the period-adjusted interaction: OLS of d on the four sex x sequence cells
    import statsmodels.formula.api as smf

    known = w[w["sex"].isin(["M", "F"])].assign(d=lambda x: x["a"] - x["b"])
    fit = smf.ols("d ~ 0 + C(sex):C(period_a)", known).fit()
    lvl = {name: i for i, name in enumerate(fit.params.index)}
    c = np.zeros(4)
    for (sx, pa), wt in {
        ("M", 1.0): 0.5,
        ("M", 2.0): 0.5,
        ("F", 1.0): -0.5,
        ("F", 2.0): -0.5,
    }.items():
        c[lvl[f"C(sex)[{sx}]:C(period_a)[{pa}]"]] = wt
    test = fit.t_test(c)
    assert inter["estimate"] == pytest.approx(float(test.effect[0]), rel=1e-10)
    assert inter["p_value"] == pytest.approx(float(test.pvalue), rel=1e-8)
    # the Welch sensitivity row, against scipy
    sex = known["sex"]
    ref = sps.ttest_ind(known["d"][sex == "M"], known["d"][sex == "F"], equal_var=False)
    sens = _get(st, "interaction_unadjusted", "condition:sex")
    assert sens["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert 0 < inter["p_perm"] <= 1 and 0 < sens["p_perm"] <= 1


def test_period_effect_recovered_and_unbalanced_sequences_unbiased(rng):
    resp = simulate_responses(rng, n=24, period=4.0)
    st = pd.DataFrame(period_rows(_wide(resp), "Glu", OPTS))
    per = _get(st, "crossover", "period")
    assert _covers(per, 4.0) and per["n"] == 24
    assert _covers(_get(st, "crossover", "carryover"), 0.0)  # no carry-over simulated
    # order from a 'period' column instead of session ids
    alt = resp.assign(period=resp["session_id"].str[-1].astype(int), session_id=resp["condition"])
    st2 = crossover_stats(alt, conditions=CONDS, options=OPTS)
    assert _get(st2, "crossover", "period")["estimate"] == pytest.approx(per["estimate"])
    assert st2.attrs["period_source"] == "period column"
    # order unknown -> no rows
    assert period_rows(_wide(resp.assign(session_id=resp["condition"])), "Glu", OPTS) == []
    # unbalanced sequences (drop 6 naltrexone-second participants): the plain paired mean is
    # biased by the period effect, the period-adjusted one is not
    plain_err, adj_err = [], []
    for _ in range(40):
        r = simulate_responses(rng, n=32, period=6.0)
        first = r[(r["condition"] == "naltrexone")].set_index("participant_id")["session_id"]
        drop = first[first == "ses-2"].index[:6]
        r = r[~r["participant_id"].isin(drop)]
        rows = _rows(r, StatsOptions(permutations=50))
        adj_err.append(_get(rows, "paired", "naltrexone-placebo")["estimate"] + 3.0)
        plain_err.append(_get(rows, "paired_unadjusted", "naltrexone-placebo")["estimate"] + 3.0)
    expected_bias = -6.0 * (16 - 10) / 26  # -pi (n_AB - n_BA) / n
    assert abs(np.mean(adj_err)) < 3 * np.std(adj_err) / np.sqrt(40)
    assert abs(np.mean(plain_err) - expected_bias) < 3 * np.std(plain_err) / np.sqrt(40)


def test_session_order_from_acq_time(rng):
    resp = simulate_responses(rng, n=12, period=4.0)
    # session ids that say nothing about the order; acq_time does
    first = resp["session_id"] == "ses-1"
    sessions = resp.drop_duplicates(["participant_id", "session_id"])[
        ["participant_id", "session_id"]
    ]
    sessions = sessions.assign(
        acq_time=np.where(
            sessions["session_id"] == "ses-1", "2024-01-05T09:00:00", "2024-02-01T09:30:00"
        )
    )
    renamed = resp.assign(session_id=np.where(first, "ses-9", "ses-3"))
    sessions = sessions.assign(
        session_id=np.where(sessions["session_id"] == "ses-1", "ses-9", "ses-3")
    )
    periods, source = session_periods(renamed, sessions)
    assert source == "acq_time"
    assert (periods.loc[periods["session_id"] == "ses-9", "period"] == 1).all()
    # without acq_time the session ids would order it the other way round
    assert session_periods(renamed)[1] == "session_id order"
    st = crossover_stats(renamed, conditions=CONDS, options=OPTS, sessions=sessions)
    ref = crossover_stats(resp, conditions=CONDS, options=OPTS)
    got, want = _get(st, "crossover", "period"), _get(ref, "crossover", "period")
    assert got["estimate"] == pytest.approx(want["estimate"])


def test_crossover_stats_table_one_contrast_one_row(rng):
    resp = simulate_responses(rng, n=26, period=3.0)
    resp = pd.concat(
        [
            resp,
            resp.assign(
                metabolite="Gln",
                percent_change=lambda d: d["percent_change"] * 0.5 + rng.normal(0, 2, len(d)),
            ),
        ]
    )
    # 16 AB / 10 BA: drop the period-2 naltrexone rows of 3 participants? keep all; unbalance
    st = crossover_stats(resp, conditions=CONDS, options=replace(OPTS, primary="Glu"))
    assert tuple(st.columns[:9]) == STATS_COLUMNS
    assert {"p_perm", "p_holm", "q_bh", "primary", "test"} <= set(st.columns)
    assert {
        "condition_mean",
        "paired",
        "interaction",
        "crossover",
        "effect_size",
        "baseline",
    } <= set(st["analysis"])
    # one contrast, one row: no estimate repeats within a metabolite and subgroup
    for _, grp in st.dropna(subset=["estimate"]).groupby(["metabolite", "subgroup"]):
        est = grp["estimate"].round(12)
        assert not est[est != 0].duplicated().any(), grp[est.duplicated(keep=False)]
    # multiplicity within each analysis/term/subgroup family, across the 2 metabolites
    fam = st[(st["analysis"] == "paired") & (st["subgroup"] == "all")]
    assert len(fam) == 2
    p = fam["p_value"].to_numpy()
    assert fam["p_holm"].to_numpy() == pytest.approx(
        np.minimum(np.maximum.accumulate(np.sort(p) * [2, 1]), 1)[np.argsort(np.argsort(p))]
    )
    from statsmodels.stats.multitest import multipletests

    assert fam["q_bh"].to_numpy() == pytest.approx(multipletests(p, method="fdr_bh")[1])
    prim = st[st["primary"]]
    assert set(prim["metabolite"]) == {"Glu"}
    assert set(prim["analysis"]) == {"paired", "interaction"}
    plc = _get(st, "condition_mean", "placebo")
    assert _covers(plc, 8.0) and plc["p_value"] < 1e-4
    assert _get(st, "baseline", "naltrexone-placebo")["estimate"] == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="not in the data"):
        crossover_stats(resp, conditions=("naloxone", "placebo"))
    with pytest.raises(ConfigError, match="lacks columns"):
        crossover_stats(resp.drop(columns="sex"), conditions=CONDS)


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
            rows += [
                (f"sub-{i:02d}", f"ses-{s}", cond, sex, f, t, "Glu", e, 0.2)
                for f, (t, e) in enumerate(zip(times, est, strict=True))
            ]
    return pd.DataFrame(rows, columns=list(TIMECOURSE_COLUMNS))


def test_frame_lmm_condition_time(rng):
    from mrspipe.dynamic import window_responses

    tc = simulate_timecourses(rng, n=16)
    resp = window_responses(tc)
    st = crossover_stats(resp, conditions=CONDS, timecourses=tc, options=OPTS, mixedlm=True)
    # units of the time course (level ~10): the rise is attenuated by 3 % of 10 on average,
    # by 6 % in men and not in women
    assert _covers(_get(st, "frame_lmm", "condition:time"), -0.3)
    assert _covers(_get(st, "frame_lmm", "condition:time:sex"), -0.6)
    for group, truth in (("M", -0.6), ("F", 0.0)):
        model = _get(st, "frame_lmm", "condition:time", group)
        assert _covers(model, truth) and model["test"].startswith("F(1, ")
        # Satterthwaite: sessions, not frames, are the evidence (df ~ participants, not frames)
        assert model["df"] < 3 * model["n"]
    # the option is off by default
    assert "frame_lmm" not in set(
        crossover_stats(resp, conditions=CONDS, timecourses=tc)["analysis"]
    )


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
    assert mc["p_perm"] == mc["p_value"] and mc["ci_low"] < mc["estimate"] < mc["ci_high"]
    for term in ("period@24h", "carryover@24h", "baseline_period@24h"):
        assert np.isfinite(_get(st, "clinical_crossover", term, metabolite="MADRS")["p_value"])
    es = _get(st, "clinical_effect_size", "dz@24h", metabolite="MADRS")
    assert np.isfinite(es[["estimate", "d_av", "d_rm"]].astype(float)).all()
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
    st = crossover_stats(resp, conditions=CONDS, timecourses=tcs, options=OPTS, mixedlm=True)
    assert _get(st, "paired", "naltrexone-placebo")["n"] == 10
    assert _get(st, "paired", "naltrexone-placebo", "M")["n"] == 4
    assert _get(st, "paired", "naltrexone-placebo", "F")["n"] == 5
    assert _get(st, "interaction", "condition:sex")["n"] == 9
    assert _get(st, "frame_lmm", "condition:time:sex")["n"] == 9
    p = st["p_value"].dropna()
    assert len(p) > 12 and p.between(0, 1).all()


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


def test_a_condition_with_no_session_left_gives_empty_rows_not_a_key_error():
    """The GLM table may hold one condition only (a simulated study lost every naltrexone
    session; the stats step failed with ``KeyError: 'naltrexone'``). No participant has both:
    no paired row."""
    from mrspipe.stats import crossover_stats

    n = 4
    pids = [f"sub-{i:02d}" for i in range(n)]
    glm = pd.DataFrame(
        {
            "participant_id": pids,
            "session_id": "ses-2",
            "condition": "placebo",
            "sex": ["M", "F"] * 2,
            "metabolite": "Glu",
            "term": "ramp",
            "percent": [1.0, 2.0, 3.0, 4.0],
        }
    )
    responses = pd.concat(
        [
            glm.assign(condition="placebo", percent_change=glm["percent"]),
            glm.assign(condition="naltrexone", session_id="ses-1", percent_change=np.nan),
        ]
    ).assign(baseline=1.0, response=1.0)
    stats = crossover_stats(responses, conditions=("naltrexone", "placebo"), mixedlm=False, glm=glm)
    glm_rows = stats[stats["analysis"].str.startswith("glm")]
    assert glm_rows.empty  # no pair: no paired or interaction row
    mean = stats[(stats["analysis"] == "condition_mean") & (stats["subgroup"] == "all")]
    assert mean["n"].tolist() == [4]  # the placebo sessions' own rows stay
