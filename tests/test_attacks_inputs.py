"""Attack suite, hostile input files: memory bombs and malformed headers.

Every error ``load_mrs`` / ``load_basis`` raise for bad input is an MRSError naming the file,
and ``mrspipe info`` reports it in one line with exit status 2.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import warnings
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from attack_helpers import PYTHON, one_line_error, snapshot, subprocess_env

from mrspipe.cli import main
from mrspipe.data import MRSData
from mrspipe.errors import MRSError, MRSFormatError
from mrspipe.io import _limits
from mrspipe.io.nifti_mrs import load_mrs, save_mrs

GIB = 2**30


def _small(tmp_path: Path, name: str = "small.nii") -> Path:
    t = np.arange(256) * 2.5e-4
    fids = np.exp((2j * np.pi * 30 - 8) * t)[None, :].repeat(4, axis=0).astype(np.complex64)
    data = MRSData(fids, dwell_time=2.5e-4, spectrometer_frequency=123.2, dims=("dyn",))
    return save_mrs(data, tmp_path / name)


def _bomb(tmp_path: Path, shape: tuple[int, ...], *, gz: bool, name: str = "bomb") -> Path:
    """A ~16 KB NIfTI-MRS file whose header claims ``shape`` complex64."""
    img = nib.load(_small(tmp_path, "seed.nii"))
    hdr = img.header.copy()
    hdr.set_data_shape(shape)
    raw = tmp_path / f"{name}.raw"
    with raw.open("wb") as fh:
        hdr.write_to(fh)
        fh.seek(int(hdr["vox_offset"]))
        fh.write(b"\0" * 16384)
    body = raw.read_bytes()
    raw.unlink()
    (tmp_path / "seed.nii").unlink()
    path = tmp_path / (f"{name}.nii.gz" if gz else f"{name}.nii")
    path.write_bytes(gzip.compress(body) if gz else body)
    return path


PEAK_SCRIPT = """
import resource, sys
from mrspipe.cli import main
code = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
sys.stderr.write(f"PEAK_KIB {peak}\\n")
sys.exit(code)
"""


@pytest.mark.parametrize("gz", [False, True], ids=["nii", "nii.gz"])
def test_a_1_gib_header_claim_exits_2_without_allocating(tmp_path: Path, gz: bool) -> None:
    bomb = _bomb(tmp_path, (1, 1, 1, 2048, 65536), gz=gz)  # 2048 x 65536 complex64 = 1 GiB
    assert bomb.stat().st_size < 64 * 1024
    before = snapshot(tmp_path)
    proc = subprocess.run(
        [PYTHON, "-c", PEAK_SCRIPT, "info", str(bomb)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    err = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("PEAK"))
    one_line_error(err, bomb.name, "header claims 1x1x1x2048x65536", "1024.0 MiB", "holds only")
    peak_mib = int(proc.stderr.split("PEAK_KIB ")[1].split()[0]) / 1024
    assert peak_mib < 400, f"peak memory {peak_mib:.0f} MiB"
    assert snapshot(tmp_path) == before


def test_a_claim_over_the_stated_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _small(tmp_path)
    monkeypatch.setattr(_limits, "MAX_DATA_BYTES", 1024)
    with pytest.raises(MRSFormatError, match="over the limit of") as info:
        load_mrs(path)
    assert str(path) in str(info.value)
    huge = _bomb(tmp_path, (1, 1, 1, 2**20, 2**20), gz=False, name="huge")  # 8 TiB
    monkeypatch.undo()
    with pytest.raises(MRSFormatError, match="over the limit of 8 GiB"):
        load_mrs(huge)


def _with_header(tmp_path: Path, name: str, **changes: Any) -> Path:
    """A valid small file whose JSON header extension has ``changes`` applied."""
    src = _small(tmp_path, f"{name}.src.nii")
    img = nib.load(src)
    ext = [e for e in img.header.extensions if e.get_code() == 44][0]
    hdr = json.loads(ext.get_content())
    for key, value in changes.items():
        if value is _DELETE:
            hdr.pop(key, None)
        else:
            hdr[key] = value
    new = nib.Nifti2Image(np.asanyarray(img.dataobj), img.affine, header=img.header)
    new.header.extensions.clear()
    new.header.extensions.append(nib.nifti1.Nifti1Extension(44, json.dumps(hdr).encode()))
    path = tmp_path / f"{name}.nii"
    nib.save(new, path)
    src.unlink()
    return path


_DELETE = object()

CRAFTED: dict[str, dict[str, Any]] = {
    "frequency_inf": {"SpectrometerFrequency": [1e400]},
    "frequency_1e300": {"SpectrometerFrequency": [1e300]},
    "frequency_text": {"SpectrometerFrequency": ["abc"]},
    "frequency_empty_list": {"SpectrometerFrequency": []},
    "frequency_object": {"SpectrometerFrequency": {"a": 1}},
    "frequency_missing": {"SpectrometerFrequency": _DELETE},
    "nucleus_missing": {"ResonantNucleus": _DELETE},
    "dim5_number": {"dim_5": 5},
    "dim5_unknown": {"dim_5": "DIM_NOPE"},
    "dim5_list": {"dim_5": ["DIM_DYN"]},
    "dim5_header_text": {"dim_5": "DIM_DYN", "dim_5_header": "x"},
    "times_nan": {"dim_5": "DIM_DYN", "dim_5_header": {"time_s": [0, float("nan"), 2, 3]}},
    "times_inf": {"dim_5": "DIM_DYN", "dim_5_header": {"time_s": {"start": 0, "increment": 1e400}}},
    "times_text": {"dim_5": "DIM_DYN", "dim_5_header": {"time_s": {"start": "a", "increment": 1}}},
    "echo_time_list_of_lists": {"EchoTime": [[1]]},
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_headers_give_a_named_error(tmp_path: Path, case: str) -> None:
    path = _with_header(tmp_path, case, **CRAFTED[case])
    try:
        load_mrs(path)
    except MRSError as exc:
        assert str(path) in str(exc)
    # whatever load_mrs does, `mrspipe info` never prints a traceback


def test_nan_frame_times_and_implausible_values_are_refused(tmp_path: Path) -> None:
    for case in ("frequency_inf", "frequency_1e300", "times_nan", "times_inf"):
        with pytest.raises(MRSFormatError):
            load_mrs(_with_header(tmp_path, case, **CRAFTED[case]))


def test_tiny_dwell_is_refused(tmp_path: Path) -> None:
    img = nib.load(_small(tmp_path))
    zooms = list(img.header.get_zooms())
    zooms[3] = 1e-12
    img.header.set_zooms(zooms)
    bad = tmp_path / "dwell.nii"
    nib.save(img, bad)
    with pytest.raises(MRSFormatError, match="dwell time"):
        load_mrs(bad)


def _mutate(body: bytes, rng: np.random.Generator, n: int) -> bytes:
    buf = bytearray(body)
    for _ in range(n):
        i = int(rng.integers(0, min(len(buf), 4096)))
        buf[i] = int(rng.integers(0, 256))
    return bytes(buf)


def test_fuzzed_headers_raise_only_named_mrs_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Random byte flips in the NIfTI header and extension: an MRSError naming the file, or a
    successful read, never another exception; ``mrspipe info`` exits 0 or 2, never a traceback."""
    body = _small(tmp_path, "seed.nii").read_bytes()
    rng = np.random.default_rng(15)
    kinds: set[str] = set()
    for i in range(120):
        path = tmp_path / f"fuzz{i}.nii"
        path.write_bytes(_mutate(body, rng, int(rng.integers(1, 12))))
        with warnings.catch_warnings():  # nibabel warns about odd headers: not our concern
            warnings.simplefilter("ignore")
            try:
                load_mrs(path)
            except MRSError as exc:
                assert str(path) in str(exc)
                kinds.add(exc.message.split(" ")[0])
            code = main(["info", str(path)]) if i % 10 == 0 else 0
        assert code in (0, 2)
        assert "Traceback" not in capsys.readouterr().err
    assert len(kinds) > 3  # the flips reached several different checks


