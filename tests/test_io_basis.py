"""Basis-set I/O: every real basis in ../shared/data, cross-format agreement, round trips,
orientation handling, the match check and bad input."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from mrspipe.data import Basis, MRSData
from mrspipe.errors import BasisMismatchError, MRSFormatError
from mrspipe.io.basis import check_basis_matches, detect_basis_format, load_basis, save_basis
from mrspipe.io.lcmodel import parse_namelist_text
from mrspipe.spectral import apply_lineshape, resample_basis

ISMRM = "ismrm2016_fitting_challenge"
ISMRM_GRID = {"dwell_time": 2.5e-4, "spectrometer_frequency": 123.2}  # README: 123.2 MHz, 4 kHz

#: (path under shared data, load_basis keywords, n_metabolites, n_points, field MHz)
SHARED_BASES = [
    (f"{ISMRM}/basisset_LCModel/press3T_30ms.BASIS", {}, 21, 4096, 123.2617),
    (f"{ISMRM}/basisset_LCModel", ISMRM_GRID, 22, 2048, 123.2),
    (f"{ISMRM}/basisset_JMRUI", {}, 22, 2048, 123.22),
    (f"{ISMRM}/basisset_text", ISMRM_GRID, 22, 2048, 123.2),
    (f"{ISMRM}/basisset_text_noTMS", ISMRM_GRID, 22, 2048, 123.2),
    ("osprey/basis/3T_PRESS_Philips_35ms_noMM.BASIS", {}, 17, 8192, 127.731),
    ("suspect/lcmodel/press_30ms_3T.basis", {}, 17, 4944, 123.2),
    ("dwmrs_pregame2021/synthetic/basis_STEAM_TE45_TM60.BASIS", {}, 19, 8192, 298.06),
    ("fsl_mrs_fmrs_demo/basis", {}, 19, 8192, 297.190252),
]


def peak_ppm(basis: Basis, name: str, lo: float, hi: float, zero_fill: int = 8) -> float:
    """Chemical shift of the largest magnitude point in [lo, hi] ppm (zero-filled spectrum)."""
    n = basis.n_points * zero_fill
    spec = np.abs(np.fft.fftshift(np.fft.fft(basis.fids[basis.index(name)], n=n)))
    ppm = basis.ppm_reference + np.fft.fftshift(np.fft.fftfreq(n, basis.dwell_time)) / (
        basis.spectrometer_frequency
    )
    band = (ppm > lo) & (ppm < hi)
    return float(ppm[band][np.argmax(spec[band])])


def toy_basis(*, ppm_reference: float = 4.65, n: int = 1024, te: float | None = 0.03) -> Basis:
    """Singlets/doublet at known shifts (internal convention), 3 Hz lines, 123.2 MHz."""
    dwell, cf = 2.5e-4, 123.2
    t = np.arange(n) * dwell
    lines = {
        "NAA": [(2.01, 3.0)],
        "Cr": [(3.03, 3.0), (3.92, 2.0)],
        "Cho": [(3.21, 9.0)],
        "Lac": [(1.31 - 0.028, 1.5), (1.31 + 0.028, 1.5)],
    }
    fids = np.array(
        [
            sum(a * np.exp(2j * np.pi * (d - ppm_reference) * cf * t) for d, a in peaks)
            * np.exp(-np.pi * 3.0 * t)
            for peaks in lines.values()
        ]
    )
    return Basis(tuple(lines), fids, dwell, cf, echo_time=te, ppm_reference=ppm_reference)


# -- every basis set in the shared data ---------------------------------------------------------
@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("rel", "kwargs", "n_met", "n_points", "field"),
    SHARED_BASES,
    ids=[c[0].split("/")[-1] or c[0] for c in SHARED_BASES],
)
def test_shared_basis_loads_with_naa_at_2_01(shared_data, rel, kwargs, n_met, n_points, field):
    basis = load_basis(shared_data / rel, **kwargs)
    assert basis.n_metabolites == n_met
    assert basis.n_points == n_points
    assert basis.spectrometer_frequency == pytest.approx(field, rel=1e-6)
    assert basis.meta["conjugated_on_load"] is False  # each format's convention was right
    assert basis.meta["orientation_score"] > 0.5
    assert peak_ppm(basis, "NAA", 1.5, 2.5) == pytest.approx(2.01, abs=0.03)
    cr = "Cr" if "Cr" in basis else "PCr"
    assert peak_ppm(basis, cr, 2.8, 3.2) == pytest.approx(3.03, abs=0.03)


@pytest.mark.shared_data
def test_lcmodel_header_and_metabolites_recorded(shared_data):
    basis = load_basis(shared_data / "suspect/lcmodel/press_30ms_3T.basis")
    assert basis.meta["header"]["SEQPAR"]["HZPPPM"] == pytest.approx(123.199997)
    assert basis.meta["header"]["BASIS1"]["NDATAB"] == 4944
    assert basis.meta["header"]["BASIS1"]["IDBASI"].startswith("PRESS (123 MHz) TE=30")
    assert basis.meta["metabolites"] == list(basis.names)
    assert basis.meta["entries"][0]["ISHIFT"] == -587  # undone on reading
    assert basis.meta["entries"][0]["CONC"] == 100.0
    assert basis.echo_time == pytest.approx(0.030)
    assert basis.dwell_time == pytest.approx(2.07357807e-4)


@pytest.mark.shared_data
def test_osprey_basis_is_centred_at_4_68(shared_data):
    basis = load_basis(shared_data / "osprey/basis/3T_PRESS_Philips_35ms_noMM.BASIS")
    assert basis.ppm_reference == 4.68
    assert "Osprey" in basis.meta["ppm_reference_source"]


@pytest.mark.shared_data
def test_ismrm_basis_agrees_across_formats(shared_data):
    """.BASIS, .RAW, jMRUI and text hold the same basis.

    Metric: on the .RAW grid (resample_basis), with 2 Hz Lorentzian broadening, the normalised
    real inner product Re<a, b> / (|a| |b|) of the complex spectra over 0.2-4.2 ppm (1 = same
    shape, position and phase; scale-free because LCModel rescales basis spectra).
    Tolerance: >= 0.9999 (the files are rounded to 6 significant digits). All formats are read
    at the README's 123.2 MHz: the headers say 123.2617 (.BASIS) and 123.22 (jMRUI), < 0.05 %
    apart (< 0.002 ppm at NAA), so resampling keeps every point (no interpolation error).
    """
    root = shared_data / ISMRM
    ref = load_basis(root / "basisset_LCModel", **ISMRM_GRID)
    others = {
        # BADELT 0.000250000012 is 0.25 ms in single precision
        "BASIS": load_basis(root / "basisset_LCModel/press3T_30ms.BASIS", **ISMRM_GRID),
        "jMRUI": load_basis(root / "basisset_JMRUI", spectrometer_frequency=123.2),
        "text": load_basis(root / "basisset_text", **ISMRM_GRID),
    }
    window = (ref.ppm > 0.2) & (ref.ppm < 4.2)

    def spectrum(b: Basis, name: str) -> np.ndarray:
        fid = apply_lineshape(b.fids[b.index(name)], b.dwell_time, lorentz_hz=2.0)
        return np.fft.fftshift(np.fft.fft(fid))[window]

    for label, other in others.items():
        on_grid = resample_basis(
            other,
            dwell_time=ref.dwell_time,
            n_points=ref.n_points,
            spectrometer_frequency=ref.spectrometer_frequency,
            ppm_reference=ref.ppm_reference,
        )
        common = [n for n in ref.names if n in on_grid.names]
        assert len(common) >= 21
        for name in common:
            a, b = spectrum(on_grid, name), spectrum(ref, name)
            sim = np.real(np.vdot(b, a)) / (np.linalg.norm(a) * np.linalg.norm(b))
            assert sim >= 0.9999, f"{label} {name}: similarity {sim:.6f}"


@pytest.mark.shared_data
def test_text_with_and_without_tms_differ_by_a_0ppm_singlet(shared_data):
    root = shared_data / ISMRM
    with_tms = load_basis(root / "basisset_text", **ISMRM_GRID)
    without = load_basis(root / "basisset_text_noTMS", **ISMRM_GRID)
    diff = dataclasses.replace(with_tms, fids=with_tms.fids - without.fids)
    assert peak_ppm(diff, "NAA", -1.0, 9.0) == pytest.approx(0.0, abs=0.02)
    spec = np.abs(diff.spectrum()[diff.index("NAA")])
    # only the singlet's Lorentzian tail (FWHM ~2.5 Hz) is left in the metabolite range
    assert spec[(diff.ppm > 0.5) & (diff.ppm < 4.2)].max() < 0.03 * spec.max()


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["fsl", "lcmodel"])
def test_round_trip_is_lossless(tmp_path, fmt):
    basis = toy_basis()
    out = tmp_path / ("basis" if fmt == "fsl" else "toy.BASIS")
    save_basis(basis, out, format=fmt)
    back = load_basis(out)
    assert back.names == basis.names
    assert back.dwell_time == basis.dwell_time
    assert back.spectrometer_frequency == basis.spectrometer_frequency
    assert back.echo_time == pytest.approx(basis.echo_time, rel=1e-12)
    assert back.ppm_reference == basis.ppm_reference
    if fmt == "fsl":  # JSON floats are exact
        np.testing.assert_array_equal(back.fids, basis.fids)
    else:  # (4E24.15) text, then an FFT pair: ~1e-15 relative
        np.testing.assert_allclose(back.fids, basis.fids, rtol=0, atol=1e-12)
    assert peak_ppm(back, "NAA", 1.5, 2.5) == pytest.approx(2.01, abs=0.01)


@pytest.mark.shared_data
def test_real_basis_round_trips_through_both_formats(shared_data, tmp_path):
    basis = load_basis(shared_data / "suspect/lcmodel/press_30ms_3T.basis").select(["NAA", "Cr"])
    save_basis(basis, tmp_path / "b.BASIS", format="lcmodel")
    save_basis(basis, tmp_path / "fsl", format="fsl")
    scale = np.abs(basis.fids).max()
    for back in (load_basis(tmp_path / "b.BASIS"), load_basis(tmp_path / "fsl")):
        np.testing.assert_allclose(back.fids, basis.fids, rtol=0, atol=1e-12 * scale)
        assert back.echo_time == pytest.approx(0.030)


def test_writing_rereferences_to_4_65(tmp_path):
    basis = toy_basis(ppm_reference=4.68)
    save_basis(basis, tmp_path / "ref.BASIS", format="lcmodel")
    back = load_basis(tmp_path / "ref.BASIS")
    assert back.ppm_reference == 4.65
    assert peak_ppm(back, "NAA", 1.5, 2.5) == pytest.approx(
        peak_ppm(basis, "NAA", 1.5, 2.5), abs=0.002
    )


def test_overwrite_refused(tmp_path):
    save_basis(toy_basis(), tmp_path / "b", format="fsl")
    with pytest.raises(FileExistsError):
        save_basis(toy_basis(), tmp_path / "b", format="fsl", overwrite=False)
    with pytest.raises(ValueError, match="unknown basis format"):
        save_basis(toy_basis(), tmp_path / "c", format="tarquin")


def test_overwriting_fsl_folder_drops_stale_metabolites(tmp_path):
    save_basis(toy_basis(), tmp_path / "b", format="fsl")
    save_basis(toy_basis().select(["NAA"]), tmp_path / "b", format="fsl")
    assert load_basis(tmp_path / "b").names == ("NAA",)


# -- orientation --------------------------------------------------------------------------------
def test_flipped_basis_is_conjugated_with_a_warning(tmp_path, caplog):
    flipped = dataclasses.replace(toy_basis(), fids=np.conj(toy_basis().fids))
    save_basis(flipped, tmp_path / "flipped", format="fsl")
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        back = load_basis(tmp_path / "flipped")
    assert back.meta["conjugated_on_load"] is True
    assert any("flipped" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(back.fids, toy_basis().fids)


def test_undecidable_orientation_is_kept(tmp_path, caplog):
    lac = toy_basis().select(["Lac"])  # 1.31 ppm: outside the 1.8-4.2 ppm test band
    save_basis(lac, tmp_path / "lac", format="fsl")
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        back = load_basis(tmp_path / "lac")
    assert back.meta["conjugated_on_load"] is False
    assert not caplog.records
    np.testing.assert_array_equal(back.fids, lac.fids)


# -- check_basis_matches ------------------------------------------------------------------------
def _data_from(basis: Basis, **changes) -> MRSData:
    fids = basis.fids.sum(axis=0)[None]
    data = MRSData(fids, basis.dwell_time, basis.spectrometer_frequency, dims=("dyn",))
    return dataclasses.replace(data, **changes)


def test_check_basis_matches_accepts_a_match():
    basis = toy_basis()
    check_basis_matches(basis, _data_from(basis, spectrometer_frequency=123.25))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nucleus": "31P"}, "31P"),
        ({"spectrometer_frequency": 297.2}, "MHz"),
        ({"dwell_time": 2e-3}, "does not cover"),
        ("flip", "flipped"),
    ],
)
def test_check_basis_matches_rejects(change, message):
    basis = toy_basis()
    if change == "flip":
        data = _data_from(basis)
        data = dataclasses.replace(data, fids=np.conj(data.fids))
    else:
        data = _data_from(basis, **change)
    with pytest.raises(BasisMismatchError, match=message):
        check_basis_matches(basis, data)


@pytest.mark.shared_data
def test_check_basis_matches_on_real_files(shared_data):
    from mrspipe.io.nifti_mrs import load_mrs

    data = load_mrs(shared_data / "dwmrs_pregame2021/synthetic/synthetic.nii.gz")
    check_basis_matches(
        load_basis(shared_data / "dwmrs_pregame2021/synthetic/basis_STEAM_TE45_TM60.BASIS"), data
    )
    with pytest.raises(BasisMismatchError, match="123.262 MHz but the data are at 298.062"):
        check_basis_matches(load_basis(shared_data / SHARED_BASES[0][0]), data)


# -- parser variants and bad input --------------------------------------------------------------
def _handmade_basis_text(values: np.ndarray) -> str:
    body = "\n".join(
        " ".join(f"{v:.8E}".replace("E", "D") for v in values[i : i + 2])
        for i in range(0, values.size, 2)
    )
    return (
        " &SEQPAR HZPPPM = 1.232D+02, ECHOT = 30.0, SEQ = 'PRESS' /\n"
        " $BASIS1\n IDBASI =\n 'two-line, quoted ''id''',\n FMTBAS = '(2E15.6)',\n"
        " BADELT = 2.5D-04, NDATAB = 4\n $END\n"
        " $BASIS\n ID = 'NAA', METABO = 'NAA', CONC = 1., PPMAPP = 0.1 -0.1, ISHIFT = 1\n $END\n"
        f"{body}\n"
    )


def test_namelist_variants_and_fortran_d_exponents(tmp_path):
    values = np.arange(1.0, 9.0)  # 4 complex points
    path = tmp_path / "hand.BASIS"
    path.write_text(_handmade_basis_text(values))
    basis = load_basis(path)
    assert basis.names == ("NAA",)
    assert basis.spectrometer_frequency == pytest.approx(123.2)
    assert basis.echo_time == pytest.approx(0.030)
    assert basis.meta["header"]["BASIS1"]["IDBASI"] == "two-line, quoted 'id'"
    assert basis.meta["entries"][0]["PPMAPP"] == [0.1, -0.1]
    spectrum = values[0::2] + 1j * values[1::2]
    expected = np.conj(np.fft.ifft(np.roll(spectrum, -1)))
    # the orientation check may conjugate a 4-point toy; compare up to that
    got = basis.fids[0] if not basis.meta["conjugated_on_load"] else np.conj(basis.fids[0])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_run_together_fixed_width_numbers_are_split():
    rec = parse_namelist_text(" $NMID ID='x' $END\n 0.1E+01-0.2E+01 0.3E+01-0.4E+01\n")
    np.testing.assert_allclose(rec.blocks[0], [1 - 2j, 3 - 4j])


def test_detects_formats(tmp_path):
    save_basis(toy_basis(), tmp_path / "f", format="fsl")
    save_basis(toy_basis(), tmp_path / "b.BASIS", format="lcmodel")
    assert detect_basis_format(tmp_path / "f") == "fsl"
    assert detect_basis_format(tmp_path / "b.BASIS") == "lcmodel"


def _expect_format_error(path, match, **kwargs):
    with pytest.raises(MRSFormatError, match=match) as info:
        load_basis(path, **kwargs)
    assert str(path) in str(info.value) or path.name in str(info.value)


def test_folder_without_basis_files(tmp_path):
    (tmp_path / "notes.md").write_text("nothing here")
    _expect_format_error(tmp_path, "no basis files")


def test_garbled_basis_header(tmp_path):
    path = tmp_path / "garbled.BASIS"
    path.write_text("this is not a namelist\n 1.0 2.0\n")
    _expect_format_error(path, "not an LCModel file")
    path.write_text(" $SEQPAR HZPPPM = 123.2 $END\n $FOO BAR = 1 $END\n 1.0 2.0\n")
    _expect_format_error(path, r"no \$BASIS1")
    path.write_text(" $BASIS1 FMTBAS = '(6E13.5)', BADELT = 2.5E-4 $END\n")
    _expect_format_error(path, "NDATAB")
    path.write_text(" $BASIS1 BADELT = 2.5E-4, NDATAB = 4 $END\n 1 2 3 4 5 6 7 8\n")
    _expect_format_error(path, r"no \$BASIS entries")


def test_truncated_basis_file(tmp_path):
    text = _handmade_basis_text(np.arange(1.0, 9.0))
    path = tmp_path / "short.BASIS"
    path.write_text(text[: text.rindex("\n", 0, len(text) - 1)])  # drop the last data line
    _expect_format_error(path, "NDATAB says 4")


def test_text_folder_needs_dwell_and_field(tmp_path):
    np.savetxt(tmp_path / "NAA.txt", np.ones((16, 2)))
    _expect_format_error(tmp_path, "pass dwell_time=")
    basis = load_basis(tmp_path, dwell_time=2.5e-4, spectrometer_frequency=123.2)
    assert basis.names == ("NAA",) and basis.n_points == 16


def test_forced_format_on_the_wrong_folder(tmp_path):
    save_basis(toy_basis(), tmp_path / "f", format="fsl")
    _expect_format_error(tmp_path / "f", "0 .BASIS files", format="lcmodel")
    _expect_format_error(tmp_path / "f", "no jmrui basis files", format="jmrui")
    assert load_basis(tmp_path / "f", format="fsl").names == toy_basis().names


def test_unknown_format_and_missing_path(tmp_path):
    _expect_format_error(tmp_path / "missing.BASIS", "no such file")
    save_basis(toy_basis(), tmp_path / "f", format="fsl")
    _expect_format_error(tmp_path / "f", "unknown basis format", format="tarquin")
