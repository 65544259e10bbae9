"""Simulation: density-matrix basis spectra, synthetic spectra and synthetic studies.

Everything returns its truth so tests can simulate, process and compare.
"""

from .basis import simulate_basis
from .macromolecules import macromolecule_basis
from .spectra import simulate_spectra
from .spin_systems import known_metabolites
from .study import simulate_session, simulate_study
from .study_truth import study_basis, true_window_change

__all__ = [
    "simulate_basis",
    "simulate_spectra",
    "simulate_study",
    "simulate_session",
    "true_window_change",
    "study_basis",
    "macromolecule_basis",
    "known_metabolites",
]
