import numpy as np
from test_preprocess_sim import simulate_session

from mrspipe.cli import main
from mrspipe.data import MRSData
from mrspipe.io.nifti_mrs import load_mrs, save_mrs
from mrspipe.io.tables import read_json, read_table


def _write_session(rng, tmp_path, n=48):
    data, truth = simulate_session(rng, n_transients=n, snr=10.0, tr=2.0)
    path = save_mrs(data, tmp_path / "sub-01_ses-1_svs.nii.gz")
    return path, truth


def test_preproc_writes_valid_outputs(rng, tmp_path, capsys):
    path, truth = _write_session(rng, tmp_path)
    out = tmp_path / "out"
    assert main(["preproc", str(path), "--out", str(out), "--block", "8"]) == 0
    frames = load_mrs(out / "sub-01_ses-1_svs_preproc.nii.gz")  # validated when written
    assert frames.shape == (6, 2048)
    np.testing.assert_allclose(frames.frame_times, np.arange(6) * 16.0 + 7.0)
    steps = frames.header["ProcessingApplied"]
    assert [s["Method"] for s in steps][-1] == "Signal averaging"
    table = read_table(out / "qc_transients.tsv")
    assert list(table.columns[:7]) == [
        "transient",
        "time_s",
        "shift_hz",
        "phase_rad",
        "snr",
        "fwhm_hz",
        "rejected",
    ]
    assert len(table) == 48
    err = table["shift_hz"].to_numpy() - truth["shift_hz"]
    assert np.sqrt(np.mean((err - err.mean()) ** 2)) < 0.35
    sidecar = read_json(out / "qc_transients.json")
    assert sidecar["shift_hz"]["Units"] == "Hz"
    png = (out / "qc_preproc.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "48 transients" in capsys.readouterr().out


def test_nifti_mrs_validator_accepts_the_output(rng, tmp_path):
    from nifti_mrs.nifti_mrs import NIFTI_MRS  # the validator (test dependency)

    path, _ = _write_session(rng, tmp_path, n=16)
    out = tmp_path / "o"
    assert (
        main(
            [
                "preproc",
                str(path),
                "--out",
                str(out),
                "--window",
                "8",
                "--step",
                "4",
                "--save-transients",
            ]
        )
        == 0
    )
    for name in ("sub-01_ses-1_svs_preproc.nii.gz", "sub-01_ses-1_svs_transients.nii.gz"):
        NIFTI_MRS(str(out / name))  # raises on an invalid file


def test_refuses_to_overwrite_and_reports_bad_input(rng, tmp_path, capsys):
    path, _ = _write_session(rng, tmp_path, n=16)
    out = tmp_path / "o"
    assert main(["-q", "preproc", str(path), "--out", str(out)]) == 0
    assert main(["-q", "preproc", str(path), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["-q", "preproc", str(path), "--out", str(out), "--overwrite"]) == 0
    water = MRSData(np.ones((2, 1024), complex), 2.5e-4, 123.2, dims=("dyn",))
    wpath = save_mrs(water, tmp_path / "water.nii.gz")
    # -q: the CLI's log handler may still point at an earlier test's captured stderr
    assert (
        main(["-q", "preproc", str(path), "--water", str(wpath), "--out", str(out), "--overwrite"])
        == 2
    )
    err = capsys.readouterr().err
    assert "water.nii.gz" in err and "1024 points" in err and "Traceback" not in err
