"""Simulation: density-matrix basis spectra, synthetic spectra and synthetic studies."""

from .basis import simulate_basis

__all__ = ["simulate_basis"]
