"""``mrspipe fit`` end to end: NIfTI-MRS in, fits.tsv / qc.tsv / figures out."""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import numpy as np
import pytest
from fit_helpers import make_basis, simulate, truth_vector

from mrspipe.cli import main
from mrspipe.io.nifti_mrs import save_mrs
from mrspipe.io.tables import read_table


@pytest.fixture
def stub_basis_loader(monkeypatch):
    """Inject ``mrspipe.io.basis.load_basis`` returning the analytic basis (the real reader
    lives on another branch)."""
    basis = make_basis()
    module = types.ModuleType("mrspipe.io.basis")
    module.load_basis = lambda path, **_: basis
    monkeypatch.setitem(sys.modules, "mrspipe.io.basis", module)
    return basis


def _write_data(tmp_path, basis, rng, n=3):
    c = truth_vector(basis)
    data = simulate(
        basis, np.tile(c, (n, 1)), shift_hz=rng.uniform(-3, 3, n), noise_sd=0.5, rng=rng
    )
    path = tmp_path / "sub-01_svs.nii.gz"
    save_mrs(data, path)
    return path, c


def test_fit_command_writes_tables_and_figure(tmp_path, rng, stub_basis_loader):
    basis = stub_basis_loader
    path, c = _write_data(tmp_path, basis, rng)
    out = tmp_path / "out"
    assert main(["fit", str(path), "--basis", "any.BASIS", "--out", str(out)]) == 0
    fits = read_table(out / "fits.tsv")
    qc = read_table(out / "qc.tsv")
    assert list(fits.columns) == [
        "source",
        "frame",
        "metabolite",
        "estimate",
        "crlb_sd",
        "crlb_percent",
        "at_bound",
    ]
    assert set(qc.columns) >= {"snr", "fwhm_hz", "shift_hz", "phase_rad", "residual_rel"}
    assert len(qc) == 3 and (qc.source == path.name).all()
    glx = fits[fits.metabolite == "Glx"].estimate.to_numpy()
    true = c[basis.index("Glu")] + c[basis.index("Gln")]
    np.testing.assert_allclose(glx, true, rtol=0.02)
    sidecar = json.loads((out / "fits.json").read_text())
    assert "crlb_sd" in sidecar and "Units" in sidecar["crlb_percent"]
    assert (out / "sub-01_svs_fit.png").stat().st_size > 1000
    # refuses to overwrite without --overwrite (exit 2), then replaces with it
    assert main(["fit", str(path), "--basis", "b", "--out", str(out)]) == 2
    assert (
        main(
            [
                "fit",
                str(path),
                "--basis",
                "b",
                "--out",
                str(out),
                "--overwrite",
                "--no-figures",
                "--ppm-range",
                "0.5",
                "4.0",
            ]
        )
        == 0
    )


def test_fit_command_bad_input_exit_2(tmp_path, stub_basis_loader, capsys):
    bad = tmp_path / "nope.nii.gz"
    assert main(["fit", str(bad), "--basis", "b", "--out", str(tmp_path / "o")]) == 2
    assert "nope.nii.gz" in capsys.readouterr().err


@pytest.mark.skipif(
    importlib.util.find_spec("mrspipe.io.basis") is None, reason="mrspipe.io.basis not merged yet"
)
def test_fit_command_with_real_basis_reader(tmp_path, rng):
    from mrspipe.io.basis import save_basis

    basis = make_basis()
    bpath = save_basis(basis, tmp_path / "basis", format="fsl")
    path, _ = _write_data(tmp_path, basis, rng, n=2)
    out = tmp_path / "out"
    assert main(["fit", str(path), "--basis", str(bpath), "--out", str(out)]) == 0
    assert len(read_table(out / "qc.tsv")) == 2
