"""Density-matrix engine and sequences against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from mrspipe.errors import SimulationError
from mrspipe.simulate import known_metabolites, simulate_basis
from mrspipe.simulate.density_matrix import build_operators, coherence_filter, lines_to_fid
from mrspipe.simulate.sequences import sequence_events, simulate_lines
from mrspipe.simulate.spin_systems import get_metabolite

CF = 123.2
T = np.arange(2048) * 2.5e-4


def _lines(offsets, couplings, sequence="pulse-acquire", strong=True, **timing):
    events = sequence_events(sequence, te=timing.pop("te", 0.0), **timing)
    obs = np.ones(len(offsets), bool)
    return simulate_lines(np.asarray(offsets, float), couplings, obs, events, strong=strong)


def test_singlet_fid_closed_form():
    basis = simulate_basis(["sIns", "Cr"], sequence="pulse-acquire", field_mhz=CF)
    expected = 6.0 * np.exp(2j * np.pi * (3.34 - 4.65) * CF * basis.time_s)
    np.testing.assert_allclose(basis.fids[0], expected, rtol=0, atol=1e-9)
    cr = 3 * np.exp(2j * np.pi * (3.027 - 4.65) * CF * basis.time_s) + 2 * np.exp(
        2j * np.pi * (3.913 - 4.65) * CF * basis.time_s
    )
    np.testing.assert_allclose(basis.fids[1], cr, atol=1e-9)


def test_spectrum_shows_singlet_at_its_ppm():
    basis = simulate_basis(["NAA"], sequence="pulse-acquire", linewidth_hz=2.0)
    spec = basis.spectrum()[0].real
    peak = basis.ppm[np.argmax(spec)]
    assert abs(peak - 2.008) < (basis.ppm[1] - basis.ppm[0])


@pytest.mark.parametrize("name", known_metabolites())
def test_pulse_acquire_normalisation_is_proton_count(name):
    basis = simulate_basis([name], sequence="pulse-acquire", n_points=16)
    assert basis.fids[0, 0] == pytest.approx(get_metabolite(name).n_protons, abs=1e-9)


def test_ax_doublet_positions_and_intensities_weak():
    va, vx, j = 100.0, -150.0, 7.0
    freqs, amps = _lines([va, vx], [(0, 1, j)], strong=False)
    order = np.argsort(freqs)
    np.testing.assert_allclose(
        freqs[order], [vx - j / 2, vx + j / 2, va - j / 2, va + j / 2], atol=1e-6
    )
    np.testing.assert_allclose(amps[order], 0.5, atol=1e-12)


def test_ax_doublet_strong_hamiltonian_tends_to_weak_limit():
    va, vx, j = 100.0, -150.0, 7.0  # dv/J ~ 36: second-order corrections ~ J/(2 dv) ~ 1.4 %
    freqs, amps = _lines([va, vx], [(0, 1, j)], strong=True)
    order = np.argsort(freqs)
    np.testing.assert_allclose(
        freqs[order], [vx - j / 2, vx + j / 2, va - j / 2, va + j / 2], atol=0.1
    )
    np.testing.assert_allclose(np.abs(amps[order]), 0.5, atol=0.02)


def test_ab_roof_effect_against_closed_form():
    va, vb, j = 15.0, 5.0, 7.0
    d = np.hypot(va - vb, j)
    centre = (va + vb) / 2
    freqs, amps = _lines([va, vb], [(0, 1, j)])
    order = np.argsort(freqs)
    expected_f = centre + np.array([-(d + j) / 2, -(d - j) / 2, (d - j) / 2, (d + j) / 2])
    expected_a = np.array([1 - j / d, 1 + j / d, 1 + j / d, 1 - j / d]) / 2
    np.testing.assert_allclose(freqs[order], expected_f, atol=1e-6)
    np.testing.assert_allclose(amps[order].real, expected_a, atol=1e-9)
    np.testing.assert_allclose(amps[order].imag, 0, atol=1e-9)


@pytest.mark.parametrize("sequence", ["spin-echo", "press", "slaser"])
@pytest.mark.parametrize("te", [0.0, 0.03, 0.0714, 0.144])
def test_echo_j_modulation_cos_pi_j_te(sequence, te):
    j = 7.0
    freqs, amps = _lines(
        [60.0, -90.0],
        [(0, 1, j)],
        sequence=sequence,
        strong=False,
        te=te,
        **({"te1": 0.37 * te} if sequence == "press" else {}),
    )
    s0 = lines_to_fid(freqs, amps, np.zeros(1))[0]
    assert s0.real == pytest.approx(2 * np.cos(np.pi * j * te), abs=1e-9)
    assert abs(s0.imag) < 1e-9


@pytest.mark.parametrize("offset", [0.0, 37.0, -211.0])
@pytest.mark.parametrize("tm", [0.0, 0.01, 0.1])
def test_steam_singlet_has_half_signal_refocused(offset, tm):
    freqs, amps = _lines([offset], [], sequence="steam", te=0.02, tm=tm)
    np.testing.assert_allclose(freqs, [offset])
    np.testing.assert_allclose(amps, [0.5], atol=1e-12)


@pytest.mark.parametrize("sequence", ["spin-echo", "press", "slaser", "steam"])
def test_singlets_refocused_by_every_echo_sequence(sequence):
    basis = simulate_basis(["Cr"], sequence=sequence, te=0.035, tm=0.02, n_points=8)
    factor = 0.5 if sequence == "steam" else 1.0
    assert basis.fids[0, 0] == pytest.approx(5.0 * factor, abs=1e-9)


def test_steam_tm_dependence_is_zero_quantum_only():
    # Weakly coupled AX: only zero-quantum terms survive TM and they precess at va - vx, so the
    # signal is periodic in TM with period 1/|va - vx| (a double-quantum leak would not be).
    va, vx = 40.0, -75.0
    args = ([va, vx], [(0, 1, 6.0)])

    def s0(tm):
        return lines_to_fid(
            *_lines(*args, sequence="steam", strong=False, te=0.02, tm=tm), np.zeros(1)
        )[0]

    period = 1.0 / abs(va - vx)
    for tm in (0.0, 0.0123):
        assert s0(tm + period) == pytest.approx(s0(tm), abs=1e-9)
    assert abs(s0(0.0123) - s0(0.0)) > 1e-3  # the ZQ evolution is really there


def test_coherence_filter_equals_phase_cycle_average(rng):
    ops = build_operators(np.array([10.0, 20.0, 30.0]), [(0, 1, 5.0)])
    rho = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    phis = 2 * np.pi * np.arange(8) / 8
    for order in (-1, 0, 1, 2):
        cycled = np.zeros_like(rho)
        for phi in phis:
            rz = np.diag(np.exp(-1j * phi * ops.m_observed))
            cycled += np.exp(1j * order * phi) * (rz @ rho @ rz.conj().T) / phis.size
        np.testing.assert_allclose(coherence_filter(ops, rho, order), cycled, atol=1e-12)


def test_basis_shape_grid_and_meta():
    basis = simulate_basis(
        ["Glu", "GABA"], dwell_time=5e-4, n_points=512, field_mhz=297.2, te=0.035, te1=0.012
    )
    assert basis.fids.shape == (2, 512)
    assert basis.spectrometer_frequency == 297.2 and basis.echo_time == 0.035
    assert basis.meta["sequence"] == "press" and basis.meta["te1"] == 0.012
    assert "G20" in basis.meta["sources"]["Glu"]


def test_te2_given_alone_sets_te1():
    a = simulate_basis(["Glu"], te=0.03, te2=0.019, n_points=64)
    b = simulate_basis(["Glu"], te=0.03, te1=0.011, n_points=64)
    np.testing.assert_allclose(a.fids, b.fids, atol=1e-12)


def test_linewidth_applies_lorentzian():
    a = simulate_basis(["sIns"], sequence="pulse-acquire", n_points=256)
    b = simulate_basis(["sIns"], sequence="pulse-acquire", n_points=256, linewidth_hz=3.0)
    np.testing.assert_allclose(b.fids, a.fids * np.exp(-np.pi * 3.0 * a.time_s), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metabolites": ["Glu", "Foo"]}, "unknown metabolite.*Foo.*known:.*GABA"),
        ({"te": 0.03, "te1": 0.04}, "te1"),
        ({"te": -0.01}, "non-negative"),
        ({"field_mhz": 0.0}, "field_mhz"),
        ({"sequence": "steam"}, "mixing time"),
        ({"sequence": "mega"}, "unknown sequence"),
        ({"dwell_time": 0.0}, "dwell_time"),
        ({"te": 0.03, "te1": 0.01, "te2": 0.01}, "te1 \\+ te2"),
    ],
)
def test_bad_input_raises_simulation_error(kwargs, match):
    metabolites = kwargs.pop("metabolites", ["Cr"])
    with pytest.raises(SimulationError, match=match):
        simulate_basis(metabolites, **kwargs)
