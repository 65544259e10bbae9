"""MRSinMRS checklist: items filled from the design and the data, 'not recorded' otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from test_report_summaries import make_study

from mrspipe._version import __version__
from mrspipe.report import write_report
from mrspipe.report.checklist import CHECKLIST_ITEMS, NOT_RECORDED, build_checklist

CODES = [
    "1a",
    "1b",
    "1c",
    "1d",
    "1e",
    "2a",
    "2b",
    "2c",
    "2d",
    "2e",
    "2f",
    "2g",
    "2h",
    "2i",
    "3a",
    "3b",
    "3c",
    "3d",
    "4a",
    "4b",
    "4c",
    "4d",
]
FULL_DESIGN = {
    "field_strength_t": 3,
    "manufacturer": "GE",
    "scanner_model": "MR750",
    "scanner_software": "DV26",
    "rf_coil": "1H, 32-channel receive head coil",
    "additional_hardware": "none",
    "sequence": "sLASER",
    "voi_location": "pregenual anterior cingulate cortex",
    "voi_size_mm": (20, 20, 25),
    "repetition_time_s": 2.0,
    "echo_time_s": 0.035,
    "transients_per_frame": 16,
    "spectral_width_hz": 4000,
    "n_points": 2048,
    "water_suppression": "CHESS",
    "shimming": "FASTMAP, water FWHM < 12 Hz",
    "motion_correction": "none",
    "preprocessing": ["coil combination", {"Method": "alignment", "ref": "Cr/Cho"}],
    "output_measure": "ratio to tNAA",
    "basis": "simulated sLASER TE 35 ms",
    "fitting_model": "linear combination, Voigt lineshape, spline baseline",
    "exclusion_criteria": "transients > 3 MAD from the median",
}


def values(items):
    return {it["code"]: it["value"] for it in items}


def test_all_items_present_in_order():
    assert [c for _s, c, _i, _f in CHECKLIST_ITEMS] == CODES


def test_empty_design_is_not_recorded_except_software():
    v = values(build_checklist({}))
    assert v["3a"] == f"mrspipe {__version__}"
    assert all(v[c] == NOT_RECORDED for c in CODES if c != "3a")
    assert values(build_checklist(None)) == v


def test_filled_from_design_keys():
    items = build_checklist(FULL_DESIGN)
    v = values(items)
    assert v["1a"] == "3 T"
    assert v["1b"] == "GE"
    assert v["1c"] == "MR750 (software DV26)"
    assert v["1d"] == "1H, 32-channel receive head coil"
    assert v["2a"] == "sLASER"
    assert v["2c"] == "20 × 20 × 25 mm³ (10 mL)"
    assert v["2d"] == "TR = 2 s (2000 ms), TE = 0.035 s (35 ms)"
    assert v["2e"] == "16 transients averaged per time point"
    assert v["2f"] == "spectral width 4000 Hz, 2048 points"
    assert v["3b"] == "coil combination; alignment (ref=Cr/Cho)"
    assert v["3d"].startswith("basis set: simulated sLASER TE 35 ms; model: linear combination")
    assert v["4b"] == "transients > 3 MAD from the median"
    # only the data-derived items stay unrecorded without data
    missing = {c for c, value in v.items() if value == NOT_RECORDED}
    assert missing == {"4a", "4c", "4d"}
    assert {it["source"] for it in items if it["code"] in missing} == {NOT_RECORDED}


def test_field_from_frequency():
    v = values(build_checklist({"spectrometer_frequency_mhz": 123.2}))
    assert v["1a"] == "2.89 T (from 123.200 MHz)"


def test_filled_from_data():
    study = make_study(failed=((0, 1),))
    qc, tc = study["sessions_qc"], study["timecourses"]
    v = values(build_checklist({}, sessions_qc=qc, timecourses=tc, n_fit_figures=2))
    ok = qc[qc["status"] == "ok"]
    snr = np.median(ok["snr_median"])
    assert v["4a"].startswith(f"SNR median {snr:.3g} (range 30–35)")
    assert f"linewidth (FWHM) median {np.median(ok['fwhm_hz_median']):.3g} Hz" in v["4a"]
    n_rej = ok["n_rejected"].sum()
    expect = f"{n_rej} of 4400 transients rejected ({100 * n_rej / 4400:.1f} %); 1 of 12"
    assert v["4b"] == expect + " sessions failed"
    assert v["2e"] == "400 transients per session on average, 20 spectra (time points) per session"
    # crlb_sd is 5 % of the baseline level and estimates rise above it: median CRLB just < 5 %
    pct = 100 * tc["crlb_sd"] / tc["estimate"]
    for met in ("Glx", "Glu", "tNAA"):
        assert f"{met} {pct[tc['metabolite'] == met].median():.1f} %" in v["4c"]
    assert v["4d"] == "2 fit example(s) shown in the report (Fit examples)"
    assert v["3c"] == NOT_RECORDED  # a measure is not guessed from the metabolite names


@pytest.mark.parametrize("given", [False, True])
def test_report_includes_checklist(tmp_path, given):
    custom = [
        {"section": "1. Hardware", "code": "1a", "item": "Field strength", "value": "7 T (custom)"}
    ]
    path = write_report(
        tmp_path,
        timecourses=None,
        responses=None,
        stats=None,
        sessions_qc=None,
        design={"manufacturer": "Siemens"},
        checklist=custom if given else None,
    )
    text = path.read_text(encoding="utf-8")
    if given:
        assert "7 T (custom)" in text and "1 of 1 items filled" in text
    else:
        assert "<td>Siemens</td>" in text
        assert '<td class="nr">not recorded</td>' in text
        assert f"2 of {len(CODES)} items filled" in text
