"""The nonlinear parameters of the frame model, described once: :class:`ParameterLayout`.

``theta`` of every frame, shape ``(n_frames, n_params)``, holds one block ``(shift, p_1, ...,
p_k)`` per lineshape group (the widths ``p`` of the lineshape model,
:mod:`mrspipe.fit.lineshape_models`), then the zero-order phase ``phi0`` (rad) and the first-order
phase ``phi1`` (s)::

    [shift_0, p_1_0, ..., shift_1, p_1_1, ..., phi0, phi1]

Every module that reads or writes ``theta`` (model, band model, start values, solver bounds,
lmfit names, reported parameters, the joint dynamic fit's columns) asks the layout.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import ConfigError
from .lineshape_models import LineshapeModel, get_lineshape

__all__ = ["ParameterLayout"]


@dataclass(frozen=True)
class ParameterLayout:
    """Where each nonlinear parameter lives in ``theta`` ``(n_frames, n_params)``.

    Attributes
    ----------
    lineshape : LineshapeModel
    group_names : tuple of str
        Lineshape groups, one block of parameters each.
    """

    lineshape: LineshapeModel
    group_names: tuple[str, ...]
    _index: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n_g, k = len(self.group_names), self.per_group
        index = {p: np.arange(n_g) * k + j for j, p in enumerate(self.group_params)}
        index["phase0"] = np.array([n_g * k])
        index["phase1"] = np.array([n_g * k + 1])
        for a in index.values():
            a.flags.writeable = False
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, lineshape: str | LineshapeModel, group_names: tuple[str, ...]) -> ParameterLayout:
        """Return the layout of a lineshape (a model or a registered name) for these groups."""
        model = get_lineshape(lineshape) if isinstance(lineshape, str) else lineshape
        return cls(model, tuple(group_names))

    # -- sizes and places ------------------------------------------------------------------
    @property
    def group_params(self) -> tuple[str, ...]:
        """Names of a group's block: ``("shift", *width names)``."""
        return ("shift",) + tuple(w.name for w in self.lineshape.widths)

    @property
    def n_groups(self) -> int:
        """Number of lineshape groups."""
        return len(self.group_names)

    @property
    def per_group(self) -> int:
        """Parameters per group (the shift and the widths)."""
        return 1 + len(self.lineshape.widths)

    @property
    def n_group_params(self) -> int:
        """Parameters of all group blocks (``theta[:, :n_group_params]``)."""
        return self.per_group * self.n_groups

    @property
    def n_params(self) -> int:
        """Nonlinear parameters per frame."""
        return self.n_group_params + 2

    @property
    def phase0(self) -> int:
        """Column of the zero-order phase (rad)."""
        return self.n_group_params

    @property
    def phase1(self) -> int:
        """Column of the first-order phase (s)."""
        return self.n_group_params + 1

    def index(self, name: str) -> np.ndarray:
        """Columns of a parameter: ``(n_groups,)`` for a group parameter, ``(1,)`` for a phase.

        ``name`` is a group parameter (``"shift"``, a width name) or ``"phase0"``/``"phase1"``.
        """
        if name not in self._index:
            raise KeyError(f"no parameter {name!r}; have {sorted(self._index)}")
        return self._index[name]

    @cached_property
    def is_width(self) -> np.ndarray:
        """``(n_params,)`` bool: the width parameters (bounded below by 0)."""
        mask = np.zeros(self.n_params, bool)
        mask[: self.n_group_params] = np.arange(self.n_group_params) % self.per_group != 0
        return mask

    # -- views of theta ---------------------------------------------------------------------
    def groups(self, theta: np.ndarray) -> np.ndarray:
        """Group blocks ``(..., n_groups, per_group)`` of ``theta`` ``(..., n_params)``."""
        lead = theta.shape[:-1]
        return theta[..., : self.n_group_params].reshape(lead + (self.n_groups, self.per_group))

    def shift(self, theta: np.ndarray) -> np.ndarray:
        """Shifts ``(..., n_groups)``, Hz."""
        return self.groups(theta)[..., 0]

    def widths(self, theta: np.ndarray) -> np.ndarray:
        """Width parameters ``(..., n_groups, n_widths)``."""
        return self.groups(theta)[..., 1:]

    # -- names --------------------------------------------------------------------------
    def names(self) -> tuple[str, ...]:
        """Identifier-safe names of ``theta``'s columns (``shift_0``, ..., ``phase1``)."""
        per = [f"{p}_{g}" for g in range(self.n_groups) for p in self.group_params]
        return tuple(per) + ("phase0", "phase1")

    def column_names(self) -> tuple[str, ...]:
        """Readable names of ``theta``'s columns (``shift[metabolites]``, ..., ``phase1``)."""
        per = [f"{p}[{g}]" for g in self.group_names for p in self.group_params]
        return tuple(per) + ("phase0", "phase1")

    def dynamic_classes(self) -> dict[str, np.ndarray]:
        """Class of the joint dynamic fit -> its columns (``shift``, widths, phases)."""
        out = {"shift": self.index("shift")}
        for w in self.lineshape.widths:
            out[w.dynamic_class] = self.index(w.name)
        out["phase0"] = self.index("phase0")
        out["phase1"] = self.index("phase1")
        return out

    # -- bounds, start values, reported values ------------------------------------------
    def bounds(self, *, max_shift_hz: float, max_phase1: float) -> tuple[np.ndarray, np.ndarray]:
        """Return the lower and upper bounds ``(n_params,)``.

        The shift within ``max_shift_hz`` (Hz), widths within ``[0, upper]``, ``phi0`` free,
        ``|phi1| <= max_phase1`` (s).
        """
        widths = self.lineshape.widths
        lower = np.tile([-max_shift_hz] + [0.0] * len(widths), self.n_groups).tolist()
        upper = np.tile([max_shift_hz] + [w.upper for w in widths], self.n_groups).tolist()
        return (
            np.array(lower + [-np.inf, -max_phase1]),
            np.array(upper + [np.inf, max_phase1]),
        )

    def start(self, n_frames: int, overrides: Mapping[str, float] | None = None) -> np.ndarray:
        """``theta`` ``(n_frames, n_params)``: widths at their start values, the rest 0.

        ``overrides`` maps reported names (``"lorentz_hz"``, ``"gauss_hz"``) to start values.

        Raises
        ------
        ConfigError
            An override names no width of the lineshape.
        """
        overrides = dict(overrides or {})
        theta = np.zeros((n_frames, self.n_params))
        for w in self.lineshape.widths:
            value = w.start
            if w.report in overrides:
                value = float(w.from_report(np.asarray(overrides.pop(w.report))))
            theta[:, self.index(w.name)] = value
        if overrides:
            raise ConfigError(
                f"start value(s) {sorted(overrides)} name no width of the "
                f"{self.lineshape.name!r} lineshape "
                f"({', '.join(w.report for w in self.lineshape.widths)})"
            )
        return theta

    def to_params(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Return the reported values of ``theta`` ``(n_frames, n_params)``.

        ``shift_hz`` and each width (:attr:`WidthParameter.report`) ``(n_frames, n_groups)``,
        ``phase0`` (rad) and ``phase1`` (s) ``(n_frames,)``.
        """
        out = {"shift_hz": self.shift(theta)}
        widths = self.widths(theta)
        for k, w in enumerate(self.lineshape.widths):
            out[w.report] = w.to_report(widths[..., k])
        out["phase0"] = theta[:, self.phase0]
        out["phase1"] = theta[:, self.phase1]
        return out

    def from_params(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """``theta`` ``(n_frames, n_params)`` from :meth:`to_params`' values."""
        shift = np.asarray(params["shift_hz"])
        theta = np.empty((len(shift), self.n_params))
        theta[:, self.index("shift")] = shift
        for w in self.lineshape.widths:
            theta[:, self.index(w.name)] = w.from_report(np.asarray(params[w.report]))
        theta[:, self.phase0] = params["phase0"]
        theta[:, self.phase1] = params["phase1"]
        return theta

    # -- the lineshape family (for the low-rank band model) --------------------------------
    def family_samples(
        self, n: int, df: float, uppers: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples of the lineshape family for :mod:`mrspipe.fit.lowrank`.

        Parameters
        ----------
        n : int
            Random samples (the corners of the bounds are added).
        df : float, Hz
            The remainder shift is drawn within ``df / 2``.
        uppers : (n_widths,) float ndarray
            Upper bound of each width.
        rng : numpy.random.Generator

        Returns
        -------
        delta : (S,) float ndarray, Hz
        widths : (S, n_widths) float ndarray
        """
        widths = self.lineshape.widths
        delta = rng.uniform(-0.5 * df, 0.5 * df, n)
        values = [w.draw(rng, n, float(u)) for w, u in zip(widths, uppers, strict=True)]
        corners = np.array(
            list(itertools.product((-0.5 * df, 0.0, 0.5 * df), *[(0.0, float(u)) for u in uppers]))
        )
        return (
            np.concatenate([delta, corners[:, 0]]),
            np.stack([np.concatenate([v, corners[:, 1 + k]]) for k, v in enumerate(values)], -1),
        )
