"""``mrspipe convert`` and ``mrspipe bids-init`` on copies of real vendor files."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from mrspipe.cli import main
from mrspipe.io.nifti_mrs import load_mrs
from mrspipe.io.tables import read_json, read_table

SHARED = Path(
    os.environ.get("MRSPIPE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _copy(rel: str, dest: Path, name: str | None = None) -> Path:
    """Copy a third-party file into the test's tmp folder (never into the repository)."""
    dest.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(SHARED / rel, dest / (name or Path(rel).name)))


@pytest.fixture
def vendor_data(shared_data):
    pytest.importorskip("spec2nii")
    return shared_data


def test_convert_without_vendor_data_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["convert", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "no vendor data" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.rda"), "--out", str(tmp_path / "o")]) == 2


def test_convert_without_spec2nii_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "spec2nii", None)
    (tmp_path / "a.rda").write_bytes(b"x")
    assert main(["convert", str(tmp_path / "a.rda"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert 'pip install "mrspipe[vendor]"' in err and "Traceback" not in err


@pytest.mark.shared_data
def test_convert_reports_each_file(vendor_data, tmp_path, capsys):
    raw = tmp_path / "raw"
    _copy("suspect/siemens/SVS_30.rda", raw)
    _copy("spant/philips_spar_sdat_WS.SDAT", raw / "philips")
    _copy("spant/philips_spar_sdat_WS.SPAR", raw / "philips")
    (raw / "broken.rda").write_text("not an RDA file\n")
    (raw / "notes.txt").write_text("ignored when found in a folder")
    before = _digest(raw)
    out = tmp_path / "out"

    assert main(["convert", str(raw), "--out", str(out)]) == 1  # one of three failed
    captured = capsys.readouterr()
    assert "FAILED" in captured.err and "broken.rda" in captured.err
    rda = load_mrs(out / "SVS_30.nii.gz")
    assert rda.n_points == 1024 and rda.echo_time == pytest.approx(0.03)
    ws = load_mrs(out / "philips_spar_sdat_WS.nii.gz")
    assert ws.spectrometer_frequency == pytest.approx(127.786, abs=1e-3)
    table = read_table(out / "conversion.tsv")
    status = dict(zip(table["source"].map(lambda s: Path(s).name), table["status"], strict=True))
    assert status == {"SVS_30.rda": "ok", "philips_spar_sdat_WS.SDAT": "ok", "broken.rda": "failed"}
    assert _digest(raw) == before  # inputs untouched

    # existing outputs are kept unless --overwrite
    target = raw / "SVS_30.rda"
    assert main(["convert", str(target), "--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["convert", str(target), "--out", str(out), "--overwrite"]) == 0
    np.testing.assert_array_equal(load_mrs(out / "SVS_30.nii.gz").fids, rda.fids)


MAPPING = """file\tparticipant\tsession\tcondition\tsex\trole\tinfusion_onset_s
philips/sub-01_PRESS_35_act.sdat\t01\t1\tplacebo\tF\tsvs\t600
philips/sub-01_PRESS_35_ref.s*\t01\t1\tplacebo\tF\tmrsref\t
siemens/SVS_30.rda\t01\t2\tnaltrexone\tf\t\t612.5
spant/*WS.SDAT\t02\t1\tplacebo\tM\tsvs\tn/a
"""


@pytest.mark.shared_data
def test_bids_init_builds_a_loadable_study(vendor_data, tmp_path, capsys):
    from mrspipe.commands.bids_init import bids_init

    raw = tmp_path / "raw"
    for ext in ("sdat", "spar"):
        _copy(f"osprey/philips_press35/sub-01_PRESS_35_act.{ext}", raw / "philips")
        _copy(f"osprey/philips_press35/sub-01_PRESS_35_ref.{ext}", raw / "philips")
    _copy("suspect/siemens/SVS_30.rda", raw / "siemens")
    _copy("spant/philips_spar_sdat_WS.SDAT", raw / "spant")
    _copy("spant/philips_spar_sdat_WS.SPAR", raw / "spant")
    mapping = tmp_path / "mapping.tsv"
    mapping.write_text(MAPPING)
    before = _digest(raw)
    study = tmp_path / "study"

    findings, failures = bids_init(raw, study, mapping)
    assert failures == []
    missing = sorted(f.message.split(":")[0] for f in findings if f.check == "water_reference")
    assert missing == ["sub-01_ses-2", "sub-02_ses-1"]

    participants = read_table(study / "participants.tsv")
    assert participants.to_dict("list") == {
        "participant_id": ["sub-01", "sub-02"],
        "sex": ["F", "M"],
    }
    sessions = read_table(study / "sub-01" / "sub-01_sessions.tsv")
    assert sessions.to_dict("list") == {
        "session_id": ["ses-1", "ses-2"],
        "condition": ["placebo", "naltrexone"],
    }
    mrs = study / "sub-01" / "ses-1" / "mrs"
    svs = load_mrs(mrs / "sub-01_ses-1_svs.nii.gz")
    ref = load_mrs(mrs / "sub-01_ses-1_mrsref.nii.gz")
    assert svs.n_points == ref.n_points == 2048
    assert np.abs(ref.fids).max() > 10 * np.abs(svs.fids).max()  # unsuppressed water
    events = read_table(mrs / "sub-01_ses-1_svs_events.tsv")
    assert events["onset"].tolist() == [600.0] and events["trial_type"].tolist() == ["infusion"]
    ses2 = study / "sub-01" / "ses-2" / "mrs"
    assert load_mrs(ses2 / "sub-01_ses-2_svs.nii.gz").spectrometer_frequency == pytest.approx(
        123.2347, abs=1e-3
    )
    assert read_table(ses2 / "sub-01_ses-2_svs_events.tsv")["onset"].tolist() == [612.5]
    assert not (ses2 / "sub-01_ses-2_mrsref.nii.gz").exists()
    sub2 = study / "sub-02" / "ses-1" / "mrs"
    assert sorted(p.name for p in sub2.iterdir()) == ["sub-02_ses-1_svs.nii.gz"]
    assert read_json(study / "dataset_description.json")["BIDSVersion"] == "1.10.0"
    assert _digest(raw) == before

    # an existing study is not overwritten; a bad mapping stops before any work
    assert main(["bids-init", str(raw), str(study), "--map", str(mapping)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text(MAPPING.replace("\tM\t", "\tX\t"))
    assert main(["bids-init", str(raw), str(tmp_path / "s2"), "--map", str(bad)]) == 2
    assert "row 5: sex 'X'" in capsys.readouterr().err
    assert not (tmp_path / "s2").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a.rda\t01\t1\tplacebo\tF\tsvs\t\n", "two svs files"),
        ("b.rda\t01\t1\tketamine\tF\tmrsref\t\n", "two conditions"),
        ("b.rda\t01\t2\tplacebo\tM\tsvs\t\n", "two sexes"),
        ("zz*.rda\t01\t2\tplacebo\tF\tsvs\t\n", "no file"),
        ("../a.rda\t01\t2\tplacebo\tF\tsvs\t\n", "relative to RAW_DIR"),
        ("b.rda\t01\t2\tplacebo\tF\twater\t\n", "role 'water'"),
        ("b.rda\t01\t2\tplacebo\tF\tsvs\t-5\n", "negative"),
        ("b.rda\tsub_1\t2\tplacebo\tF\tsvs\t\n", "letters/digits"),
    ],
)
def test_bids_init_rejects_a_bad_mapping(tmp_path, capsys, row, message):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("a.rda", "b.rda"):
        (raw / name).write_bytes(b"x")
    mapping = tmp_path / "map.tsv"
    header = "file\tparticipant\tsession\tcondition\tsex\trole\tinfusion_onset_s\n"
    mapping.write_text(header + "a.rda\t01\t1\tplacebo\tF\tsvs\t\n" + row)
    assert main(["bids-init", str(raw), str(tmp_path / "study"), "--map", str(mapping)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "study").exists()
