"""simulate_session / simulate_study: the data encode the truth; the layout is readable."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mrspipe.errors import SimulationError
from mrspipe.io.bids import find_sessions, read_events, read_participants
from mrspipe.io.nifti_mrs import load_mrs
from mrspipe.simulate import macromolecule_basis, simulate_basis, simulate_session, simulate_study
from mrspipe.simulate.macromolecules import DEFAULT_MM_AMPLITUDES
from mrspipe.simulate.study import DEFAULT_CONCENTRATIONS, DEFAULT_RESPONSE
from mrspipe.spectral import apply_lineshape, to_spectrum


@pytest.fixture(scope="module")
def basis():
    return simulate_basis(n_points=1024)


def test_session_glu_time_course_is_recoverable(basis):
    """Simulate, undo the known drift, least-squares fit all transients, compare to truth."""
    times = np.arange(60) * 3.0
    svs, _, truth = simulate_session(
        basis,
        concentrations=DEFAULT_CONCENTRATIONS,
        percent_change=7.0,
        times=times,
        onset=45.0,
        tau=40.0,
        bold_hz=0.0,
        snr=1e7,
        water_amplitude=0.0,
        rng=4,
    )
    assert svs.fids.shape == (60, 1024) and svs.dims == ("dyn",)
    np.testing.assert_allclose(svs.frame_times, times)
    aligned = apply_lineshape(
        svs.fids.astype(complex),
        svs.dwell_time,
        shift_hz=-truth["shift_hz"][:, None],
        phase0=-truth["phase_rad"][:, None],
    )
    mm = macromolecule_basis(n_points=1024)
    mm_fid = np.array([DEFAULT_MM_AMPLITUDES[n] for n in mm.names]) @ mm.fids
    mm_fid = mm_fid * DEFAULT_CONCENTRATIONS["NAA"] / 11.0
    lw = truth["linewidth_hz"]
    design = apply_lineshape(
        np.vstack([basis.fids, mm_fid]), basis.dwell_time, lorentz_hz=lw, gauss_hz=truth["gauss_hz"]
    )
    window = (basis.ppm > 0.2) & (basis.ppm < 4.2)
    a = to_spectrum(design)[:, window].T
    y = to_spectrum(aligned)[:, window].T
    coef = np.linalg.lstsq(np.vstack([a.real, a.imag]), np.vstack([y.real, y.imag]), rcond=None)[0]
    glu = coef[basis.index("Glu")]
    np.testing.assert_allclose(glu, truth["glu_mM"], rtol=1e-3)
    expected = DEFAULT_CONCENTRATIONS["Glu"] * (
        1 + 0.07 * np.where(times > 45, 1 - np.exp(-(times - 45) / 40), 0)
    )
    np.testing.assert_allclose(truth["glu_mM"], expected, rtol=1e-12)
    np.testing.assert_allclose(coef[basis.index("NAA")], DEFAULT_CONCENTRATIONS["NAA"], rtol=1e-3)
    post = times > 45
    assert truth["glu_percent_change_window"] == pytest.approx(
        100 * (expected[post].mean() / DEFAULT_CONCENTRATIONS["Glu"] - 1)
    )


def test_session_noise_matches_single_transient_snr(basis):
    times = np.arange(200) * 2.0
    svs, ref, truth = simulate_session(
        basis,
        concentrations=DEFAULT_CONCENTRATIONS,
        percent_change=0.0,
        times=times,
        onset=100.0,
        snr=12.0,
        rng=5,
    )
    spec = to_spectrum(svs.fids.astype(complex))
    far = (svs.ppm > 10.0) & (svs.ppm < 14.0)  # no signal; difference out smooth tails
    noise = np.diff(spec[:, far].real, axis=-1).std() / np.sqrt(2)
    assert noise == pytest.approx(truth["noise_sd"] * np.sqrt(1024), rel=0.03)
    # the NAA singlet alone (same lineshape) over that noise is the requested SNR
    naa = basis.select(["NAA"])
    probe = apply_lineshape(
        naa.fids * DEFAULT_CONCENTRATIONS["NAA"],
        naa.dwell_time,
        lorentz_hz=truth["linewidth_hz"],
        gauss_hz=truth["gauss_hz"],
    )
    assert np.abs(to_spectrum(probe)).max() / noise == pytest.approx(12.0, rel=0.05)
    # water reference: 2 protons x 55.51 M x 0.8, T2-weighted at TE
    assert abs(ref.fids[0]) == pytest.approx(2 * 55510 * 0.8 * np.exp(-0.03 / 0.11), rel=0.01)


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "study"
    truth = simulate_study(
        out, n_participants=4, n_transients=16, tr=2.0, n_points=512, infusion_onset=10.0, rng=11
    )
    return out, truth


def test_study_layout_and_design(small_study):
    out, truth = small_study
    sessions = find_sessions(out)
    assert len(sessions) == 8
    by_participant = {}
    for s in sessions:
        by_participant.setdefault(s.participant_id, []).append(s.condition)
        assert s.ref_path is not None and s.events_path is not None
    assert all(sorted(c) == ["naltrexone", "placebo"] for c in by_participant.values())
    first = [s.condition for s in sessions if s.session_id == "ses-1"]
    assert sorted(first) == ["naltrexone", "naltrexone", "placebo", "placebo"]
    assert sorted(read_participants(out)["sex"]) == ["F", "F", "M", "M"]
    data = load_mrs(sessions[0].svs_path)
    assert data.fids.shape == (16, 512) and data.dims == ("dyn",)
    np.testing.assert_allclose(data.frame_times, np.arange(16) * 2.0)
    assert read_events(sessions[0].events_path)["onset"].tolist() == [10.0]
    assert (out / "phenotype" / "madrs.tsv").is_file()
    assert json.loads((out / "truth.json").read_text())["design"]["infusion_onset"] == 10.0


def test_study_truth_per_session(small_study):
    _, truth = small_study
    assert len(truth["sessions"]) == 8
    for s in truth["sessions"]:
        mean = DEFAULT_RESPONSE[s["condition"]][s["sex"]]
        assert abs(s["glu_percent_change"] - mean) < 5 * 1.5  # participant sd 1.5 %
        assert s["glu_mM"].shape == (16,)
        assert s["glu_mM"][0] == pytest.approx(s["concentrations"]["Glu"])


def test_study_is_reproducible_and_refuses_overwrite(small_study, tmp_path):
    out, truth = small_study
    again = simulate_study(
        tmp_path / "b",
        n_participants=4,
        n_transients=16,
        tr=2.0,
        n_points=512,
        infusion_onset=10.0,
        rng=11,
    )
    assert [s["glu_percent_change"] for s in again["sessions"]] == [
        s["glu_percent_change"] for s in truth["sessions"]
    ]
    with pytest.raises(SimulationError, match="not empty"):
        simulate_study(out, n_participants=2, n_transients=4, n_points=256)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_participants": 0}, "positive"),
        ({"tr": 0.0}, "positive"),
        ({"response": {"placebo": {"M": 1.0}}}, "response"),
        ({"conditions": ("a", "b", "c")}, "two conditions"),
        ({"infusion_onset": -1.0}, "onset"),
    ],
)
def test_study_bad_input(tmp_path, kwargs, match):
    with pytest.raises(SimulationError, match=match):
        simulate_study(tmp_path / "x", **{"n_transients": 4, "n_points": 256, **kwargs})
