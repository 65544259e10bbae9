"""Published 1H spin systems of brain metabolites (chemical shifts and J couplings).

The numbers live in ``data/spin_systems.json`` with their sources (Govindaraju et al. 2000 and
the corrigendum, Govind et al. 2015). A metabolite is a tuple of independent subsystems; a
singlet of ``n`` equivalent protons is a one-spin subsystem with ``scale = n``.

References
----------
Govindaraju V, Young K, Maudsley AA. Proton NMR chemical shifts and coupling constants for
brain metabolites. NMR Biomed 2000;13:129-153.
Govind V, Young K, Maudsley AA. Corrigendum: proton NMR chemical shifts and coupling constants
for brain metabolites. NMR Biomed 2015;28:923-924.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from ..errors import SimulationError

__all__ = ["SpinSystem", "Metabolite", "spin_systems", "known_metabolites", "get_metabolite"]


@dataclass(frozen=True)
class SpinSystem:
    """One coupled (or single-spin) group of a metabolite.

    Attributes
    ----------
    shifts : tuple of float, ppm
        Chemical shift of each spin (unused for heteronuclei).
    nuclei : tuple of str
        ``"1H"`` for observed protons, e.g. ``"31P"`` for a heteronucleus coupled to them.
    couplings : tuple of (int, int, float)
        ``(i, j, J)`` with 0-based spin indices and ``J`` in Hz.
    scale : float
        Multiplier of the subsystem's signal (number of equivalent protons of a singlet, or a
        fraction such as an anomer's).
    labels : tuple of str
    """

    shifts: tuple[float, ...]
    nuclei: tuple[str, ...]
    couplings: tuple[tuple[int, int, float], ...]
    scale: float = 1.0
    labels: tuple[str, ...] = ()

    @property
    def n_spins(self) -> int:
        """Number of spins, heteronuclei included."""
        return len(self.shifts)

    @property
    def observed(self) -> np.ndarray:
        """``(n_spins,)`` bool: which spins are protons."""
        return np.array([n == "1H" for n in self.nuclei])

    @property
    def n_protons(self) -> float:
        """Protons represented, ``scale`` times the observed spins."""
        return self.scale * float(self.observed.sum())


@dataclass(frozen=True)
class Metabolite:
    """A metabolite: name, independent subsystems and the source of the numbers."""

    name: str
    systems: tuple[SpinSystem, ...]
    source: str

    @property
    def n_protons(self) -> float:
        """Total protons simulated."""
        return sum(s.n_protons for s in self.systems)


def _parse(name: str, entry: dict) -> Metabolite:
    systems = []
    for raw in entry["systems"]:
        shifts = tuple(float(x) for x in raw["shifts"])
        nuclei = tuple(raw.get("nuclei", ["1H"] * len(shifts)))
        couplings = tuple((int(i), int(j), float(c)) for i, j, c in raw.get("couplings", []))
        if len(nuclei) != len(shifts) or any(
            not (0 <= i < len(shifts) and 0 <= j < len(shifts)) for i, j, _ in couplings
        ):
            raise SimulationError(f"spin system of {name} is inconsistent")
        systems.append(
            SpinSystem(
                shifts=shifts,
                nuclei=nuclei,
                couplings=couplings,
                scale=float(raw.get("scale", 1.0)),
                labels=tuple(raw.get("labels", ())),
            )
        )
    return Metabolite(name=name, systems=tuple(systems), source=str(entry.get("source", "")))


@cache
def spin_systems() -> dict[str, Metabolite]:
    """All metabolites of the shipped table, by name.

    Returns
    -------
    dict of str to Metabolite
    """
    text = (
        resources.files("mrspipe.simulate")
        .joinpath("data/spin_systems.json")
        .read_text(encoding="utf-8")
    )
    table = json.loads(text)["metabolites"]
    return {name: _parse(name, entry) for name, entry in table.items()}


def known_metabolites() -> tuple[str, ...]:
    """Names of the metabolites that can be simulated, sorted case-insensitively."""
    return tuple(sorted(spin_systems(), key=str.lower))


def get_metabolite(name: str) -> Metabolite:
    """Look up one metabolite.

    Raises
    ------
    SimulationError
        For an unknown name; the message lists the known ones.
    """
    table = spin_systems()
    if name not in table:
        raise SimulationError(
            f"unknown metabolite {name!r}; known: {', '.join(known_metabolites())}"
        )
    return table[name]
