"""Literature T1/T2 relaxation times of brain water and metabolites, by field strength.

One table per field; :func:`metabolite_relaxation` and :func:`water_relaxation` pick the table
whose field is nearest the data's (and log a warning when it is more than 1 T away). Every entry
names its source. Values are in seconds.

Sources
-------
* Water, GM and WM at 3 T: Wansapura JP, Holland SK, Dunn RS, Ball WS. NMR relaxation times in
  the human brain at 3.0 Tesla. J Magn Reson Imaging 1999;9:531-538 (T1 832/1331 ms,
  T2 79.6/110 ms for WM/GM; the values as tabulated in Osprey's ``OspreyQuantify.m``).
* Water, CSF at 3 T: T1 3817 ms from Lu H, Nagae-Poetscher LM, Golay X, et al. J Magn Reson
  Imaging 2005;22:13-22; T2 503 ms from Piechnik SK, Evans J, Bary LH, et al. Magn Reson Med
  2009;61:579-583.
* Metabolites at 3 T: T1 from Mlynárik V, Gruber S, Moser E. Proton T1 and T2 relaxation times
  of human brain metabolites at 3 Tesla. NMR Biomed 2001;14:325-331 (NAA, Cr, Cho, Ins, Glu; the
  other metabolites get the generic 1.34/1.19 s GM/WM value used by Osprey); T2 from Wyss PO,
  Bianchini C, Scheidegger M, et al. In vivo estimation of transverse relaxation time constant
  (T2) of 17 human brain metabolites at 3T. Magn Reson Med 2018;80:452-461. The GM value is the
  mean of occipital and anterior cingulate, the WM value parietal white matter, and the table
  holds the GM/WM mean, all as tabulated in Osprey's ``OspreyQuantify.m`` (``lookUpRelaxTimes``),
  from which these numbers were taken.

Only a 3 T table is provided: we did not find 7 T values we could cite per metabolite in the
sources at hand, so 7 T data get the 3 T table with a warning (override with
``[quantify] metabolite_t1/metabolite_t2`` / ``water_t1/water_t2`` if you know better).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Relaxation",
    "METABOLITES",
    "WATER",
    "SUMS",
    "GENERIC_3T",
    "nearest_field",
    "metabolite_relaxation",
    "water_relaxation",
]

logger = logging.getLogger("mrspipe")

_MLYNARIK = "T1 Mlynarik et al. 2001 NMR Biomed 14:325"
_GENERIC_T1 = "T1 generic 1.34/1.19 s GM/WM (Osprey default)"
_WYSS = "T2 Wyss et al. 2018 MRM 80:452 (GM/WM mean)"


@dataclass(frozen=True)
class Relaxation:
    """One table entry: T1 and T2 in s and where they come from."""

    t1: float
    t2: float
    source: str


def _e(t1_gm: float, t1_wm: float, t2_gm: float, t2_wm: float, t1_src: str) -> Relaxation:
    """GM/WM mean of the tabulated values (ms) -> Relaxation (s)."""
    return Relaxation(
        t1=(t1_gm + t1_wm) / 2e3, t2=(t2_gm + t2_wm) / 2e3, source=f"{t1_src}; {_WYSS}"
    )


#: metabolite relaxation per field (T): name -> Relaxation. GM T2 = mean of OCC and pACC.
METABOLITES: dict[float, dict[str, Relaxation]] = {
    3.0: {
        "Asc": _e(1340, 1190, (125 + 105) / 2, 172, _GENERIC_T1),
        "Asp": _e(1340, 1190, (111 + 90) / 2, 148, _GENERIC_T1),
        "Cr": _e(1460, 1240, (148 + 144) / 2, 166, _MLYNARIK),
        "PCr": _e(1460, 1240, (148 + 144) / 2, 166, _MLYNARIK),
        "GABA": _e(1310, 1310, (102 + 75) / 2, (102 + 75) / 2, "T1 Puts et al. 2013 JMRI 37:999"),
        "Glc": _e(1340, 1190, (117 + 88) / 2, 155, _GENERIC_T1),
        "Gln": _e(1340, 1190, (122 + 99) / 2, 168, _GENERIC_T1),
        "Glu": _e(1270, 1170, (135 + 122) / 2, 124, _MLYNARIK),
        "Gly": _e(1340, 1190, (102 + 81) / 2, 152, _GENERIC_T1),
        "GPC": _e(1300, 1080, (274 + 222) / 2, 218, _MLYNARIK),
        "PCh": _e(1300, 1080, (274 + 221) / 2, 213, _MLYNARIK),
        "GSH": _e(1340, 1190, (100 + 77) / 2, 145, _GENERIC_T1),
        "Lac": _e(1340, 1190, (110 + 99) / 2, 159, _GENERIC_T1),
        "Ins": _e(1230, 1010, (244 + 229) / 2, 161, _MLYNARIK),
        "NAA": _e(1470, 1350, (253 + 263) / 2, 343, _MLYNARIK),
        "NAAG": _e(1340, 1190, (128 + 107) / 2, 185, _GENERIC_T1),
        "PE": _e(1340, 1190, (119 + 86) / 2, 158, _GENERIC_T1),
        "Scyllo": _e(1340, 1190, (125 + 107) / 2, 170, _GENERIC_T1),
        "Tau": _e(1340, 1190, (123 + 102) / 2, (123 + 102) / 2, _GENERIC_T1),
    }
}
METABOLITES[3.0]["sI"] = METABOLITES[3.0]["Scyllo"]
METABOLITES[3.0]["mI"] = METABOLITES[3.0]["Ins"]
METABOLITES[3.0]["Cho"] = METABOLITES[3.0]["GPC"]
METABOLITES[3.0]["PCho"] = METABOLITES[3.0]["PCh"]  # mrspipe's canonical spellings
METABOLITES[3.0]["sIns"] = METABOLITES[3.0]["Scyllo"]

#: metabolite not in the table (Osprey's average: T1 1.34/1.19 s, T2 140/169 ms GM/WM)
GENERIC_3T = Relaxation(t1=1.265, t2=0.1545, source="generic average (Osprey default)")

#: sums take the relaxation of their main singlet/multiplet
SUMS: dict[str, str] = {"tCr": "Cr", "tNAA": "NAA", "tCho": "GPC", "Glx": "Glu"}

#: water per field and tissue
WATER: dict[float, dict[str, Relaxation]] = {
    3.0: {
        "gm": Relaxation(1.331, 0.110, "Wansapura et al. 1999 JMRI 9:531"),
        "wm": Relaxation(0.832, 0.0792, "Wansapura et al. 1999 JMRI 9:531"),
        "csf": Relaxation(3.817, 0.503, "T1 Lu et al. 2005 JMRI 22:13; T2 Piechnik et al. 2009"),
    }
}


def nearest_field(field_t: float | None, tables: Mapping[float, object]) -> float:
    """Field (T) of the table nearest ``field_t`` (None: 3 T); warns beyond 1 T away."""
    if field_t is None:
        return 3.0 if 3.0 in tables else min(tables)
    best = min(tables, key=lambda f: abs(f - field_t))
    if abs(best - field_t) > 1.0:
        logger.warning(
            "no relaxation table for %.1f T: using the %.0f T values (set [quantify] "
            "metabolite_t1/t2 and water_t1/t2 to override)",
            field_t,
            best,
        )
    return best


def metabolite_relaxation(name: str, field_t: float | None = None) -> Relaxation:
    """Literature T1/T2 of a metabolite (or sum) at the nearest tabulated field."""
    table = METABOLITES[nearest_field(field_t, METABOLITES)]
    key = SUMS.get(name, name)
    return table.get(key, GENERIC_3T)


def water_relaxation(field_t: float | None = None) -> dict[str, tuple[float, float]]:
    """Water ``{tissue: (T1, T2)}`` in s at the nearest tabulated field."""
    table = WATER[nearest_field(field_t, WATER)]
    return {k: (v.t1, v.t2) for k, v in table.items()}
