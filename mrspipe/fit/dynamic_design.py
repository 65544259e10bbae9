"""The declarative spectro-temporal model of :func:`mrspipe.fit.fit_dynamic`.

Every parameter class of the frame model (:mod:`mrspipe.fit.model`) is declared

* ``"fixed"``: one value shared by all frames;
* ``"free"``: one value per frame;
* ``"design"``: a linear model over named regressors of the design, ``value_f = sum_k X_fk
  gamma_k`` (``{"kind": "design", "regressors": ["intercept", "bold"]}``; default: every
  design column).

The baseline is ``free`` (its own smooth baseline per frame, profiled out as in the frame-wise
fit) or ``fixed`` (one smooth baseline for the session, phased with each frame, its
coefficients fitted with the other global unknowns).

The spec is data (a dict, or TOML text parsed with :mod:`tomllib`), validated against the
classes of the lineshape model (:func:`parameter_classes`; :data:`PARAMETER_CLASSES` for the
Voigt) before any fitting. Internally every per-frame quantity ("column":
the nonlinear parameters of :class:`~mrspipe.fit.model.FitProblem` then the concentrations)
is either *local* (free: one unknown per frame) or *global* with a frame matrix ``Z`` of shape
``(n_frames, n_coef)`` (fixed: a column of ones; design: the chosen regressors).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .layout import ParameterLayout
from .lineshape_models import DEFAULT_LINESHAPE, get_lineshape

__all__ = [
    "PARAMETER_CLASSES",
    "DEFAULT_MODEL",
    "INTERCEPT_NAMES",
    "parameter_classes",
    "default_model",
    "parse_model",
    "as_design",
    "variance_inflation",
    "ModelLayout",
    "build_layout",
]

_ANY = frozenset({"fixed", "free", "design"})


def parameter_classes(lineshape: str = DEFAULT_LINESHAPE) -> dict[str, frozenset[str]]:
    """Map every parameter class to the kinds it may take.

    The classes: ``conc``, the lineshape's widths
    (:attr:`~mrspipe.fit.lineshape_models.WidthParameter.dynamic_class`), ``shift``, ``phase0``,
    ``phase1``, ``baseline``.
    """
    widths = get_lineshape(lineshape).widths
    return {
        "conc": _ANY,
        **{w.dynamic_class: _ANY for w in widths},
        "shift": _ANY,
        "phase0": _ANY,
        "phase1": _ANY,
        "baseline": frozenset({"free", "fixed"}),
    }


def default_model(lineshape: str = DEFAULT_LINESHAPE) -> dict[str, str]:
    """Return the kind of every class a model does not declare.

    Concentrations on the design, shift and zero-order phase free, first-order phase fixed,
    baseline free, each width its
    :attr:`~mrspipe.fit.lineshape_models.WidthParameter.dynamic_default` (Voigt: Lorentzian
    free, Gaussian on the design).
    """
    widths = get_lineshape(lineshape).widths
    return {
        "conc": "design",
        **{w.dynamic_class: w.dynamic_default for w in widths},
        "shift": "free",
        "phase0": "free",
        "phase1": "fixed",
        "baseline": "free",
    }


#: parameter class -> the kinds it may take (the default Voigt lineshape)
PARAMETER_CLASSES: dict[str, frozenset[str]] = parameter_classes()

#: the model used when a class is not declared (the default Voigt lineshape)
DEFAULT_MODEL: dict[str, str] = default_model()

#: names accepted for the constant (baseline-level) regressor; stored as ``intercept``
INTERCEPT_NAMES: tuple[str, ...] = ("intercept", "const")


def parse_model(
    model: Mapping[str, Any] | str | None, *, lineshape: str = DEFAULT_LINESHAPE
) -> dict[str, dict[str, Any]]:
    """Validate a model spec and fill in the defaults.

    Parameters
    ----------
    model : mapping, str or None
        ``{class: kind}`` or ``{class: {"kind": kind, "regressors": [...]}}``; a string is
        parsed as TOML (a table per class or ``class = "kind"`` lines). None: the defaults.
    lineshape : str
        The lineshape model, whose widths are classes (:func:`parameter_classes`).

    Returns
    -------
    dict
        ``{class: {"kind": str, "regressors": tuple of str or None}}`` for every class.

    Raises
    ------
    ConfigError
        Unknown class or kind, regressors given for a kind that takes none, bad types.
    """
    if model is None:
        model = {}
    if isinstance(model, str):
        try:
            model = tomllib.loads(model)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"model spec is not valid TOML: {exc}") from None
    if not isinstance(model, Mapping):
        raise ConfigError(f"model spec must be a mapping, got {type(model).__name__}")
    classes, defaults = parameter_classes(lineshape), default_model(lineshape)
    unknown = sorted(set(model) - set(classes))
    if unknown:
        raise ConfigError(f"unknown parameter class(es) {unknown}; choose from {sorted(classes)}")
    out: dict[str, dict[str, Any]] = {}
    for name, allowed in classes.items():
        spec = model.get(name, defaults[name])
        keys = {"kind", "regressors"} | ({"metabolites"} if name == "conc" else set())
        out[name] = _entry(f"model[{name!r}]", spec, allowed, keys)
        if name == "conc":
            per = spec.get("metabolites", {}) if isinstance(spec, Mapping) else {}
            if not isinstance(per, Mapping):
                raise ConfigError("model['conc'] metabolites must map metabolite names to kinds")
            out[name]["metabolites"] = {
                str(m): _entry(
                    f"model['conc'] metabolite {m!r}", v, allowed, {"kind", "regressors"}
                )
                for m, v in per.items()
            }
    return out


def _entry(where: str, spec: Any, allowed: frozenset[str], keys: set[str]) -> dict[str, Any]:
    """Validate one ``kind`` or ``{kind, regressors}`` entry."""
    spec = {"kind": spec} if isinstance(spec, str) else spec
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} must be a kind name or a table, got {spec!r}")
    extra = sorted(set(spec) - keys)
    if extra:
        raise ConfigError(f"{where} has unknown key(s) {extra}")
    kind = spec.get("kind")
    if kind not in allowed:
        raise ConfigError(f"{where} kind must be one of {sorted(allowed)}, got {kind!r}")
    regs = spec.get("regressors")
    if regs is not None:
        if kind != "design":
            raise ConfigError(f"{where}: regressors only go with kind 'design'")
        if isinstance(regs, str) or not all(isinstance(r, str) for r in regs) or not regs:
            raise ConfigError(f"{where} regressors must be a non-empty list of names, got {regs!r}")
        regs = tuple("intercept" if r in INTERCEPT_NAMES else r for r in regs)
        if len(set(regs)) != len(regs):
            raise ConfigError(f"{where} lists a regressor twice: {list(regs)}")
    return {"kind": kind, "regressors": regs}


def as_design(design: pd.DataFrame | Mapping[str, Any], n_frames: int) -> pd.DataFrame:
    """Named regressors as a DataFrame with an ``intercept`` column, checked.

    ``const`` is renamed ``intercept``; an intercept is added when the design has none (the
    concentration at the baseline, the reference of the % responses). Columns may repeat a
    shape (a BOLD regressor equal to the infusion ramp drives a different parameter class);
    the regressors chosen for one class are checked together by :func:`build_layout`.

    Raises
    ------
    ConfigError
        Wrong length, non-finite values, a regressor that does not vary
        (:func:`mrspipe.dynamic.check_design`).
    """
    from ..design import check_design

    try:
        frame = pd.DataFrame(
            {str(k): np.asarray(v, dtype=float).ravel() for k, v in dict(design).items()}
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"design must map regressor names to numbers: {exc}") from None
    if len(frame) != n_frames:
        raise ConfigError(f"design has {len(frame)} rows, the data {n_frames} frames")
    if "const" in frame.columns:
        if "intercept" in frame.columns:
            raise ConfigError("design has both 'const' and 'intercept'")
        frame = frame.rename(columns={"const": "intercept"})
    if "intercept" not in frame.columns:
        frame.insert(0, "intercept", np.ones(n_frames))
    x = frame["intercept"].to_numpy()
    if not np.allclose(x, x[0]) or x[0] == 0:
        raise ConfigError("the 'intercept' regressor must be a nonzero constant")
    if not np.all(np.isfinite(frame.to_numpy())):
        raise ConfigError("design matrix has non-finite values")
    for name in frame.columns:  # the regressors of each class are checked together later
        check_design(frame[["intercept"] + ([name] if name != "intercept" else [])])
    return frame


def variance_inflation(design: pd.DataFrame) -> pd.Series:
    """Variance inflation factor of every regressor but the intercept.

    ``VIF_k = 1 / (1 - R_k^2)`` with ``R_k^2`` from regressing column ``k`` on the others
    (intercept included): 1 = orthogonal to the rest, above ~5-10 = hard to separate.

    Returns
    -------
    pandas.Series
        Indexed by regressor name (the intercept is left out).
    """
    x = design.to_numpy(dtype=float)
    names = [str(c) for c in design.columns]
    out = {}
    for k, name in enumerate(names):
        if name == "intercept":
            continue
        others = np.delete(x, k, axis=1)
        coef, *_ = np.linalg.lstsq(others, x[:, k], rcond=None)
        resid = x[:, k] - others @ coef
        centred = x[:, k] - x[:, k].mean()
        ss = float(centred @ centred)
        r2 = 1.0 - float(resid @ resid) / ss if ss > 0 else 1.0
        out[name] = np.inf if r2 >= 1.0 - 1e-15 else 1.0 / (1.0 - r2)
    return pd.Series(out, dtype=float, name="vif")


@dataclass(frozen=True)
class ModelLayout:
    """Where every unknown of the joint fit lives.

    Attributes
    ----------
    n_frames, n_theta, n_met : int
        Frames, nonlinear parameters per frame, concentrations per frame.
    n_extra : int
        Real baseline coefficients per frame when the baseline is shared (``2 n_baseline``:
        real and imaginary part of each), else 0.
    local : (q,) int ndarray
        Columns (indices into ``theta`` then concentrations) that are free per frame.
    frame_map : (n_frames, n_global, n_columns) float ndarray
        ``L``: the per-frame value of column ``c`` is ``sum_j L[f, j, c] gamma_j`` (global
        columns) or the local unknown (local columns).
    global_column : (n_global,) int ndarray
        Column of every global unknown.
    global_regressor : tuple of str
        Regressor of every global unknown (``"fixed"`` for a fixed one).
    column_names : tuple of str
        ``theta``'s (:meth:`~mrspipe.fit.layout.ParameterLayout.column_names`: Voigt
        ``shift[g], lorentz[g], gauss2[g], ..., phase0, phase1``), ``conc[name]``, then
        ``baseline[j].re, baseline[j].im``.
    spec : dict
        The validated model spec.
    """

    n_frames: int
    n_theta: int
    n_met: int
    local: np.ndarray
    frame_map: np.ndarray
    global_column: np.ndarray
    global_regressor: tuple[str, ...]
    column_names: tuple[str, ...]
    spec: dict[str, dict[str, Any]]
    n_extra: int = 0

    @property
    def n_global(self) -> int:
        """Number of global unknowns."""
        return int(self.global_column.size)

    @property
    def n_columns(self) -> int:
        """Per-frame quantities: nonlinear parameters, concentrations, shared baseline."""
        return self.n_theta + self.n_met + self.n_extra

    def values(self, gamma: np.ndarray, local_values: np.ndarray) -> np.ndarray:
        """Per-frame values ``(n_frames, n_columns)`` from global and local unknowns."""
        vals = np.einsum("fjc,j->fc", self.frame_map, gamma)
        vals[:, self.local] = local_values
        return vals


def _class_columns(name: str, parameters: ParameterLayout, n_met: int, n_extra: int) -> list[int]:
    n_theta = parameters.n_params
    theta_classes = parameters.dynamic_classes()
    if name in theta_classes:
        return [int(c) for c in theta_classes[name]]
    if name == "conc":
        return list(range(n_theta, n_theta + n_met))
    if name == "baseline":
        return list(range(n_theta + n_met, n_theta + n_met + n_extra))
    return []


def build_layout(
    spec: dict[str, dict[str, Any]],
    design: pd.DataFrame,
    *,
    parameters: ParameterLayout,
    met_names: tuple[str, ...],
    n_baseline: int = 0,
) -> ModelLayout:
    """Map a validated spec and design onto the columns of the frame model.

    ``parameters`` is the frame model's layout (``FitProblem.layout``).

    ``n_baseline`` is the number of (complex) baseline coefficients, used when the baseline
    is declared ``fixed`` (shared by all frames).

    Raises
    ------
    ConfigError
        A regressor not in the design, or a chosen subset of regressors that
        :func:`mrspipe.dynamic.check_design` rejects.
    """
    from ..design import check_design

    n_f = len(design)
    n_m = len(met_names)
    n_theta = parameters.n_params
    names = list(parameters.column_names()) + [f"conc[{m}]" for m in met_names]
    n_x = 2 * n_baseline if spec["baseline"]["kind"] == "fixed" else 0
    names += [f"baseline[{j // 2}].{'im' if j % 2 else 're'}" for j in range(n_x)]
    cols_global: list[int] = []
    regs_global: list[str] = []
    z_blocks: list[np.ndarray] = []
    local: list[int] = []
    per_met = spec["conc"].get("metabolites", {})
    unknown = sorted(set(per_met) - set(met_names))
    if unknown:
        raise ConfigError(
            f"model['conc'] names metabolite(s) {unknown} not in the basis ({', '.join(met_names)})"
        )
    for cls, entry in spec.items():
        for c in _class_columns(cls, parameters, n_m, n_x):
            if cls == "conc":
                entry_c = per_met.get(met_names[c - n_theta], entry)
                where = f"model['conc'] ({met_names[c - n_theta]})"
            else:
                entry_c, where = entry, f"model[{cls!r}]"
            kind = entry_c["kind"]
            if kind == "free":
                local.append(c)
                continue
            if kind == "fixed":
                regs, z = ("fixed",), np.ones((n_f, 1))
            else:
                regs = entry_c["regressors"] or tuple(design.columns)
                missing = [r for r in regs if r not in design.columns]
                if missing:
                    raise ConfigError(
                        f"{where} names regressor(s) {missing} not in the "
                        f"design (have {list(design.columns)})"
                    )
                sub = design[list(regs)]
                if "intercept" not in regs:
                    sub = sub.assign(intercept=1.0)  # check against a constant too
                check_design(sub)
                z = design[list(regs)].to_numpy(dtype=float)
            cols_global += [c] * len(regs)
            regs_global += list(regs)
            z_blocks.append(z)
    n_glob = len(cols_global)
    frame_map = np.zeros((n_f, n_glob, n_theta + n_m + n_x))
    j = 0
    for z in z_blocks:
        frame_map[:, j : j + z.shape[1], cols_global[j]] = z
        j += z.shape[1]
    return ModelLayout(
        n_frames=n_f,
        n_theta=n_theta,
        n_met=n_m,
        local=np.array(sorted(local), dtype=int),
        frame_map=frame_map,
        global_column=np.array(cols_global, dtype=int),
        global_regressor=tuple(regs_global),
        column_names=tuple(names),
        spec=spec,
        n_extra=n_x,
    )
