"""Concentration ratios to a reference metabolite or sum, with propagated SD.

The SD is propagated from the CRLB covariance to first order, covariances included
(:func:`mrspipe.uncertainty.ratio_sd`).
"""

from __future__ import annotations

import numpy as np

from ..uncertainty import ratio_sd

__all__ = ["ratios"]


def ratios(result, *, reference: str = "tCr", metabolites=None) -> dict[str, dict[str, np.ndarray]]:  # noqa: ANN001
    """Concentration ratios to a reference metabolite or sum, with propagated SD.

    Parameters
    ----------
    result : FitResult
    reference : str
        ``'tCr'``, ``'tNAA'`` or any metabolite/sum name of ``result``.
    metabolites : sequence of str, optional
        Numerators (default: every metabolite and sum except the reference).

    Returns
    -------
    dict of str to dict
        ``{name: {"ratio": (n_frames,), "sd": (n_frames,)}}``;
        ``var(a/b) = (a/b)^2 (var_a/a^2 + var_b/b^2 - 2 cov_ab/(a b))``.
    """
    names = list(result.names + result.sum_names) if metabolites is None else list(metabolites)
    names = [n for n in names if n != reference]
    out = {}
    for name in names:
        vals, cov = result.combination([name, reference])
        r, sd = ratio_sd(vals[:, 0], vals[:, 1], cov[:, 0, 0], cov[:, 1, 1], cov[:, 0, 1])
        out[name] = {"ratio": r, "sd": sd}
    return out
