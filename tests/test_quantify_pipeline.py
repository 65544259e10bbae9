"""Water scaling in the pipeline: Gasparovic formulas by hand, relaxation table, mM in run."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mrspipe.errors import ConfigError
from mrspipe.pipeline.session import tissue_fractions
from mrspipe.quantify import (
    PURE_WATER_MM,
    WATER_DENSITY,
    QuantifyOptions,
    concentration_table,
    metabolite_relaxation_times,
    water_scaled,
)
from mrspipe.relaxation import METABOLITES, WATER, metabolite_relaxation, water_relaxation


def _r(te: float, tr: float, t1: float, t2: float) -> float:
    return float(np.exp(-te / t2) * (1 - np.exp(-tr / t1)))


def test_gasparovic_molarity_and_molality_by_hand() -> None:
    te, tr, w_te, w_tr = 0.035, 2.0, 0.030, 10.0
    f = {"gm": 0.5, "wm": 0.3, "csf": 0.2}
    relax = {"gm": (1.3, 0.11), "wm": (0.8, 0.08), "csf": (3.8, 0.5)}
    d = WATER_DENSITY
    est, area = np.array([[3.0, 1.5]]), 2.0e4
    r_m = _r(te, tr, 1.4, 0.2)
    common = {
        "te": te,
        "tr": tr,
        "water_te": w_te,
        "water_tr": w_tr,
        "fractions": f,
        "water_relaxation": relax,
        "metabolite_t1": 1.4,
        "metabolite_t2": 0.2,
    }
    # molarity (Gasparovic eq. 1 with volume fractions): mmol per litre of non-CSF tissue
    vis = sum(f[t] * d[t] * _r(w_te, w_tr, *relax[t]) for t in f)
    expect = est / area * 2 * PURE_WATER_MM * vis / (1 - f["csf"]) / r_m
    np.testing.assert_allclose(water_scaled(est, area, unit="molarity", **common), expect)
    # molality (eq. 5-7): water-mole fractions, mmol per kg of tissue water
    tot = sum(f[t] * d[t] for t in f)
    fm = {t: f[t] * d[t] / tot for t in f}
    vis_m = sum(fm[t] * _r(w_te, w_tr, *relax[t]) for t in f)
    expect_m = est / area * 2 * PURE_WATER_MM * vis_m / (1 - fm["csf"]) / r_m
    np.testing.assert_allclose(water_scaled(est, area, unit="molality", **common), expect_m)
    # pure GM: molarity = molality x GM water density
    pure = {**common, "fractions": {"gm": 1.0}}
    ratio = water_scaled(est, area, unit="molarity", **pure) / water_scaled(
        est, area, unit="molality", **pure
    )
    np.testing.assert_allclose(ratio, d["gm"])
    with pytest.raises(ConfigError, match="unit"):
        water_scaled(est, area, te=te, unit="mM")


def test_relaxation_table_is_per_metabolite_and_by_field(caplog: pytest.LogCaptureFixture) -> None:
    naa, glu = metabolite_relaxation("NAA", 3.0), metabolite_relaxation("Glu", 2.9)
    # Wyss 2018: NAA acetyl T2 ~ 0.30 s, Glu ~ 0.13 s (GM/WM mean); Mlynarik 2001 T1 ~ 1.4/1.2 s
    assert naa.t2 == pytest.approx(0.3005) and glu.t2 == pytest.approx(0.12625)
    assert naa.t1 == pytest.approx(1.41) and glu.t1 == pytest.approx(1.22)
    assert "Mlynarik" in naa.source and "Wyss" in naa.source
    assert metabolite_relaxation("tNAA") == naa and metabolite_relaxation("Glx") == glu
    assert water_relaxation(3.0)["gm"] == (1.331, 0.110)  # Wansapura et al. 1999
    assert all(
        e.source for table in (METABOLITES, WATER) for v in table.values() for e in v.values()
    )
    t1, t2 = metabolite_relaxation_times(["NAA", "XYZ"], 2, t2=0.2)
    assert t1[0] == naa.t1 and np.all(t2 == 0.2) and t1[1] > 0
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        assert metabolite_relaxation("NAA", 7.0) == naa
    assert "7.0 T" in caplog.text


def test_tissue_fractions_from_columns_or_tsv(tmp_path: Path) -> None:
    opts = QuantifyOptions()
    sess = SimpleNamespace(
        participant_id="sub-01", session_id="ses-1", extra={"gm": 60, "wm": 30, "csf": 10}
    )
    assert tissue_fractions(sess, opts) == pytest.approx({"gm": 0.6, "wm": 0.3, "csf": 0.1})
    assert tissue_fractions(SimpleNamespace(participant_id="sub-01", extra={}), opts) is None
    tsv = tmp_path / "seg.tsv"
    tsv.write_text("participant_id\tsession_id\tfGM\tfWM\tfCSF\n01\t1\t0.5\t0.4\t0.1\n")
    opts = QuantifyOptions(tissue_tsv=str(tsv), tissue_columns=("fGM", "fWM", "fCSF"))
    assert tissue_fractions(sess, opts) == pytest.approx({"gm": 0.5, "wm": 0.4, "csf": 0.1})
    with pytest.raises(ConfigError, match="3 names"):
        QuantifyOptions(tissue_columns=("gm", "wm"))


def test_concentration_columns_scale_each_metabolite() -> None:
    fits = pd.DataFrame(
        {"metabolite": ["NAA", "Glu", "NAA"], "estimate": [10.0, 8.0, 12.0], "crlb_sd": 1.0}
    )
    kw = {"te": 0.03, "tr": 3.0, "water_te": 0.03, "water_tr": 3.0, "field_t": 2.9}
    cols = concentration_table(fits, 5.0e4, fractions=None, **kw)
    assert set(cols) == {"molality_mmol_kg", "molality_sd", "molarity_mm", "molarity_sd"}
    one = water_scaled(np.array([[10.0, 8.0]]), 5.0e4, names=["NAA", "Glu"], te=0.03, tr=3.0)
    np.testing.assert_allclose(cols["molarity_mm"][:2], one[0])
    np.testing.assert_allclose(cols["molarity_mm"][2] / cols["molarity_mm"][0], 1.2)
    only = concentration_table(
        fits, 5.0e4, fractions=None, options=QuantifyOptions(units="molality"), **kw
    )
    assert set(only) == {"molality_mmol_kg", "molality_sd"}


def test_run_session_writes_mm_that_recover_the_truth(tmp_path: Path) -> None:
    """Simulated session: metabolites at known mM without relaxation; water 2 x 55.51 M x 0.8
    attenuated by exp(-TE/0.11 s). With that water concentration given, the pipeline's molarity
    times the literature R_M it divided by must give back the true mM."""
    from mrspipe.io.basis import save_basis
    from mrspipe.io.bids import find_sessions
    from mrspipe.pipeline.session import SessionOptions, run_session
    from mrspipe.preprocess.chain import PreprocessOptions
    from mrspipe.simulate import simulate_basis, simulate_study

    truth = simulate_study(
        tmp_path / "study", n_participants=1, n_transients=16, n_points=1024, rng=3, snr=40
    )
    d = truth["design"]
    basis = simulate_basis(
        sequence=d["sequence"],
        field_mhz=d["field_mhz"],
        te=d["te"],
        dwell_time=d["dwell_time"],
        n_points=1024,
    )
    save_basis(basis, tmp_path / "basis", format="fsl")
    water_mm = 55510.0 * 0.8 * np.exp(-d["te"] / 0.11)
    options = SessionOptions(
        out=tmp_path / "out",
        preprocess=PreprocessOptions(block=8),
        quantify=QuantifyOptions(water_concentration=water_mm, units="molarity"),
    )
    session = find_sessions(tmp_path / "study")[0]
    from mrspipe.io.basis import load_basis

    result = run_session(session, load_basis(tmp_path / "basis"), options)
    assert result.ok, result.error
    fits = pd.read_csv(
        next((tmp_path / "out").rglob(f"*{session.session_id}*fit_estimates.tsv")), sep="\t"
    )
    assert "molality_mmol_kg" not in fits and fits["molarity_mm"].notna().all()
    true = next(s for s in truth["sessions"] if s["session_id"] == session.session_id)
    c = true["concentrations"]
    mean = fits.groupby("metabolite")["molarity_mm"].mean()
    # NAA alone (NAAG relaxes differently); Cr and PCr share their relaxation times
    for name, value in (("NAA", c["NAA"]), ("tCr", c["Cr"] + c["PCr"])):
        rel = metabolite_relaxation(name)
        got = mean[name] * _r(d["te"], d["tr"], rel.t1, rel.t2)
        assert got == pytest.approx(value, rel=0.03), name


def test_report_checklist_states_the_quantification() -> None:
    from mrspipe.quantify import describe
    from mrspipe.report.checklist import build_checklist

    rows = build_checklist({"quantification": describe(QuantifyOptions(units="molality"))})
    row = next(r for r in rows if r["code"] == "3d")
    assert "water-scaled molality" in str(row["value"]) and "Wyss" in str(row["value"])
    off = describe(QuantifyOptions(water_scaling=False))
    assert "no water scaling" in off


def test_a_sum_is_the_sum_of_its_members_concentrations() -> None:
    """NAA and NAAG relax differently: tNAA (mM) = NAA (mM) + NAAG (mM), frame by frame."""
    fits = pd.DataFrame(
        {
            "source": "s",
            "frame": [0, 0, 0, 1, 1, 1],
            "metabolite": ["NAA", "NAAG", "tNAA"] * 2,
            "estimate": [10.0, 2.0, 12.0, 11.0, 1.0, 12.0],
            "crlb_sd": 0.5,
        }
    )
    kw = {"te": 0.03, "tr": 3.0, "water_te": 0.03, "water_tr": 3.0, "field_t": 3.0}
    mm = concentration_table(fits, 5.0e4, fractions=None, **kw)["molarity_mm"]
    np.testing.assert_allclose(mm[[2, 5]], mm[[0, 3]] + mm[[1, 4]])
    assert mm[2] != mm[5]  # same tNAA amplitude, different NAAG share
