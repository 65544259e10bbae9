"""Options of the group statistics: :class:`StatsOptions`."""

from __future__ import annotations

from dataclasses import dataclass

from .._options import check_fields, option

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
        The metabolite the report and the demo summary lead with.
    mixed_model : bool
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
        "Glu", "the metabolite the report and demo summary lead with", section="metabolites"
    )
    mixed_model: bool = option(True, "also fit the linear mixed model condition x time x sex")
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
