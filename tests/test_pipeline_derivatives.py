"""The derivatives layout and the fingerprints that make runs resumable."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from mrspipe.errors import MRSFormatError
from mrspipe.io import derivatives as deriv
from mrspipe.io.tables import read_json, read_table


def test_session_paths(tmp_path: Path) -> None:
    a = deriv.session_paths(tmp_path, "sub-01", "ses-2")
    b = deriv.session_paths(tmp_path, "01", "2")
    assert a == b and a.folder == tmp_path / "sub-01" / "ses-2"
    assert a.preprocessed.name == "sub-01_ses-2_desc-preproc_svs.nii.gz"
    assert a.table("fits") == a.folder / "sub-01_ses-2_desc-fit_estimates.tsv"
    assert a.table("qc_transients").name == "sub-01_ses-2_desc-transients_qc.tsv"
    assert a.table("other_table").name == "sub-01_ses-2_desc-othertable_mrs.tsv"
    assert a.figure("fit").name == "sub-01_ses-2_desc-fit_svs.png"
    single = deriv.session_paths(tmp_path, "sub-07", None)
    assert single.folder == tmp_path / "sub-07" and single.prefix == "sub-07"


def test_fingerprint_trusts_mtime_then_contents(tmp_path: Path) -> None:
    f = tmp_path / "a.nii.gz"
    f.write_bytes(b"12345")
    record = deriv.file_fingerprint(f)
    assert record["size"] == 5 and len(record["sha256"]) == 64
    assert deriv.fingerprint_matches(record, f)
    os.utime(f, ns=(1, 1))  # touched, same contents
    assert deriv.fingerprint_matches(record, f)
    copy = tmp_path / "b.nii.gz"
    copy.write_bytes(b"12345")  # moved/copied: same contents elsewhere
    assert deriv.fingerprint_matches(record, copy)
    f.write_bytes(b"12346")  # same size, other contents
    assert not deriv.fingerprint_matches(record, f)
    assert not deriv.fingerprint_matches(record, tmp_path / "missing")
    assert not deriv.fingerprint_matches(None, copy)


def test_folder_fingerprint_covers_names_and_contents(tmp_path: Path) -> None:
    basis = tmp_path / "basis"
    basis.mkdir()
    (basis / "NAA.json").write_text("1")
    (basis / "Cr.json").write_text("2")
    one = deriv.file_fingerprint(basis)
    assert one["size"] == 2
    (basis / "Cr.json").rename(basis / "PCr.json")
    assert deriv.file_fingerprint(basis)["sha256"] != one["sha256"]


def test_group_table_needs_contract_columns(tmp_path: Path) -> None:
    df = pd.DataFrame({"metabolite": ["Glu"], "analysis": ["paired"], "extra": [1]})
    with pytest.raises(MRSFormatError, match="lacks columns"):
        deriv.write_group_table(tmp_path, "stats", df)
    columns = deriv.GROUP_TABLES["stats"][0]
    full = pd.DataFrame({"extra": [1], **{c: [0] for c in columns}})
    path = deriv.write_group_table(tmp_path, "stats", full, extra={"Design": {"a": 1}})
    assert list(read_table(path).columns) == [*columns, "extra"]  # contract columns first
    side = read_json(path.with_suffix(".json"))
    assert side["Design"] == {"a": 1} and "Description" in side["p_value"]


def test_errors_table_written_and_removed(tmp_path: Path) -> None:
    rows = [{"participant_id": "sub-01", "session_id": None, "step": "fit", "error": "x"}]
    path = deriv.write_errors(tmp_path, rows)
    assert path is not None and read_table(path)["session_id"].isna().all()
    assert deriv.write_errors(tmp_path, []) is None and not path.exists()


def test_output_folder_recognition(tmp_path: Path) -> None:
    assert deriv.is_output_folder(tmp_path / "new")
    assert deriv.is_output_folder(tmp_path)  # empty
    (tmp_path / "notes.txt").write_text("x")
    assert not deriv.is_output_folder(tmp_path)
    deriv.write_run_info(tmp_path, {"n_sessions": 1}, version="0.0")
    assert deriv.is_output_folder(tmp_path)
    assert read_json(tmp_path / "run.json") == {"n_sessions": 1}
    assert not deriv.is_output_folder(tmp_path / "notes.txt")


def test_unreadable_manifest_means_recompute(tmp_path: Path) -> None:
    paths = deriv.session_paths(tmp_path, "sub-01", "ses-1")
    assert deriv.read_done(paths) is None
    paths.folder.mkdir(parents=True)
    paths.done.write_text("{not json")
    assert deriv.read_done(paths) is None
    deriv.write_done(paths, {"fit_key": "abc"})
    assert deriv.read_done(paths) == {"fit_key": "abc"}


def test_preprocessed_frames_stored_in_the_precision_asked(tmp_path: Path) -> None:
    """Frames averaged in double from single-precision transients are written as complex64
    (the input's precision: each value rounded once); without a dtype, as they are."""
    import numpy as np

    from mrspipe.data import MRSData
    from mrspipe.io.nifti_mrs import load_mrs

    rng = np.random.default_rng(3)
    fids = rng.standard_normal((4, 256)) + 1j * rng.standard_normal((4, 256))
    frames = MRSData(fids, 2.5e-4, 123.2, dims=("dyn",), frame_times=np.arange(4) * 32.0)
    paths = deriv.session_paths(tmp_path, "sub-01", "ses-1")
    paths.folder.mkdir(parents=True)
    deriv.save_preprocessed(paths, frames, dtype=np.complex64)
    single = load_mrs(paths.preprocessed)
    assert single.fids.dtype == np.complex64
    np.testing.assert_array_equal(single.fids, fids.astype(np.complex64))
    # a stored (level 0) gzip stream, the same bytes for the same frames
    import gzip

    written = paths.preprocessed.read_bytes()
    assert len(written) >= len(gzip.decompress(written)) > fids.size * 8  # not compressed
    deriv.save_preprocessed(paths, frames, dtype=np.complex64)
    assert paths.preprocessed.read_bytes() == written
    deriv.save_preprocessed(paths, frames)
    double = load_mrs(paths.preprocessed)
    assert double.fids.dtype == np.complex128
    np.testing.assert_array_equal(double.fids, fids)
