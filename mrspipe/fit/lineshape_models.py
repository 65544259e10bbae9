"""Lineshape models of the fit: a new lineshape is one entry of :data:`LINESHAPES`.

A lineshape model (:class:`LineshapeModel`) is one registry entry of :data:`LINESHAPES`. Its
decay is *log-linear* in its width parameters ``p_k``::

    h(t) = exp(2j pi s t + sum_k rate_k p_k t**power_k)

so one entry (the parameters' ``rate``, ``power``, bounds, start values, reported names) gives
the forward model, its analytic derivatives (``d h / d p_k = rate_k t**power_k h``), the
low-rank band model (:mod:`mrspipe.fit.lowrank`), the lmfit names, the bounds and the classes of
the joint dynamic fit. The Voigt model (Lorentzian FWHM ``L``, squared Gaussian FWHM ``G^2``)
is the default; a pure Lorentzian is the second entry, and ``'kernel'`` is the Voigt on a basis
folded with a free kernel estimated on the mean of the frames (:mod:`mrspipe.fit.lineshape`).

:class:`~mrspipe.fit.layout.ParameterLayout` places the parameters in the vector ``theta`` of
every frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..spectral import GAUSS_FWHM_FACTOR

__all__ = [
    "DEFAULT_LINESHAPE",
    "LINESHAPES",
    "LineshapeModel",
    "WidthParameter",
    "get_lineshape",
    "register_lineshape",
    "voigt_fwhm",
]


def _identity(x: np.ndarray) -> np.ndarray:
    return x


@dataclass(frozen=True)
class WidthParameter:
    """One per-group width parameter ``p`` of a lineshape: ``log h += rate * p * t**power``.

    Attributes
    ----------
    name : str
        Name in ``theta`` (``"lorentz"``, ``"gauss2"``); columns of the joint fit are
        ``name[group]``.
    rate : float
        Coefficient of ``p t**power`` in ``log h`` (negative: a decay).
    power : int
        Power of ``t`` (s).
    upper : float
        Upper bound of ``p`` (the lower bound is 0).
    start : float
        Start value of ``p``.
    report : str
        Key of the fitted value in :attr:`mrspipe.fit.FitResult.params` (e.g. ``"gauss_hz"``).
    to_report, from_report : callable
        ``p`` -> reported value and back (e.g. ``sqrt`` and ``square`` for ``gauss2``).
    sample : callable, optional
        ``sample(rng, n, upper) -> (n,)`` values spread over ``[0, upper]``: the samples of the
        lineshape family from which :mod:`mrspipe.fit.lowrank` builds its low-rank basis
        (:meth:`draw`; default: ``p**(1/power)`` uniform, every other sample denser near 0).
    dynamic_class : str
        Parameter class of the joint dynamic fit (:mod:`mrspipe.fit.dynamic_design`).
    dynamic_default : {'fixed', 'free', 'design'}
        The class's kind when the model does not declare it.
    """

    name: str
    rate: float
    power: int
    upper: float
    start: float
    report: str
    to_report: Callable[[np.ndarray], np.ndarray] = _identity
    from_report: Callable[[np.ndarray], np.ndarray] = _identity
    sample: Callable[[np.random.Generator, int, float], np.ndarray] | None = None
    dynamic_class: str = ""
    dynamic_default: str = "free"

    def __post_init__(self) -> None:
        if not self.dynamic_class:
            object.__setattr__(self, "dynamic_class", self.name)

    def draw(self, rng: np.random.Generator, n: int, upper: float) -> np.ndarray:
        """``n`` values over ``[0, upper]`` (:attr:`sample`)."""
        if self.sample is not None:
            return self.sample(rng, n, upper)
        # the lineshape changes fastest near 0 (long decays): denser there
        x = rng.uniform(0.0, 1.0, n) ** np.where(np.arange(n) % 2, 1.0, 3.0)
        return upper * x**self.power


@dataclass(frozen=True)
class LineshapeModel:
    """A lineshape model: the width parameters of a group and the FWHM they give.

    Attributes
    ----------
    name : str
        Registry key (``lineshape=`` of :func:`mrspipe.fit.fit_spectra`).
    widths : tuple of WidthParameter
    fwhm : callable
        ``fwhm(widths) -> Hz``: FWHM of the lineshape from ``(..., n_widths)`` values (the
        broadening applied to the basis; a QC number and the width of the residual window).
    kernel : bool
        Before the frames are fitted, a free real lineshape kernel is estimated on the mean of
        the frames and folded into the basis (:mod:`mrspipe.fit.lineshape`); this model's
        widths then act on top of it, per frame. Frame-wise fits only.
    """

    name: str
    widths: tuple[WidthParameter, ...]
    fwhm: Callable[[np.ndarray], np.ndarray]
    kernel: bool = False

    def t_powers(self, t: np.ndarray) -> list[np.ndarray]:
        """``t**power`` of every width parameter (products of ``t``, in its precision)."""
        out = []
        for w in self.widths:
            tp = t
            for _ in range(w.power - 1):
                tp = tp * t
            out.append(tp)
        return out

    def exponent(
        self, widths: np.ndarray, t_powers: list[np.ndarray], dtype: type | None = None
    ) -> np.ndarray:
        """``sum_k rate_k p_k t**power_k``: ``(..., n_widths)`` values -> ``(..., n_points)``.

        ``rate_k p_k`` is computed in double precision and cast to ``dtype`` when given.
        """
        out = None
        for k, (w, tp) in enumerate(zip(self.widths, t_powers, strict=True)):
            coef = w.rate * widths[..., k : k + 1]
            term = (coef if dtype is None else coef.astype(dtype)) * tp
            out = term if out is None else out + term
        assert out is not None
        return out

    def decay(self, t: np.ndarray, widths: np.ndarray) -> np.ndarray:
        """Real decay ``exp(sum_k rate_k p_k t**power_k)``, ``(..., n_points)``.

        Parameters
        ----------
        t : (n_points,) float ndarray, s
        widths : (..., n_widths) float ndarray
            In the precision of ``t`` for a result in that precision.
        """
        return np.exp(self.exponent(widths, self.t_powers(t)))

    def log_derivatives(self, t: np.ndarray) -> list[np.ndarray]:
        """``d log h / d p_k = rate_k t**power_k`` (independent of the parameters)."""
        return [w.rate * tp for w, tp in zip(self.widths, self.t_powers(t), strict=True)]


#: lineshape name -> model; add one with :func:`register_lineshape`
LINESHAPES: dict[str, LineshapeModel] = {}
#: the lineshape model of the fit unless told otherwise
DEFAULT_LINESHAPE = "voigt"


def register_lineshape(model: LineshapeModel) -> LineshapeModel:
    """Add ``model`` to :data:`LINESHAPES` (replacing one of the same name); returns it."""
    if not model.widths:
        raise ConfigError(f"lineshape {model.name!r} has no width parameter")
    LINESHAPES[model.name] = model
    return model


def voigt_fwhm(lorentz_hz: np.ndarray, gauss_hz: np.ndarray) -> np.ndarray:
    """FWHM of a Voigt profile (Olivero & Longbothum 1977, accurate to 0.02 %), Hz.

    References
    ----------
    Olivero JJ, Longbothum RL. J Quant Spectrosc Radiat Transfer 1977;17:233-236.
    """
    lorentz = np.asarray(lorentz_hz, dtype=float)
    gauss = np.asarray(gauss_hz, dtype=float)
    return 0.5346 * lorentz + np.sqrt(0.2166 * lorentz**2 + gauss**2)


def _voigt_fwhm(widths: np.ndarray) -> np.ndarray:
    return voigt_fwhm(widths[..., 0], np.sqrt(np.clip(widths[..., 1], 0.0, None)))


def _lorentz_sample(rng: np.random.Generator, n: int, upper: float) -> np.ndarray:
    # dense near 0 for every other sample (narrow lines need the most basis functions)
    return rng.uniform(0.0, upper, n) * rng.uniform(0.0, 1.0, n) ** np.where(
        np.arange(n) % 2, 1.0, 3.0
    )


def _gauss2_sample(rng: np.random.Generator, n: int, upper: float) -> np.ndarray:
    # uniform in the FWHM (not its square), dense near 0 for every third sample
    fwhm = np.sqrt(upper) * rng.uniform(0.0, 1.0, n) ** np.where(np.arange(n) % 3, 1.0, 3.0)
    return fwhm**2


def _sqrt(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(x, 0.0, None))


def _square(x: np.ndarray) -> np.ndarray:
    return np.asarray(x) ** 2


LORENTZ = WidthParameter(
    "lorentz", -np.pi, 1, upper=40.0, start=4.0, report="lorentz_hz", sample=_lorentz_sample
)

register_lineshape(
    LineshapeModel(
        "voigt",
        (
            LORENTZ,
            # the Gaussian follows the design in the joint fit: a BOLD narrowing of the
            # Gaussian part (the FSL-MRS fMRS demo's model) otherwise reads as concentration
            # (-1.5 pp Glu for -0.6 Hz, noise-free); design rather than free keeps it to a few
            # parameters (the Lorentzian, free per frame, already takes shim changes)
            WidthParameter(
                "gauss2",
                -(np.pi**2 * GAUSS_FWHM_FACTOR),
                2,
                upper=40.0**2,
                start=4.0**2,
                report="gauss_hz",
                to_report=_sqrt,
                from_report=_square,
                sample=_gauss2_sample,
                dynamic_class="gauss",
                dynamic_default="design",
            ),
        ),
        fwhm=_voigt_fwhm,
    )
)
register_lineshape(LineshapeModel("lorentz", (LORENTZ,), fwhm=lambda w: w[..., 0]))
register_lineshape(
    LineshapeModel("kernel", LINESHAPES["voigt"].widths, fwhm=_voigt_fwhm, kernel=True)
)


def get_lineshape(name: str) -> LineshapeModel:
    """Return the registered lineshape model ``name``.

    Raises
    ------
    ConfigError
        Unknown name.
    """
    if name not in LINESHAPES:
        raise ConfigError(f"unknown lineshape {name!r}; choose from {sorted(LINESHAPES)}")
    return LINESHAPES[name]