def test_basis_with_nan_is_refused(tmp_path: Path) -> None:
    from mrspipe.data import Basis
    from mrspipe.io.basis import load_basis, save_basis

    fids = np.exp((2j * np.pi * 30 - 8) * np.arange(256) * 2.5e-4)[None].repeat(2, axis=0)
    fids[1, 7] = np.nan
    basis = Basis(("Glu", "NAA"), fids, dwell_time=2.5e-4, spectrometer_frequency=123.2)
    save_basis(basis, tmp_path / "basis", format="fsl")
    with pytest.raises(MRSFormatError, match=r"NaN or infinite values: \['NAA'\]"):
        load_basis(tmp_path / "basis")


@pytest.mark.parametrize("fmt", ["fsl", "lcmodel"])
def test_fuzzed_basis_files_raise_only_named_mrs_errors(tmp_path: Path, fmt: str) -> None:
    """Random byte flips in a basis set (FSL-MRS JSON, LCModel .BASIS): an MRSError naming the
    file or folder, or a successful read; never another exception."""
    from mrspipe.data import Basis
    from mrspipe.io.basis import load_basis, save_basis

    t = np.arange(256) * 2.5e-4
    fids = np.stack([np.exp((2j * np.pi * f - 8) * t) for f in (30.0, 80.0)])
    basis = Basis(("Glu", "NAA"), fids, dwell_time=2.5e-4, spectrometer_frequency=123.2)
    seed = save_basis(basis, tmp_path / ("seed" if fmt == "fsl" else "seed.BASIS"), format=fmt)
    files = sorted(seed.glob("*.json")) if seed.is_dir() else [seed]
    originals = {f: f.read_bytes() for f in files}
    rng = np.random.default_rng(16)
    refused = 0
    for _ in range(60):
        target = files[int(rng.integers(len(files)))]
        target.write_bytes(_mutate(originals[target], rng, int(rng.integers(1, 8))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                load_basis(seed)
            except MRSError as exc:
                assert str(seed) in str(exc)
                refused += 1
        target.write_bytes(originals[target])
    assert refused > 5  # the flips did reach the parsers
