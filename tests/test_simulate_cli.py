"""``mrspipe simulate {basis,spectra,study}`` through cli.main."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mrspipe.cli import main
from mrspipe.io.bids import find_sessions
from mrspipe.io.nifti_mrs import load_mrs


def test_simulate_spectra_writes_nifti_and_truth(tmp_path, capsys):
    out = tmp_path / "s.nii.gz"
    rc = main(
        [
            "simulate",
            "spectra",
            "--frames",
            "3",
            "--points",
            "512",
            "--conc",
            "NAA=12,Cr=8",
            "--noise-sd",
            "0.5",
            "--shift-sd",
            "1",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    data = load_mrs(out)
    assert data.fids.shape == (3, 512) and data.echo_time == pytest.approx(0.03)
    truth = json.loads((tmp_path / "s_truth.json").read_text())
    assert truth["names"] == ["NAA", "Cr"] and truth["noise_sd"] == 0.5
    assert np.asarray(truth["concentrations"]).tolist() == [[12.0, 8.0]] * 3
    ppm = data.ppm[np.argmax(np.abs(data.spectrum()).mean(axis=0))]
    assert abs(ppm - 2.01) < 0.05  # NAA after the NIfTI-MRS round trip
    assert main(["simulate", "spectra", "--out", str(out)]) == 2  # refuses to overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_simulate_study_cli(tmp_path, capsys):
    out = tmp_path / "study"
    rc = main(
        [
            "simulate",
            "study",
            "--out",
            str(out),
            "--participants",
            "2",
            "--transients",
            "4",
            "--points",
            "256",
            "--seed",
            "1",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert len(find_sessions(out)) == 4
    assert (out / "truth.json").is_file()
    assert main(["simulate", "study", "--out", str(out), "--participants", "2"]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "basis", "--metabolites", "Glu,Foo", "--out", "X"],
        ["simulate", "basis", "--sequence", "press", "--te", "0.03", "--te1", "0.05", "--out", "X"],
        ["simulate", "basis", "--field-mhz", "0", "--out", "X"],
        ["simulate", "spectra", "--conc", "NAA:3", "--out", "X.nii.gz"],
        ["simulate", "spectra", "--sequence", "steam", "--out", "X.nii.gz"],
    ],
)
def test_bad_input_exits_2_without_traceback(tmp_path, capsys, argv):
    argv = [a.replace("X", str(tmp_path / "x")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


def test_simulate_basis_cli_writes_with_io_basis(tmp_path, capsys):
    io_basis = pytest.importorskip("mrspipe.io.basis")
    out = tmp_path / "basis"
    rc = main(
        [
            "simulate",
            "basis",
            "--sequence",
            "slaser",
            "--te",
            "0.035",
            "--field-mhz",
            "297.2",
            "--dwell",
            "1.6667e-4",
            "--points",
            "1024",
            "--metabolites",
            "NAA,Glu,Cr",
            "--format",
            "fsl",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    basis = io_basis.load_basis(out)
    assert sorted(basis.names) == ["Cr", "Glu", "NAA"]
