"""Options of the dynamic layer: :class:`Windows`, :class:`GLMOptions`, :class:`PoolingOptions`."""

from __future__ import annotations

from dataclasses import dataclass

from .._options import check_fields, option

__all__ = ["Windows", "GLMOptions", "PoolingOptions"]


@dataclass(frozen=True, kw_only=True)
class Windows:
    """Time 0 and the baseline and response windows of a session (``[windows]``; s).

    A window ``(start, end)`` holds the frames with ``start <= time_s < end``, ``time_s``
    relative to the onset of ``event``; ``None`` is an open end (and only that: ``-inf`` and
    ``inf`` are turned into None, so every layer sees one form).

    Attributes
    ----------
    event : str or None
        ``events.tsv`` ``trial_type`` (case-insensitive substring) whose first onset is time 0.
    baseline, response : (float or None, float or None), s relative to the onset
    exclude_unconverged : bool
        Leave the frames whose fit did not converge out of the time courses (their estimates
        become NaN there, so the windows, the GLM and the statistics do not use them).
    """

    event: str | None = option(
        None,
        "events.tsv trial_type (case-insensitive substring) whose first onset is time 0; "
        "unset = the first event whose trial_type contains 'infusion', else the first event",
    )
    baseline: tuple[float | None, float | None] = option(
        (None, 0.0),
        "baseline window [start, end], s from the onset (-inf/inf for an open end); default "
        "every frame before the onset",
    )
    response: tuple[float | None, float | None] = option(
        (0.0, None),
        "response window [start, end], s from the onset (-inf/inf for an open end); default "
        "from the onset to the end of the infusion (events.tsv duration; the end of the scan "
        "without one)",
    )
    exclude_unconverged: bool = option(
        True,
        "leave frames whose fit did not converge (frames QC table: converged false) out of the "
        "time courses, windows, GLM and statistics (NaN there; the estimates stay in the fit "
        "table); false = use them. A --dynamic session's joint fit has no per-frame fit: if it "
        "did not converge the session is flagged and kept",
    )

    def __post_init__(self) -> None:
        check_fields(self)

    def describe(self, kind: str) -> str:
        """Words for a window: ``'every frame before the onset'`` or ``'-600 s to 0 s ...'``."""
        a, b = self.baseline if kind == "baseline" else self.response
        if a is None and b == 0 and kind == "baseline":
            return "every frame before the onset"
        if a == 0 and b is None and kind == "response":
            return (
                "from the onset to the end of the infusion (its events.tsv duration; the end of "
                "the scan when no duration is recorded)"
            )
        left = "start" if a is None else f"{a:g} s"
        right = "end" if b is None else f"{b:g} s"
        return f"{left} to {right} relative to the onset"


@dataclass(frozen=True, kw_only=True)
class GLMOptions:
    """The per-session GLM on the time courses (``[glm]``).

    Attributes
    ----------
    enabled : bool
    regressor : {'ramp', 'boxcar', 'exponential', 'hrf'}
    tau_s : float, s
        Time constant of the exponential regressor.
    drift_order : int
        Legendre drift terms.
    noise : {'ar1', 'ols'}
        Frame errors: AR(1) by REML then GLS with Satterthwaite df, or independent frames.
    until_infusion_end : bool
        Fit only the frames before the end of the infusion.
    """

    enabled: bool = option(True, "fit a GLM to every session's time courses")
    regressor: str = option(
        "ramp",
        "response regressor from the infusion event: linear rise over the infusion then "
        "plateau, boxcar, first-order exponential rise (time constant tau_s), or the "
        "HRF-convolved boxcar",
        choices=("ramp", "boxcar", "exponential", "hrf"),
    )
    tau_s: float = option(300.0, "time constant of the exponential regressor, s", minimum=1.0)
    drift_order: int = option(
        0,
        "Legendre drift terms (note: a linear drift is nearly collinear with a ramp over a "
        "short scan)",
        minimum=0,
    )
    noise: str = option(
        "ar1",
        "frame errors: AR(1) estimated by REML per time course, then GLS with Satterthwaite df, "
        "or ols (independent frames; anti-conservative when frames are autocorrelated)",
        choices=("ar1", "ols"),
    )
    until_infusion_end: bool = option(
        True,
        "fit only frames before the end of the infusion (events.tsv duration), so the washout "
        "is not read as the plateau; false = every frame",
    )

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, kw_only=True)
class PoolingOptions:
    """Neighbour responses pooled across a study's sessions (``[pooling]``).

    :func:`mrspipe.dynamic.pooling.pool_neighbours`: the response of each named metabolite
    is pooled across the sessions of a condition (empirical Bayes), and every other estimate
    of a frame is conditioned on it (``docs/methods/pooling.md``).

    Attributes
    ----------
    metabolites : tuple of str
        The pooled neighbours; empty = off (each session's own frame estimates).
    min_sessions : int
        A condition with fewer sessions is left as fitted.
    """

    metabolites: tuple[str, ...] = option(
        ("Gln", "GABA"),
        "metabolites whose response is pooled across the sessions of a condition; every other "
        "estimate (Glu, sums, ratios) is conditioned on them, which removes the noise Glu "
        "shares with its overlapping neighbours; empty = off",
    )
    min_sessions: int = option(
        6, "a condition with fewer sessions is left as fitted (no pooling)", minimum=2
    )

    def __post_init__(self) -> None:
        check_fields(self)
