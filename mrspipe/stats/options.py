"""Options of the group statistics: :class:`StatsOptions`."""

from __future__ import annotations

from dataclasses import dataclass

from .._options import check_fields, option
from .permutation import MAX_EXHAUSTIVE, N_DRAWS

__all__ = ["StatsOptions"]


@dataclass(frozen=True, kw_only=True)
class StatsOptions:
    """What the group analysis compares and how.

    ``[conditions]``, ``[metabolites]``, ``[stats]`` and ``[clinical]`` of ``study.toml``.

    Attributes
    ----------
    contrast : (str, str) or None
        ``(active, control)``; None = inferred (the condition called placebo is the control).
    analyse : tuple of str
        Metabolites, sums and ratios carried into the group tables, statistics and report.
    primary : str
        The primary outcome: the report leads with it; ``stats.tsv`` marks its ``paired`` and
        ``interaction`` rows ``primary``.
    mixed_model : bool
        Also fit the frame-level linear mixed model (:mod:`mrspipe.stats.frames`).
    random_slope : bool
        Random rises per session and participant in the frame-level model.
    period_adjust : bool
        The paired contrast is the Jones-Kenward period-adjusted estimate when the session order
        is known (the plain paired difference is then a sensitivity row).
    permutations : int
        Random relabellings for ``p_perm`` when there are more than ``max_exhaustive``.
    max_exhaustive : int
        Enumerate every relabelling up to this many (Python API only).
    seed : int
        Seed of the permutation draws.
    ci_level : float
    score : str
        Clinical score table ``phenotype/<score>.tsv``.
    baseline_timepoint : str
    """

    contrast: tuple[str, str] | None = option(
        None,
        "[active, control]: the paired contrast is active - control; unset = inferred (the "
        "condition called placebo is the control)",
        section="conditions",
    )
    analyse: tuple[str, ...] = option(
        ("Glu", "Gln", "Glx", "tNAA", "tCr", "tCho", "Glx/tNAA", "Glu/tNAA"),
        "metabolites carried into the group tables, statistics and report",
        section="metabolites",
    )
    primary: str = option(
        "Glu",
        "the primary outcome: the report leads with it and stats.tsv marks its paired and "
        "interaction rows primary (GO-MARK: Glx/tNAA)",
        section="metabolites",
    )
    mixed_model: bool = option(
        False,
        "also fit the frame-level linear mixed model condition x time (x sex), F(1, df) with "
        "Satterthwaite df (GO-MARK's model, analysis frame_lmm)",
    )
    random_slope: bool = option(
        True,
        "frame-level model: random rises per session and participant (keep on: without them "
        "autocorrelated frames count as independent evidence)",
    )
    period_adjust: bool = option(
        True,
        "the paired contrast is period-adjusted (Jones-Kenward) when the session order is "
        "known; the plain paired difference is then the sensitivity row paired_unadjusted",
    )
    permutations: int = option(
        N_DRAWS,
        "random relabellings for p_perm when they cannot all be enumerated (all are when there "
        "are at most 100000)",
        minimum=1,
    )
    max_exhaustive: int = option(
        MAX_EXHAUSTIVE, "enumerate every relabelling up to this many", minimum=1, config=False
    )
    seed: int = option(0, "seed of the permutation draws (p_perm is reproducible)", minimum=0)
    ci_level: float = option(0.95, "confidence level of the intervals", minimum=0.5, maximum=0.999)
    score: str = option(
        "madrs",
        "phenotype/<score>.tsv holds clinical scores (used when present; the score column is "
        "<score> or score)",
        section="clinical",
    )
    baseline_timepoint: str = option(
        "baseline", "timepoint label of the pre-treatment score", section="clinical"
    )

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def alpha(self) -> float:
        """1 - ``ci_level``: the level of every test and interval."""
        return 1.0 - self.ci_level
