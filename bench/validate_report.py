"""Figures, markdown and HTML of :mod:`bench.validate` (kept apart: the checks are there)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["figures", "markdown", "html_page"]

DPI = 72


# -- figures --------------------------------------------------------------------------------


def figures(out: Path, res: dict[str, Any]) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    from matplotlib.ticker import NullFormatter

    def save(fig: Any, name: str) -> None:
        for ax in fig.axes:
            if ax.get_xscale() == "log":
                ax.xaxis.set_minor_formatter(NullFormatter())
        fig.tight_layout()
        paths[name] = figdir / f"{name}.png"
        fig.savefig(paths[name], dpi=DPI)
        plt.close(fig)

    if "fit" in res:
        fit = res["fit"]
        fig, axes = plt.subplots(1, 2, figsize=(8, 3))
        glu = fit[fit["metabolite"] == "Glu"]
        for lw, d in glu.groupby("lorentz_hz"):
            axes[0].loglog(d["snr"], d["sd_pct"], "o-", label=f"{lw:g} Hz")
            axes[0].loglog(d["snr"], d["crlb_pct"], "k:", lw=0.8)
            axes[1].semilogx(d["snr"], d["bias_pct"], "o-", label=f"{lw:g} Hz")
        axes[0].set(
            xlabel="NAA SNR (fitted)", ylabel="Glu SD (%); CRLB dotted", title="fit precision"
        )
        axes[1].axhline(0, color="grey", lw=0.8)
        axes[1].set(xlabel="NAA SNR (fitted)", ylabel="Glu bias (%)", title="fit bias")
        axes[0].legend(title="Lorentzian", fontsize=7)
        save(fig, "fit_accuracy")

        fig, ax = plt.subplots(figsize=(4.5, 3))
        for met, d in fit.groupby("metabolite"):
            ax.semilogx(d["snr"], d["sd_over_crlb"], "o", label=met)
        ax.axhline(1, color="grey", lw=0.8)
        ax.set(
            xlabel="NAA SNR (fitted)",
            ylabel="empirical SD / mean CRLB",
            title="CRLB calibration",
            ylim=(0, 2),
        )
        ax.legend(fontsize=7)
        save(fig, "crlb_calibration")

    if "drift_example" in res:
        ex = res["drift_example"]
        if ex:
            fig, ax = plt.subplots(figsize=(5, 3))
            ax.plot(ex["true"], lw=1.5, label="simulated")
            ax.plot(ex["estimate"], lw=0.8, label="estimated")
            ax.set(
                xlabel="transient",
                ylabel="frequency shift (Hz)",
                title="drift recovery, single-transient SNR 8",
            )
            ax.legend(fontsize=7)
            save(fig, "drift")

    if "study" in res:
        err = res["study"]["errors"]
        fig, ax = plt.subplots(figsize=(4.5, 4))
        for (cond, sex), d in err.groupby(["condition", "sex"]):
            ax.plot(
                d["true"], d["estimate"], "o" if sex == "M" else "s", ms=4, label=f"{cond} {sex}"
            )
        lim = [
            min(err["true"].min(), err["estimate"].min()) - 1,
            max(err["true"].max(), err["estimate"].max()) + 1,
        ]
        ax.plot(lim, lim, "k-", lw=0.8)
        s = res["study"]["summary"]
        ax.set(
            xlabel="true Glu change (%)",
            ylabel="estimated Glu change (%)",
            title=f"per session: RMSE {s['rmse_pp']:.2f} pp, bias {s['bias_pp']:+.2f} pp",
        )
        ax.legend(fontsize=7)
        save(fig, "study_recovery")

    if "fpr" in res:
        fpr = res["fpr"]
        fig, ax = plt.subplots(figsize=(6, 3))
        tests = list(dict.fromkeys(fpr["test"]))
        x = np.arange(len(tests))
        for k, (scen, d) in enumerate(fpr.groupby("scenario", sort=False)):
            d = d.set_index("test").reindex(tests)
            ax.bar(x + 0.4 * k - 0.2, d["rejection_rate"], 0.4, yerr=1.96 * d["mc_se"], label=scen)
        ax.axhline(0.05, color="k", ls="--", lw=0.8)
        ax.set_xticks(x, tests, fontsize=7)
        ax.set(ylabel="P(p < 0.05)", title="false positives (null) and power (effect)")
        ax.legend(fontsize=7)
        save(fig, "fpr")

    if "speed" in res:
        sp = res["speed"]
        fig, ax = plt.subplots(figsize=(5, 3))
        names = list(sp["stages"]) + ["read+FFT floor"]
        vals = list(sp["stages"].values()) + [sp["floor_per_session"]]
        ax.barh(names, vals)
        ax.set(xlabel="s per session (serial)", title="time per stage")
        save(fig, "speed")
    return paths


# -- report ---------------------------------------------------------------------------------


def _md_table(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = [format(v, floatfmt) if isinstance(v, float) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(res: dict[str, Any], figs: dict[str, Path], quick: bool) -> str:
    s = res["study"]
    parts = [
        f"# mrspipe validation ({'quick' if quick else 'full'} run, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
    ]
    parts += [
        "## Fit accuracy and CRLB calibration",
        "",
        _md_table(res["fit"]),
        "",
        "![](figures/fit_accuracy.png)",
        "![](figures/crlb_calibration.png)",
        "",
    ]
    parts += [
        "## Linewidth (BOLD) narrowing without a concentration change",
        "",
        _md_table(res["bold"]),
        "",
    ]
    parts += [
        "## Preprocessing: drift recovery",
        "",
        _md_table(res["drift"]),
        "",
        "![](figures/drift.png)",
        "",
    ]
    d = s["design"]
    parts += [
        f"## Study-level recovery ({d})",
        "",
        "Per-session Glu % change vs truth (same frames and windows):",
        "",
        _md_table(pd.DataFrame([s["summary"]])),
        "",
        "Paired naltrexone - placebo contrast:",
        "",
        _md_table(s["contrast"]),
        "",
        "Condition x sex:",
        "",
        _md_table(
            s["interaction"][["analysis", "term", "estimate", "ci_low", "ci_high", "p_value", "n"]]
        ),
        "",
        "![](figures/study_recovery.png)",
        "",
    ]
    if res.get("null") is not None:
        n = res["null"]
        parts += [
            "### Null study (8 % in both conditions)",
            "",
            _md_table(pd.DataFrame([n["summary"]])),
            "",
            _md_table(n["contrast"]),
            "",
            _md_table(
                n["interaction"][
                    ["analysis", "term", "estimate", "ci_low", "ci_high", "p_value", "n"]
                ]
            ),
            "",
        ]
    parts += [
        "## False-positive rate and power of the group tests",
        "",
        res["fpr_note"],
        "",
        _md_table(res["fpr"]),
        "",
        "![](figures/fpr.png)",
        "",
    ]
    if res.get("perm") is not None:
        parts += [
            "### Every condition test on the null study, by permutation",
            "",
            "Condition labels swapped within participant at random (a null stays a "
            "null); rate of p < 0.05 over the permutations:",
            "",
            _md_table(res["perm"]),
            "",
        ]
    sp = res["speed"]
    parts += [
        "## Speed and memory",
        "",
        _md_table(pd.DataFrame([sp["summary"]])),
        "",
        _md_table(pd.DataFrame([sp["stages"]])),
        "",
        "![](figures/speed.png)",
        "",
    ]
    return "\n".join(parts)


def html_page(markdown: str, out: Path) -> str:
    """A small self-contained HTML page of the markdown (tables, headings, inlined images)."""
    import base64
    import html
    import re

    body = []
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
                tag = "th"
            else:
                tag = "td"
            body.append(
                "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"
            )
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if m := re.match(r"!\[\]\((.*)\)", line):
            data = base64.b64encode((out / m.group(1)).read_bytes()).decode()
            body.append(f'<img src="data:image/png;base64,{data}">')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:"
        "collapse;font-size:85%}td,th{border:1px solid #ccc;padding:2px 6px}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mrspipe validation"
        f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
