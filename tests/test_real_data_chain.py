"""Every real file in ../shared/data holding metabolite data: convert -> preproc -> fit.

For each: NAA at 2.01 +/- 0.03 ppm in the preprocessed (referenced) spectrum, a plausible ppm
reference offset, and a finite Glu/tCr from the fit. Bases are simulated for each file's field,
TE and sequence (a few metabolites, the data's own grid), except where the source ships the
matching basis. Skipped when the folder (or spec2nii, for vendor files) is absent.

Left out, with the reason: the metabolite-nulled inversion-recovery PRESS (macromolecules
only, no NAA singlet); Siemens ``SVS_XA60.dcm`` (a phantom with peaks at 1.0-1.1 and 3.5-3.6
ppm and no NAA, Cr or Cho: the conversion's sanity check says so); the Osprey 7 T ``SVS-ref``
(a water-dominated reference whose role the source does not state); the twix files
(unsuppressed water only); the ISMRM challenge datasets beyond one per format (28 synthetic
sets of the same kind, covered by the fitting-challenge tests).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest

from mrspipe.data import MRSData
from mrspipe.fit import fit_spectra
from mrspipe.io.basis import load_basis
from mrspipe.io.nifti_mrs import load_mrs
from mrspipe.io.text_data import load_text_data
from mrspipe.preprocess import PreprocessOptions, peak_position, preprocess_session
from mrspipe.simulate import simulate_basis
from mrspipe.spectral import match_basis

METABOLITES = ("NAA", "Cr", "PCr", "GPC", "PCho", "Glu", "Gln", "Ins")
CHALLENGE = "ismrm2016_fitting_challenge"


@functools.cache
def _basis(sequence: str, mhz: float, te: float, tm: float | None, dwell: float, n: int):
    return simulate_basis(
        METABOLITES,
        sequence=sequence,
        field_mhz=mhz,
        te=te,
        tm=tm,
        dwell_time=dwell,
        n_points=min(n, 2048),
    )


def _vendor(path: Path, **overrides) -> list:
    pytest.importorskip("spec2nii")
    from mrspipe.io.vendor import load_vendor_parts

    return load_vendor_parts(path, **overrides)


def _load(shared: Path, spec: dict) -> tuple[MRSData, MRSData | None, MRSData | None]:
    kind = spec["kind"]
    if kind == "vendor":
        parts = _vendor(shared / spec["data"], **spec.get("overrides", {}))
        data = next(p.data for p in parts if p.role == "svs")
        water = next((p.data for p in parts if p.role == "mrsref"), None)
        if spec.get("water"):
            water = _vendor(shared / spec["water"])[0].data
        return data, water, None
    if kind == "text":
        parts = load_text_data(shared / spec["data"], **spec.get("overrides", {}))
        data = next(p.data for p in parts if p.role == "svs")
        water = next((p.data for p in parts if p.role == "mrsref"), None)
        if spec.get("water"):
            water = load_text_data(shared / spec["water"], **spec.get("overrides", {}))[0].data
        return data, water, None
    data = load_mrs(shared / spec["data"])
    water = load_mrs(shared / spec["water"]) if spec.get("water") else None
    ecc = load_mrs(shared / spec["ecc"]) if spec.get("ecc") else None
    return data, water, ecc


_RAW_TEXT = {"dwell_time": 2.5e-4, "spectrometer_frequency": 123.2, "echo_time": 0.030}

#: id -> how to read it, the sequence (basis simulation), and the STEAM mixing time
CASES: dict[str, dict] = {
    "osprey-press35-sub01": {
        "kind": "vendor",
        "data": "osprey/philips_press35/sub-01_PRESS_35_act.sdat",
        "water": "osprey/philips_press35/sub-01_PRESS_35_ref.sdat",
        "basis": "osprey/basis/3T_PRESS_Philips_35ms_noMM.BASIS",
    },
    "osprey-press35-sub02": {
        "kind": "vendor",
        "data": "osprey/philips_press35/sub-02_PRESS_35_act.sdat",
        "water": "osprey/philips_press35/sub-02_PRESS_35_ref.sdat",
        "basis": "osprey/basis/3T_PRESS_Philips_35ms_noMM.BASIS",
    },
    "osprey-press30-with-mm": {
        "kind": "vendor",
        "data": "osprey/philips_press_with_mm/sub-01_PRESS_raw-act.SDAT",
        "water": "osprey/philips_press_with_mm/sub-01_PRESS_raw-ref.SDAT",
        "sequence": "press",
    },
    "spant-phantom-ws": {
        "kind": "vendor",
        "data": "spant/philips_spar_sdat_WS.SDAT",
        "water": "spant/philips_spar_sdat_W.SDAT",
        "sequence": "press",
    },
    "suspect-rda": {"kind": "vendor", "data": "suspect/siemens/SVS_30.rda", "sequence": "press"},
    "suspect-ima": {"kind": "vendor", "data": "suspect/siemens/SVS_30.IMA", "sequence": "press"},
    "suspect-philips-dicom": {
        "kind": "vendor",
        "data": "suspect/philips_dicom/MRSshortTELN_401_IM-0001-0002.dcm",
        "sequence": "press",
    },
    "nifti-mrs-tools-raw": {
        "kind": "nifti",
        "data": "nifti_mrs_tools/metab_raw.nii.gz",
        "water": "nifti_mrs_tools/wref_raw.nii.gz",
        "ecc": "nifti_mrs_tools/ecc.nii.gz",
        "sequence": "steam",
        "tm": 0.032,
    },
    "nifti-mrs-tools-combined": {
        "kind": "nifti",
        "data": "nifti_mrs_tools/metab.nii.gz",
        "sequence": "steam",
        "tm": 0.032,
    },
    "nifti-mrs-tools-int-freq": {
        "kind": "nifti",
        "data": "nifti_mrs_tools/metab_int_freq.nii.gz",
        "sequence": "steam",
        "tm": 0.032,
    },
    "osprey-multilang": {
        "kind": "nifti",
        "data": "osprey_multilang/svs_preprocessed.nii.gz",
        "sequence": "steam",
        "tm": 0.032,
    },
    "dwmrs-synthetic": {
        "kind": "nifti",
        "data": "dwmrs_pregame2021/synthetic/synthetic.nii.gz",
        "sequence": "steam",
        "tm": 0.060,
    },
    "dwmrs-invivo": {
        "kind": "nifti",
        "data": "dwmrs_pregame2021/invivo_dwslaser_7T/metab.nii.gz",
        "water": "dwmrs_pregame2021/invivo_dwslaser_7T/water.nii.gz",
        "sequence": "slaser",
    },
    "challenge-raw": {
        "kind": "text",
        "data": f"{CHALLENGE}/datasets_LCModel/dataset1.RAW",
        "water": f"{CHALLENGE}/datasets_LCModel/dataset1.H2O",
        "overrides": _RAW_TEXT,
        "basis": f"{CHALLENGE}/basisset_LCModel/press3T_30ms.BASIS",
    },
    "challenge-text": {
        "kind": "text",
        "data": f"{CHALLENGE}/datasets_text/dataset2.txt",
        "overrides": _RAW_TEXT,
        "basis": f"{CHALLENGE}/basisset_LCModel/press3T_30ms.BASIS",
    },
    "challenge-jmrui": {
        "kind": "text",
        "data": f"{CHALLENGE}/datasets_JMRUI/dataset3_WS.txt",
        "water": f"{CHALLENGE}/datasets_JMRUI/dataset3_nWS.txt",
        "overrides": {"echo_time": 0.030},
        "basis": f"{CHALLENGE}/basisset_LCModel/press3T_30ms.BASIS",
    },
    "challenge-cr-water-scaling": {
        "kind": "text",
        "data": f"{CHALLENGE}/Cr_water_scaling_LCModel/Cr_10mM_test_water_scaling.RAW",
        "overrides": _RAW_TEXT,
        "basis": f"{CHALLENGE}/basisset_LCModel/press3T_30ms.BASIS",
        "no_naa": True,  # Cr only: referenced on Cr, Glu/tCr is 0
    },
    "lcmodel-test": {
        "kind": "text",
        "data": "lcmodel_test/data.raw",
        "basis": "lcmodel_test/3t.basis",
    },
}


@pytest.mark.shared_data
@pytest.mark.parametrize("case", list(CASES))
def test_real_metabolite_data_convert_preproc_fit(case: str, shared_data: Path) -> None:
    spec = CASES[case]
    if not (shared_data / spec["data"]).exists():
        pytest.skip(f"{spec['data']} not in this copy of the data")
    data, water, ecc = _load(shared_data, spec)
    if water is not None and (
        water.n_points != data.n_points or ("coil" in water.dims) != ("coil" in data.dims)
    ):
        water = None  # a reference on another grid or coil layout is not used here
    opts = PreprocessOptions(remove_water=True)
    result = preprocess_session(data, water=water, ecc_reference=ecc, options=opts)
    frames = result.frames
    mean = frames.fids.reshape(-1, frames.n_points).mean(0)
    args = (frames.dwell_time, frames.spectrometer_frequency, frames.ppm_reference)
    # the referencing shift stays plausible (a room-temperature phantom reads up to ~0.2 ppm)
    assert abs(result.reference_offset_hz / frames.spectrometer_frequency) < 0.35
    if not spec.get("no_naa"):
        naa = float(peak_position(mean, *args, peak_range=(1.85, 2.2)))
        assert naa == pytest.approx(2.01, abs=0.03)
    if "basis" in spec:
        basis = load_basis(shared_data / spec["basis"])
    else:
        te = data.echo_time or 0.030
        basis = _basis(
            spec["sequence"],
            round(data.spectrometer_frequency, 3),
            round(te, 4),
            spec.get("tm"),
            data.dwell_time,
            data.n_points,
        )
    fit = fit_spectra(frames, match_basis(basis, frames))
    table = fit.table()
    est = table.groupby("metabolite")["estimate"].mean()
    assert est["tCr"] > 0 and math.isfinite(est["tCr"])
    ratio = est["Glu"] / est["tCr"]
    assert math.isfinite(ratio)
    if not spec.get("no_naa"):
        naa_name = "tNAA" if "tNAA" in est else "NAA"
        assert np.isfinite(est[naa_name]) and est[naa_name] > 0


@pytest.mark.shared_data
def test_raw_7t_coils_match_the_combined_file(shared_data: Path) -> None:
    """Issue 12: raw 7 T coils + water reference -> preproc -> fit against the same fit of the
    other tool's combination (``metab.nii.gz``): Glu, Glx, tNAA, Ins to tCr within 5 %, at most
    1 of 16 transients rejected (measured with the full simulated basis of ``simulate basis``:
    +0.4, +2.3, -2.7, -0.1 %, none rejected; this test's 8-metabolite basis is its own check).
    """
    folder = shared_data / "nifti_mrs_tools"
    if not (folder / "metab_raw.nii.gz").exists():
        pytest.skip("nifti_mrs_tools not in this copy of the data")
    raw = load_mrs(folder / "metab_raw.nii.gz")
    result = preprocess_session(raw, water=load_mrs(folder / "wref_raw.nii.gz"))
    assert int(np.sum(result.qc["rejected"])) <= 1
    combined = load_mrs(folder / "metab.nii.gz")
    basis = _basis("steam", 297.22, 0.011, 0.032, raw.dwell_time, raw.n_points)
    got = {}
    for name, frames in (("raw", result.frames), ("combined", combined)):
        est = fit_spectra(frames, match_basis(basis, frames)).table()
        est = est.groupby("metabolite")["estimate"].mean()
        naa = "tNAA" if "tNAA" in est else "NAA"  # the small basis has no NAAG
        got[name] = {m: est[m] / est["tCr"] for m in ("Glu", "Glx", naa, "Ins")}
    for m, value in got["combined"].items():
        assert got["raw"][m] == pytest.approx(value, rel=0.05), m


@pytest.mark.shared_data
def test_osprey_sub02_narrow_band_finds_the_right_shift(shared_data: Path) -> None:
    """Issue 12b: sub-02 fitted over 1.8-4.2 ppm started 20 Hz off (the appended MM/lipid
    components outside the band inflated the start search) and converged to shift 31.6 Hz
    with Cr = PCr = 0. It must agree with the fit over the default band."""
    spec = CASES["osprey-press35-sub02"]
    if not (shared_data / spec["data"]).exists():
        pytest.skip(f"{spec['data']} not in this copy of the data")
    data, water, _ = _load(shared_data, spec)
    frames = preprocess_session(
        data, water=water, options=PreprocessOptions(remove_water=True)
    ).frames
    basis = match_basis(load_basis(shared_data / spec["basis"]), frames)
    ratios = []
    for band in [(1.8, 4.2), (0.2, 4.2)]:
        fit = fit_spectra(frames, basis, ppm_range=band)
        assert abs(float(fit.shift_hz[0])) < 3.0
        est = fit.table().groupby("metabolite")["estimate"].mean()
        assert est["tCr"] > 0
        ratios.append(est[["Glu", "tNAA", "Ins", "tCho"]] / est["tCr"])
    np.testing.assert_allclose(ratios[0], ratios[1], rtol=0.05)


@pytest.mark.parametrize("subject", ["01", "02"])
def test_osprey_pair_wide_and_narrow_bands_agree(shared_data: Path, subject: str) -> None:
    """Issue 12: sub-01 carries an out-of-voxel lipid at 1.1 ppm (about 2.8 rad from the
    metabolites' phase, 40-50 Hz wide) that the in-phase nonnegative lipid components could
    not follow: over 0.2-4.2 ppm tNAA/tCr was 19 % and Ins/tCr 17 % above the 1.8-4.2 ppm fit,
    which the lipid does not reach. The default ``lipid_phase='auto'`` finds the lipid out of
    phase on sub-01 and fits it with a phase, shift and width of its own: Glu, tNAA and Ins to
    tCr now agree between the bands within 5 % (measured: sub-01 -4.1 / +1.5 / 0.0 %, sub-02,
    whose lipid is in phase (p 0.004, not asserted), -0.1 / +0.7 / -1.1 %). Gln of sub-01 is
    0.24 against 0.38 (not asserted)."""
    spec = CASES[f"osprey-press35-sub{subject}"]
    if not (shared_data / spec["data"]).exists():
        pytest.skip(f"{spec['data']} not in this copy of the data")
    data, water, _ = _load(shared_data, spec)
    frames = preprocess_session(
        data, water=water, options=PreprocessOptions(remove_water=True)
    ).frames
    basis = match_basis(load_basis(shared_data / spec["basis"]), frames)
    ratios, chosen = [], []
    for band in [(0.2, 4.2), (1.8, 4.2)]:
        fit = fit_spectra(frames, basis, ppm_range=band)
        chosen.append(fit.options["lipid_phase"])
        est = fit.table().groupby("metabolite")["estimate"].mean()
        ratios.append(est[["Glu", "tNAA", "Ins"]] / est["tCr"])
    assert chosen[1] == "metabolites"  # the 1.8-4.2 ppm band never frees it
    if subject == "01":
        assert chosen[0] == "free"
    np.testing.assert_allclose(ratios[0], ratios[1], rtol=0.05)
