"""The estimates of a fit, frame by frame, with their covariance: :class:`Estimates`.

Both fits give one: :meth:`FitResult.to_estimates <mrspipe.fit.FitResult.to_estimates>` (frame
by frame) and :meth:`DynamicFitResult.to_estimates <mrspipe.fit.DynamicFitResult.to_estimates>`
(the design-implied concentration of every frame of a joint fit). The covariance travels with
the estimates, is saved beside the session tables (``covariance.tsv``) and reaches the
time-course ratios, whose SDs then include it instead of assuming independence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Estimates", "COVARIANCE_COLUMNS", "estimates_table", "name_weights"]

#: columns of :meth:`Estimates.covariance_table` (the session's ``covariance.tsv``)
COVARIANCE_COLUMNS = ("frame", "metabolite_a", "metabolite_b", "covariance")


@dataclass(frozen=True, eq=False)
class Estimates:
    """Per-frame estimates of named quantities (metabolites and sums) with their covariance.

    Attributes
    ----------
    names : tuple of str
        Metabolites, then sums (``tNAA``, ``tCr``, ``tCho``, ``Glx``).
    estimates : (n_frames, n_names) float ndarray
        In basis units.
    crlb_sd : (n_frames, n_names) float ndarray
        Cramér-Rao SD of each estimate (same units).
    covariance : (n_frames, n_names, n_names) float ndarray
        Their covariance within each frame.
    frame_times : (n_frames,) float ndarray or None, s
        Frame (centre) times from the first transient.
    """

    names: tuple[str, ...]
    estimates: np.ndarray
    crlb_sd: np.ndarray
    covariance: np.ndarray
    frame_times: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.estimates.shape[0])

    def covariance_table(self, names: Sequence[str] | None = None) -> Any:
        """Tidy covariances of every pair of ``names`` (default all), each pair once.

        Returns
        -------
        pandas.DataFrame
            :data:`COVARIANCE_COLUMNS`: ``frame, metabolite_a, metabolite_b, covariance``
            (``metabolite_a`` before ``metabolite_b`` in :attr:`names`), what
            :func:`mrspipe.dynamic.add_ratios` reads.
        """
        import pandas as pd

        wanted = list(self.names) if names is None else [n for n in names if n in self.names]
        idx = [self.names.index(n) for n in wanted]
        pairs = [(i, j) for k, i in enumerate(idx) for j in idx[k + 1 :]]
        n_f = self.n_frames
        if not pairs:
            return pd.DataFrame({c: [] for c in COVARIANCE_COLUMNS})
        a = np.array([self.names[i] for i, _ in pairs], dtype=object)
        b = np.array([self.names[j] for _, j in pairs], dtype=object)
        cov = self.covariance[:, [i for i, _ in pairs], [j for _, j in pairs]]
        return pd.DataFrame(
            {
                "frame": np.repeat(np.arange(n_f), len(pairs)),
                "metabolite_a": np.tile(a, n_f),
                "metabolite_b": np.tile(b, n_f),
                "covariance": cov.ravel(),
            }
        )


def name_weights(
    name: str, names: tuple[str, ...], sum_names: tuple[str, ...], sum_weights: np.ndarray
) -> np.ndarray:
    """0/1 weights ``(n_met,)`` of a metabolite or a sum name over the metabolites ``names``.

    ``sum_weights`` is ``(n_sums, n_met)``, one row per name of ``sum_names``.

    Raises
    ------
    KeyError
        ``name`` is neither.
    """
    if name in names:
        return (np.array(names) == name).astype(float)
    if name in sum_names:
        return sum_weights[sum_names.index(name)]
    raise KeyError(f"no metabolite or sum {name!r}; have {names + sum_names}")


def estimates_table(
    source: str | None, names: Sequence[str], estimates: np.ndarray, sd: np.ndarray
) -> Any:
    """Tidy table of per-frame estimates: one row per (frame, name).

    Parameters
    ----------
    source : str or None
        Repeated in the ``source`` column.
    names : sequence of str
        Metabolites and sums, ``n_names``.
    estimates, sd : (n_frames, n_names) float ndarray
        Estimates and their SDs (basis units).

    Returns
    -------
    pandas.DataFrame
        ``source, frame, metabolite, estimate, crlb_sd, crlb_percent`` (``crlb_percent = 100
        crlb_sd / estimate``; NaN where the estimate is not positive).
    """
    import pandas as pd

    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(estimates > 0, 100.0 * sd / np.where(estimates > 0, estimates, 1.0), np.nan)
    n_f, n_m = estimates.shape
    return pd.DataFrame(
        {
            "source": [source] * (n_f * n_m),
            "frame": np.repeat(np.arange(n_f), n_m),
            "metabolite": np.tile(np.array(names, dtype=object), n_f),
            "estimate": estimates.ravel(),
            "crlb_sd": sd.ravel(),
            "crlb_percent": pct.ravel(),
        }
    )
