"""A sum's concentration is the sum of its members' in the same source and frame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mrspipe.fit.crlb import SUMS
from mrspipe.quantify.table import _sums_from_members


def _by_groupby(fits: pd.DataFrame, conc: np.ndarray) -> np.ndarray:
    """The definition, with pandas: members summed per source#frame (NaN skipped)."""
    key = fits["source"].astype(str) + "#" + fits["frame"].astype(str)
    df = pd.DataFrame({"key": key, "metabolite": fits["metabolite"], "conc": conc})
    out = conc.copy()
    for total, members in SUMS.items():
        rows = (df["metabolite"] == total).to_numpy()
        parts = df[df["metabolite"].isin(members)]
        if rows.any() and not parts.empty:
            out[rows] = df.loc[rows, "key"].map(parts.groupby("key")["conc"].sum()).to_numpy()
    return out


def test_sums_from_members_equal_the_groupby_definition(rng):
    total, members = next((t, m) for t, m in SUMS.items() if len(m) >= 2)
    names = [*members, total, "Other"]
    rows = [(src, f, m) for src in ("a", "b") for f in range(5) for m in names]
    # source b, frame 4 has no member left: its total is NaN; a NaN member counts as 0
    rows = [r for r in rows if not (r[0] == "b" and r[1] == 4 and r[2] in members)]
    fits = pd.DataFrame(rows, columns=["source", "frame", "metabolite"])
    conc = rng.random(len(fits)) * 10
    missing = (fits["metabolite"] == members[0]).to_numpy().nonzero()[0][2]
    conc[missing] = np.nan
    got = _sums_from_members(fits, conc)
    want = _by_groupby(fits, conc)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)  # NaN where the definition's are
    hit = ((fits["source"] == "b") & (fits["frame"] == 4) & (fits["metabolite"] == total)).to_numpy(
        copy=True
    )
    assert np.isnan(got[hit]).all()
    hit[missing] = True  # the NaN member keeps its NaN; its total is finite
    assert np.isfinite(got[~hit]).all()
    np.testing.assert_array_equal(
        got[fits["metabolite"] == "Other"], conc[fits["metabolite"] == "Other"]
    )
