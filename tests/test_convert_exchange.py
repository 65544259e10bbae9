"""Conversion of real Siemens twix / CSA DICOM (pastis) and the LCModel / jMRUI text formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mrspipe.cli import main
from mrspipe.errors import MRSFormatError
from mrspipe.io.nifti_mrs import load_mrs
from mrspipe.io.sanity import check_orientation
from mrspipe.io.tables import read_table
from mrspipe.io.text_data import load_text_data
from mrspipe.preprocess.measure import peak_position

CHALLENGE = "ismrm2016_fitting_challenge"


def _peak(data, lo, hi):
    mean = data.fids.reshape(-1, data.n_points).mean(0)
    if data.fids.ndim > 1:  # coils: magnitude-safe, average |spectrum| peak position
        mean = data.fids.reshape(-1, data.n_points)[0]
    return float(
        peak_position(
            mean,
            data.dwell_time,
            data.spectrometer_frequency,
            data.ppm_reference,
            peak_range=(lo, hi),
        )
    )


@pytest.mark.shared_data
def test_twix_converts_without_no_check(shared_data, tmp_path):
    pytest.importorskip("spec2nii")
    pytest.importorskip("mapvbvd")
    src = sorted((shared_data / "pastis_twix").glob("*.dat"))
    assert main(["convert", *map(str, src), "--out", str(tmp_path)]) == 0
    table = read_table(tmp_path / "conversion.tsv")
    assert list(table["status"]) == ["ok", "ok"]
    assert list(table["role"]) == ["mrsref", "mrsref"]  # unsuppressed water, both TEs
    for out in table["output"]:
        data = load_mrs(out)
        # oversampling removed: the nominal 5 kHz, 4112 points (8224 raw samples at 10 kHz)
        assert data.dims == ("coil", "dyn") and data.shape == (8, 2, 4112)
        assert data.dwell_time == pytest.approx(2e-4)
        assert 4.6 < _peak(data, 4.2, 5.2) < 4.8
        finding = check_orientation(data, role="svs")
        assert [f.level for f in finding] == ["info"] and "cannot tell" in finding[0].message


@pytest.mark.shared_data
def test_dicoms_convert_with_te(shared_data, tmp_path):
    pytest.importorskip("spec2nii")
    src = str(shared_data / "pastis_twix" / "spinal_cord_sLASER_longTE_WS.dcm")
    assert main(["convert", src, "--out", str(tmp_path / "a")]) == 1  # TE 4.2 s refused
    assert main(["convert", src, "--out", str(tmp_path / "b"), "--te", "0.042"]) == 0
    table = read_table(tmp_path / "b" / "conversion.tsv")
    assert "overrides the header's" in table["message"][0]
    data = load_mrs(table["output"][0])
    assert data.echo_time == pytest.approx(0.042)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("rel", "args"),
    [
        (
            f"{CHALLENGE}/datasets_LCModel/dataset1.RAW",
            ["--dwell", "2.5e-4", "--frequency", "123.2"],
        ),
        (f"{CHALLENGE}/datasets_text/dataset3.txt", ["--dwell", "2.5e-4", "--frequency", "123.2"]),
        (f"{CHALLENGE}/datasets_JMRUI/dataset5_WS.txt", []),
        ("lcmodel_test/data.raw", []),  # dwell and field from control.file beside it
    ],
)
def test_text_data_convert_and_load_with_naa_at_2_01(rel, args, shared_data, tmp_path):
    assert main(["convert", str(shared_data / rel), "--out", str(tmp_path), *args]) == 0
    table = read_table(tmp_path / "conversion.tsv")
    main_out = table[table["role"] == "svs"]["output"].iloc[0]
    data = load_mrs(main_out)
    assert _peak(data, 1.85, 2.2) == pytest.approx(2.01, abs=0.03)
    if rel.endswith("dataset3.txt"):  # the water column comes out as the reference
        ref = load_mrs(table[table["role"] == "mrsref"]["output"].iloc[0])
        assert 4.5 < _peak(ref, 4.2, 5.2) < 4.8


@pytest.mark.shared_data
def test_text_data_needs_dwell_and_frequency(shared_data, tmp_path):
    raw = shared_data / CHALLENGE / "datasets_LCModel" / "dataset1.H2O"
    with pytest.raises(MRSFormatError, match="--dwell"):
        load_text_data(raw)
    with pytest.raises(MRSFormatError, match="--frequency"):
        load_text_data(raw, dwell_time=2.5e-4)
    assert main(["convert", str(raw), "--out", str(tmp_path)]) == 1
    parts = load_text_data(
        shared_data / CHALLENGE / "datasets_JMRUI" / "dataset1_nWS.txt",
        spectrometer_frequency=123.2,
    )
    assert parts[0].role == "mrsref"
    assert parts[0].data.spectrometer_frequency == 123.2  # given value wins, noted
    assert any("overrides 123.22" in n for n in parts[0].notes)


def test_text_formats_round_trip(tmp_path, rng):
    """A plain Re/Im text file (LCModel handedness) reads as the conjugate, 4 columns = 2 FIDs."""
    fid = rng.standard_normal(64) + 1j * rng.standard_normal(64)
    water = rng.standard_normal(64) + 1j * rng.standard_normal(64)
    cols = np.column_stack([fid.real, fid.imag, water.real, water.imag])
    path = tmp_path / "x.txt"
    np.savetxt(path, cols)
    parts = load_text_data(path, dwell_time=1e-3, spectrometer_frequency=100.0, echo_time=0.03)
    assert [p.name for p in parts] == ["", "ref"]
    np.testing.assert_allclose(parts[0].data.fids, np.conj(fid))
    np.testing.assert_allclose(parts[1].data.fids, np.conj(water))
    assert parts[0].data.echo_time == 0.03
    with pytest.raises(MRSFormatError, match="missing.txt: no such file"):
        load_text_data(Path(tmp_path / "missing.txt"))
