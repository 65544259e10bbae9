"""``mrspipe info`` on NIfTI-MRS files and basis sets, and its one-line errors (exit 2)."""

from __future__ import annotations

import json
import re

import nibabel as nib
import numpy as np
import pytest

from mrspipe.cli import main
from mrspipe.data import Basis, MRSData
from mrspipe.io.basis import save_basis
from mrspipe.io.nifti_mrs import save_mrs


def _basis() -> Basis:
    t = np.arange(512) * 2.5e-4
    fids = np.array([np.exp(2j * np.pi * (d - 4.65) * 123.2 * t - 10 * t) for d in (2.01, 3.03)])
    return Basis(("NAA", "Cr"), fids, 2.5e-4, 123.2, echo_time=0.03)


def test_info_nifti(tmp_path, capsys, rng):
    fids = (rng.standard_normal((4, 64)) + 1j * rng.standard_normal((4, 64))).astype(complex)
    path = save_mrs(
        MRSData(fids, 5e-4, 123.2, dims=("dyn",), repetition_time=2.0), tmp_path / "d.nii.gz"
    )
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "dyn" in out and "123.200000 MHz" in out and "transients   4 over 6.0 s" in out


@pytest.mark.parametrize("fmt", ["fsl", "lcmodel"])
def test_info_basis(tmp_path, capsys, fmt):
    path = save_basis(_basis(), tmp_path / ("b" if fmt == "fsl" else "b.BASIS"), format=fmt)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "metabolites  2: NAA, Cr" in out
    assert "points       512" in out
    assert "0.00025 s" in out and "123.200000 MHz" in out and "TE           0.03 s" in out


def test_info_text_basis_needs_and_takes_dwell_and_field(tmp_path, capsys):
    np.savetxt(tmp_path / "NAA.txt", np.ones((32, 2)))
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dwell_time=" in err[0]
    assert main(["info", str(tmp_path), "--dwell-time", "2.5e-4", "--field", "123.2"]) == 0
    assert "metabolites  1: NAA" in capsys.readouterr().out


@pytest.mark.shared_data
def test_info_on_shared_basis_and_file(shared_data, capsys):
    basis = shared_data / "dwmrs_pregame2021/synthetic/basis_STEAM_TE45_TM60.BASIS"
    nifti = shared_data / "dwmrs_pregame2021/synthetic/synthetic.nii.gz"
    assert main(["info", str(basis), str(nifti)]) == 0
    out = capsys.readouterr().out
    assert "metabolites  19:" in out and "298.059998 MHz" in out
    assert "user_0       9  Diffusion weighting  header keys: Bval" in out


def _bad_files(tmp_path, rng):
    arr = (rng.standard_normal((1, 1, 1, 64, 8)) + 1j).astype(np.complex64)
    good = nib.Nifti2Image(arr, np.eye(4))
    good.header.set_intent("none", name="mrs_v0_2")
    hdr = {"SpectrometerFrequency": [123.2], "ResonantNucleus": ["1H"], "dim_5": "DIM_DYN"}
    good.header.extensions.append(nib.nifti1.Nifti1Extension(44, json.dumps(hdr).encode()))
    nib.save(good, tmp_path / "good.nii.gz")
    raw = (tmp_path / "good.nii.gz").read_bytes()
    (tmp_path / "truncated.nii.gz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "text.nii.gz").write_text("not nifti")
    nib.save(nib.Nifti2Image(arr, np.eye(4)), tmp_path / "noext.nii.gz")
    real = nib.Nifti2Image(arr.real.copy(), np.eye(4))
    real.header.extensions.append(nib.nifti1.Nifti1Extension(44, json.dumps(hdr).encode()))
    nib.save(real, tmp_path / "real.nii.gz")
    nocf = nib.Nifti2Image(arr, np.eye(4))
    nocf.header.extensions.append(
        nib.nifti1.Nifti1Extension(
            44, json.dumps({"ResonantNucleus": ["1H"], "dim_5": "DIM_DYN"}).encode()
        )
    )
    nib.save(nocf, tmp_path / "nocf.nii.gz")
    (tmp_path / "empty_folder").mkdir()
    (tmp_path / "empty_folder" / "readme.md").write_text("x")
    (tmp_path / "garbled.BASIS").write_text(" $SEQPAR\n HZPPPM = 123.2\n $END\n 1 2 3 4\n")
    return {
        "truncated.nii.gz": "truncated",
        "text.nii.gz": "not a readable NIfTI",
        "noext.nii.gz": "no NIfTI-MRS header extension",
        "real.nii.gz": "is real",
        "nocf.nii.gz": "SpectrometerFrequency",
        "empty_folder": "no basis files",
        "garbled.BASIS": "no \\$BASIS1",
        "missing.nii.gz": "no such file",
    }


def test_info_bad_input_exits_2_with_one_line(tmp_path, capsys, rng):
    for name, problem in _bad_files(tmp_path, rng).items():
        assert main(["info", str(tmp_path / name)]) == 2, name
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, (name, captured.err)
        assert "Traceback" not in captured.err
        assert name in lines[0]
        assert re.search(problem, lines[0]), (name, lines[0])


def _large_zeros_gz(tmp_path, n_dyn: int) -> tuple:
    """A consistent NIfTI-MRS .nii.gz of 2048 x ``n_dyn`` complex64 zeros, written streaming."""
    import gzip

    small = nib.Nifti2Image(np.zeros((1, 1, 1, 2048, 1), np.complex64), np.eye(4))
    small.header.set_intent("none", name="mrs_v0_2")
    hdr = {"SpectrometerFrequency": [123.2], "ResonantNucleus": ["1H"], "dim_5": "DIM_DYN"}
    small.header.extensions.append(nib.nifti1.Nifti1Extension(44, json.dumps(hdr).encode()))
    small.header.set_zooms((1.0, 1.0, 1.0, 5e-4, 1.0))
    header = small.header.copy()
    header.set_data_shape((1, 1, 1, 2048, n_dyn))
    path = tmp_path / "large.nii.gz"
    chunk = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        header.write_to(fh)
        fh.write(bytes(int(header["vox_offset"]) - fh.tell()))
        for _ in range(2048 * n_dyn * 8 // len(chunk)):
            fh.write(chunk)
    return path, 2048 * n_dyn * 8


def test_info_reads_the_header_not_the_data(tmp_path, capsys):
    """128 MiB of data in a 130 KB .nii.gz: ``info`` allocates a few MiB, not the array.

    Reading everything took 1.2 GB and 20 s for a 512 MiB file (review, issue 15); the header,
    the size check (the gzip trailer) and the first FID are enough to describe the file.
    """
    import tracemalloc

    path, n_bytes = _large_zeros_gz(tmp_path, 8192)
    assert path.stat().st_size < n_bytes / 100
    tracemalloc.start()
    try:
        assert main(["info", str(path)]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    out = capsys.readouterr().out
    assert "shape        (8192, 2048)" in out and "transients   8192" in out
    assert peak < 16 * 2**20, f"info allocated {peak / 2**20:.0f} MiB"
    # cut short (the trailer no longer matches): streamed, counted and refused in one line
    raw = path.read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(raw[: len(raw) - 1000])
    assert main(["info", str(tmp_path / "cut.nii.gz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cut.nii.gz" in err[0] and "truncated" in err[0]
