"""Vendor raw data through spec2nii, dimension-tag repair and the sanity checks."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from mrspipe.data import MRSData
from mrspipe.errors import ConfigError, MissingExtraError, MRSFormatError
from mrspipe.io.nifti_mrs import load_mrs, save_mrs
from mrspipe.io.sanity import (
    check_mrs,
    check_ppm_reference,
    check_reference,
    check_timing,
    estimate_ppm_offset,
)
from mrspipe.io.vendor import (
    detect_vendor_kind,
    find_vendor_sources,
    fix_dim_tags,
    load_vendor,
    load_vendor_parts,
)

SHARED = Path(
    os.environ.get("MRSPIPE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


# -- synthetic spectra with known peak positions ------------------------------------------------
def brain(
    offset=0.0, *, cf=123.2, n=2048, dwell=2.5e-4, water=20.0, noise=0.02, rng=None, te=0.03, tr=2.0
):
    """NAA/Cr/Cho singlets (+ residual water), every peak moved by ``offset`` ppm."""
    t = np.arange(n) * dwell
    peaks = [(2.008, 3.0), (3.027, 2.4), (3.20, 1.5), (4.68, water)]
    fid = sum(a * np.exp(2j * np.pi * (d + offset - 4.65) * cf * t) for d, a in peaks)
    fid = fid * np.exp(-np.pi * 5.0 * t)
    if rng is not None:
        fid = fid + noise * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    return MRSData(
        fids=fid, dwell_time=dwell, spectrometer_frequency=cf, echo_time=te, repetition_time=tr
    )


@pytest.mark.parametrize("offset", [-0.25, -0.05, 0.0, 0.12, 0.3])
def test_ppm_offset_estimated_from_metabolites(offset, rng):
    found = estimate_ppm_offset(brain(offset, rng=rng))
    assert found is not None and found[1] == "metabolites"
    assert found[0] == pytest.approx(offset, abs=0.01)
    findings = check_ppm_reference(brain(offset, rng=rng))
    flagged = [f for f in findings if f.check == "ppm_reference" and f.level == "warning"]
    assert bool(flagged) == (abs(offset) > 0.1)


@pytest.mark.parametrize("offset", [-0.2, 0.0, 0.15])
def test_ppm_offset_of_water_reference(offset, rng):
    ref = brain(offset, water=5000.0, rng=rng)
    found = estimate_ppm_offset(ref, role="mrsref")
    assert found is not None and found[1] == "water"
    assert found[0] == pytest.approx(offset, abs=0.01)
    warned = [f for f in check_ppm_reference(ref, role="mrsref") if f.level == "warning"]
    assert bool(warned) == (abs(offset) > 0.13)


def test_noise_only_is_not_judged(rng):
    noise = MRSData(
        fids=rng.standard_normal(1024) + 1j * rng.standard_normal(1024),
        dwell_time=2.5e-4,
        spectrometer_frequency=123.2,
        echo_time=0.03,
    )
    assert estimate_ppm_offset(noise) is None
    assert [f.level for f in check_mrs(noise)] == ["info"]


def test_flipped_spectrum_is_an_error(rng):
    data = brain(rng=rng)
    assert not [f for f in check_mrs(data) if f.level != "info"]
    flipped = dataclasses.replace(data, fids=np.conj(data.fids))
    errors = [f for f in check_mrs(flipped) if f.level == "error"]
    assert [f.check for f in errors] == ["orientation"]


@pytest.mark.parametrize(
    ("te", "tr", "cf", "dwell", "expected"),
    [
        (0.03, 2.0, 123.2, 2.5e-4, []),
        (30.0, 2.0, 123.2, 2.5e-4, [("error", "echo_time")]),
        (0.03, 2000.0, 123.2, 2.5e-4, [("error", "repetition_time")]),
        (3e-5, 2.0, 123.2, 2.5e-4, [("warning", "echo_time")]),
        (0.03, 0.002, 123.2, 2.5e-4, [("warning", "repetition_time")]),
        (0.08, 0.05, 123.2, 2.5e-4, [("error", "repetition_time")]),
        (0.03, 2.0, 123.2e6, 2.5e-4, [("error", "frequency")]),
        (0.03, 2.0, 123.2, 0.25, [("warning", "dwell_time")]),
        (None, 2.0, 123.2, 2.5e-4, [("warning", "echo_time")]),
    ],
)
def test_timing_units(te, tr, cf, dwell, expected):
    data = MRSData(
        fids=np.ones(64, complex),
        dwell_time=dwell,
        spectrometer_frequency=cf,
        echo_time=te,
        repetition_time=tr,
    )
    assert [(f.level, f.check) for f in check_timing(data)] == expected


def test_check_reference_and_logging(rng, caplog):
    data = brain(rng=rng)
    assert [f.check for f in check_reference(data, None)] == ["water_reference"]
    ref = brain(water=5000.0, rng=rng)
    assert check_reference(data, ref) == []
    other = dataclasses.replace(ref, dwell_time=5e-4)
    assert len(check_reference(data, other)) == 1
    assert len(check_reference(data, data)) == 1  # water-suppressed data as a reference
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        check_mrs(dataclasses.replace(data, echo_time=35.0), label="scan.rda")
    assert "scan.rda: ERROR: echo time 35 s" in caplog.text
    with pytest.raises(ConfigError, match="unknown checks"):
        check_mrs(data, checks=["nope"])


# -- detection, grouping, tag repair: no spec2nii needed ----------------------------------------
def _touch(path: Path, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


DICOM_BYTES = b"\0" * 128 + b"DICM" + b"\0" * 16


def test_detect_vendor_kind(tmp_path):
    cases = {
        "a.dat": "twix",
        "a.rda": "rda",
        "a.IMA": "dicom",
        "a.dcm": "dicom",
        "b.SDAT": "philips",
        "b.spar": "philips",
        "c.data": "philips_dl",
        "c.list": "philips_dl",
        "P12345.7": "ge",
        "x.nii.gz": None,
        "x.nii": None,
        "notes.txt": None,
    }
    for name, kind in cases.items():
        assert detect_vendor_kind(_touch(tmp_path / name)) == kind, name
    assert detect_vendor_kind(_touch(tmp_path / "IM_0001", DICOM_BYTES)) == "dicom"
    bruker = tmp_path / "bruker" / "5"
    for name in ("method", "acqp", "fid"):
        _touch(bruker / name)
    assert detect_vendor_kind(bruker) == "bruker"
    assert detect_vendor_kind(bruker / "fid") == "bruker"
    series = tmp_path / "series"
    for i in range(3):
        _touch(series / f"MR.{i}", DICOM_BYTES)
    assert detect_vendor_kind(series) == "dicom"
    _touch(series / "readme.txt")
    assert detect_vendor_kind(series) is None  # mixed folder: files one by one


def test_find_vendor_sources_groups_pairs_and_series(tmp_path):
    _touch(tmp_path / "p" / "scan.SDAT")
    _touch(tmp_path / "p" / "scan.SPAR")
    _touch(tmp_path / "p" / "notes.txt")
    for i in range(4):
        _touch(tmp_path / "dcm" / "series1" / f"{i}.IMA", DICOM_BYTES)
    _touch(tmp_path / "dcm" / "single" / "one.dcm", DICOM_BYTES)
    _touch(tmp_path / "r.rda")
    sources, unknown = find_vendor_sources([tmp_path])
    found = {(p.relative_to(tmp_path).as_posix(), k) for p, k in sources}
    assert found == {
        ("p/scan.SDAT", "philips"),
        ("dcm/series1", "dicom"),
        ("dcm/single/one.dcm", "dicom"),
        ("r.rda", "rda"),
    }
    assert unknown == [tmp_path / "p" / "notes.txt"]


def test_missing_spec2nii_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "spec2nii", None)  # import spec2nii -> ImportError
    path = _touch(tmp_path / "a.rda")
    with pytest.raises(MissingExtraError) as info:
        load_vendor(path)
    assert 'pip install "mrspipe[vendor]"' in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(MissingExtraError):
        load_mrs(path)  # the load_mrs hook dispatches vendor files


def _with_tags(tmp_path, rng, tags, shape=(3, 4, 64)):
    import nibabel as nib

    fids = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    data = MRSData(
        fids=fids,
        dims=("dyn", "user_0"),
        dwell_time=2.5e-4,
        spectrometer_frequency=123.2,
        echo_time=0.03,
    )
    path = save_mrs(data, tmp_path / "t.nii.gz")
    img = nib.load(path)
    ext = img.header.extensions[0]
    hdr = json.loads(ext.get_content())
    hdr.update({f"dim_{5 + i}": t for i, t in enumerate(tags)})
    hdr["dim_6_header"] = {"Bval": [0, 1, 2, 3]}
    new = nib.Nifti2Image(np.asanyarray(img.dataobj), img.affine, header=img.header)
    new.header.extensions.clear()
    new.header.extensions.append(nib.nifti1.Nifti1Extension(44, json.dumps(hdr).encode()))
    nib.save(new, path)
    return path, fids


def test_fix_dim_tags_merges_two_dyn_axes(tmp_path, rng):
    path, fids = _with_tags(tmp_path, rng, ["DIM_DYN", "DIM_DYN"])
    with pytest.raises(MRSFormatError, match="used twice"):
        load_mrs(path)
    notes = fix_dim_tags(path)
    assert len(notes) == 1 and "merged" in notes[0]
    fixed = load_mrs(path)
    assert fixed.dims == ("dyn",) and fixed.shape == (12, 64)
    # transient a + 3 b is (dyn a, second-dyn b): the first dimension varies fastest
    a, b = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    np.testing.assert_allclose(fixed.fids[(a + 3 * b).ravel()], fids.reshape(12, 64), rtol=1e-6)
    assert fix_dim_tags(path) == []  # nothing left to fix


def test_fix_dim_tags_refuses_ambiguous_tags(tmp_path, rng):
    path, _ = _with_tags(tmp_path, rng, ["DIM_COIL", "DIM_COIL"])
    with pytest.raises(MRSFormatError, match="repeated"):
        fix_dim_tags(path)


# -- real vendor files (third-party data; each converted once per module) -----------------------
@pytest.fixture(scope="module")
def convert():
    """Convert a file of ../shared/data once per module: ``convert(relative_path)``."""
    pytest.importorskip("spec2nii")
    if not SHARED.is_dir():
        pytest.skip(f"third-party data not found at {SHARED}")
    cache: dict[str, list] = {}

    def get(rel: str):
        if rel not in cache:
            cache[rel] = load_vendor_parts(SHARED / rel)
        return cache[rel]

    return get


#: file -> (n_points, MHz, TE s, number of parts)
REAL = {
    "osprey/philips_press35/sub-01_PRESS_35_act.sdat": (2048, 127.75, 0.035, 1),
    "osprey/philips_press35/sub-01_PRESS_35_ref.spar": (2048, 127.75, 0.035, 1),
    "osprey/philips_press35/sub-02_PRESS_35_act.sdat": (2048, 127.75, 0.035, 1),
    "spant/philips_spar_sdat_WS.SDAT": (1024, 127.786, 0.030, 1),
    "suspect/siemens/SVS_30.rda": (1024, 123.2347, 0.030, 1),
    "suspect/siemens/SVS_30.IMA": (1024, 123.2347, 0.030, 1),
    "suspect/siemens/SVS_XA60.dcm": (1024, 123.255, 0.030, 1),
    "suspect/philips_dicom/MRSshortTELN_401_IM-0001-0002.dcm": (1024, 63.896, 0.0319, 2),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("rel", list(REAL))
def test_real_vendor_files_convert_and_load(rel, convert, shared_data, tmp_path):
    n_points, mhz, te, n_parts = REAL[rel]
    parts = convert(rel)
    assert len(parts) == n_parts
    data = parts[0].data
    assert data.n_points == n_points
    assert data.spectrometer_frequency == pytest.approx(mhz, abs=2e-3)
    assert data.echo_time == pytest.approx(te, abs=5e-4)
    assert data.source == str(shared_data / rel)
    assert not [f for p in parts for f in p.findings if f.level == "error"]
    out = save_mrs(data, tmp_path / "x.nii.gz", validate=True)  # the nifti-mrs validator
    np.testing.assert_allclose(load_mrs(out).fids, data.fids, rtol=1e-6)


def _peak_ppm(data: MRSData, lo: float, hi: float) -> float:
    spec = np.abs(data.spectrum().reshape(-1, data.n_points).mean(axis=0))
    ppm = data.ppm
    idx = np.flatnonzero((ppm > lo) & (ppm < hi))
    i = idx[np.argmax(spec[idx])]
    a, b, c = spec[i - 1], spec[i], spec[i + 1]
    return float(ppm[i] + 0.5 * (a - c) / (a - 2 * b + c) * (ppm[1] - ppm[0]))


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "rel",
    [
        "osprey/philips_press35/sub-01_PRESS_35_act.sdat",
        "osprey/philips_press35/sub-02_PRESS_35_act.sdat",
        "suspect/siemens/SVS_30.rda",
        "suspect/siemens/SVS_30.IMA",
    ],
)
def test_brain_spectra_show_naa_at_2_01(rel, convert, shared_data):
    data = convert(rel)[0].data
    assert convert(rel)[0].role == "svs"
    assert _peak_ppm(data, 1.85, 2.2) == pytest.approx(2.01, abs=0.05)


@pytest.mark.shared_data
def test_water_references(convert, shared_data):
    ref = convert("osprey/philips_press35/sub-01_PRESS_35_ref.spar")[0]
    assert ref.role == "mrsref"  # judged by content: the name says nothing
    assert 4.6 < _peak_ppm(ref.data, 4.2, 5.2) < 4.75
    dicom = convert("suspect/philips_dicom/MRSshortTELN_401_IM-0001-0002.dcm")
    assert [(p.name, p.role) for p in dicom] == [("", "svs"), ("ref", "mrsref")]
    assert 4.6 < _peak_ppm(dicom[1].data, 4.2, 5.2) < 4.75
    # the 1.5 T QA phantom reads 0.19 ppm low: flagged, not refused
    offsets = [f.value for f in dicom[0].findings if f.check == "ppm_reference"]
    assert offsets and offsets[0] == pytest.approx(-0.19, abs=0.03)


@pytest.mark.shared_data
def test_siemens_rda_and_dicom_hold_the_same_fid(convert, shared_data):
    rda = convert("suspect/siemens/SVS_30.rda")[0].data
    ima = convert("suspect/siemens/SVS_30.IMA")[0].data
    # the DICOM conversion keeps a length-1 DIM_DYN axis; the RDA one has none
    assert ima.fids.size == rda.fids.size
    np.testing.assert_allclose(
        ima.fids.reshape(rda.fids.shape), rda.fids, rtol=1e-6, atol=1e-6 * np.abs(rda.fids).max()
    )


@pytest.mark.shared_data
def test_philips_sdat_matches_nifti_of_the_dwmrs_set(convert, shared_data):
    sdat = convert("dwmrs_pregame2021/synthetic/SyntheticData_DWS_b9_nsa32_raw_act.SDAT")
    assert len(sdat) == 1
    data = sdat[0].data
    assert data.dims == ("dyn",) and data.shape == (288, 1024)
    nifti = load_mrs(shared_data / "dwmrs_pregame2021/synthetic/synthetic.nii.gz")
    assert nifti.dims == ("dyn", "user_0") and nifti.shape == (32, 9, 1024)
    # SDAT rows are (rep1,b1)...(rep1,b9),(rep2,b1)...: row r = 9 * rep + b
    rows = data.fids.reshape(32, 9, 1024)
    scale = np.abs(nifti.fids).max()
    assert np.abs(rows - nifti.fids).max() / scale < 1e-6
    assert data.dwell_time == pytest.approx(nifti.dwell_time, rel=1e-9)
    assert data.spectrometer_frequency == pytest.approx(nifti.spectrometer_frequency, rel=1e-9)
    offset, basis = estimate_ppm_offset(data)
    assert basis == "metabolites" and abs(offset) < 0.02


@pytest.mark.shared_data
def test_load_mrs_dispatches_vendor_files(convert, shared_data):
    pytest.importorskip("spec2nii")
    data = load_mrs(shared_data / "spant/philips_spar_sdat_WS.SPAR")  # either file of the pair
    expected = convert("spant/philips_spar_sdat_WS.SDAT")[0].data
    np.testing.assert_array_equal(data.fids, expected.fids)


@pytest.mark.shared_data
def test_unconvertible_file_is_a_clean_error(convert, shared_data, tmp_path):
    bad = tmp_path / "broken.rda"
    bad.write_text("not an RDA file\n")
    with pytest.raises(MRSFormatError, match="spec2nii rda could not convert"):
        load_vendor(bad)
    lonely = tmp_path / "lonely.SDAT"
    lonely.write_bytes(b"\0" * 64)
    with pytest.raises(MRSFormatError, match="SPAR"):
        load_vendor(lonely)


def test_conversion_pipeline_with_a_stand_in_converter(tmp_path, rng, monkeypatch):
    """Everything after spec2nii (roles, tag repair, checks, strictness) on files we write."""
    import mrspipe.io.vendor as vendor

    def fake_spec2nii(args, out_dir, source, timeout):
        fids = np.stack([brain(rng=rng).fids] * 6).reshape(2, 3, -1)
        bad = MRSData(
            fids=fids,
            dims=("dyn", "user_0"),
            dwell_time=2.5e-4,
            spectrometer_frequency=123.2,
            echo_time=30.0,
            repetition_time=2.0,
        )
        save_mrs(bad, out_dir / "data.nii.gz")
        save_mrs(brain(water=5000.0, rng=rng), out_dir / "data_ref.nii.gz")
        path, _ = _with_tags(out_dir / "tags", rng, ["DIM_DYN", "DIM_DYN"])
        os.replace(path, out_dir / "data_ref2.nii.gz")  # a second reference with repeated tags
        return ["a note from the driver"]

    monkeypatch.setattr(vendor, "_require_spec2nii", lambda: None)
    monkeypatch.setattr(vendor, "_run_spec2nii", fake_spec2nii)
    source = _touch(tmp_path / "scan.rda")
    with pytest.raises(MRSFormatError, match="echo time 30 s"):
        load_vendor_parts(source)
    parts = load_vendor_parts(source, strict=False)
    assert [(p.name, p.role) for p in parts] == [("", "svs"), ("ref", "mrsref"), ("ref2", "mrsref")]
    assert parts[0].data.dims == ("dyn", "user_0") and parts[2].data.dims == ("dyn",)
    assert [f.check for f in parts[0].findings if f.level == "error"] == ["echo_time"]
    assert any("merged" in f.message for f in parts[2].findings)
    assert all(p.data.source == str(source) for p in parts)
    assert load_vendor(source, check=False)[0].shape == (2, 3, 2048)
