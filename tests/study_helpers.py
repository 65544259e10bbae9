"""A small simulated crossover study and the basis that matches its acquisition (for tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def simulated_study_with_basis(
    root: Path, *, n_participants: int, n_transients: int, n_points: int, rng: int
) -> tuple[Path, Path, dict[str, Any]]:
    """Simulate ``root/study`` and save its basis (FSL format) to ``root/basis``.

    Returns
    -------
    (study folder, basis folder, truth dict of :func:`mrspipe.simulate.simulate_study`)
    """
    from mrspipe.io.basis import save_basis
    from mrspipe.simulate import simulate_basis, simulate_study

    truth = simulate_study(
        root / "study",
        n_participants=n_participants,
        n_transients=n_transients,
        n_points=n_points,
        rng=rng,
    )
    design = truth["design"]
    basis = simulate_basis(
        sequence=design["sequence"],
        field_mhz=design["field_mhz"],
        te=design["te"],
        dwell_time=design["dwell_time"],
        n_points=n_points,
    )
    save_basis(basis, root / "basis", format="fsl")
    return root / "study", root / "basis", truth
