"""``mrspipe preproc DATA --out DIR``: preprocess one time-resolved session."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..cli import echo
from ..config import help_text


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``preproc`` subcommand."""
    p = sub.add_parser(
        "preproc",
        help="preprocess every transient of a session (align, reject, average)",
        description="Coil combination, eddy-current correction (with --water), residual water "
        "removal, frequency/phase alignment, bad-transient rejection, ppm referencing and "
        "averaging into frames. Writes DIR/<name>_preproc.nii.gz (NIfTI-MRS, steps in "
        "ProcessingApplied), DIR/qc_transients.tsv (+ .json) and DIR/qc_preproc.png.",
    )
    p.add_argument("data", metavar="DATA", help="NIfTI-MRS file with transients on DIM_DYN")
    p.add_argument("--water", metavar="REF", help="water reference NIfTI-MRS")
    p.add_argument(
        "--ecc",
        metavar="REF",
        help="separate unsuppressed reference for eddy-current correction (default: --water)",
    )
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--config", metavar="TOML", help="study.toml: its [preprocess] section is used")
    frames = p.add_mutually_exclusive_group()
    frames.add_argument(
        "--block",
        type=int,
        metavar="N",
        help=help_text("preprocess", "block", "frames are blocks of N transients"),
    )
    frames.add_argument(
        "--window", type=int, metavar="N", help="frames are sliding windows of N transients"
    )
    p.add_argument(
        "--step", type=int, metavar="S", help=help_text("preprocess", "step", "sliding-window step")
    )
    p.add_argument(
        "--linewidth-match", choices=("lorentz", "gauss"), help="broaden frames to the broadest one"
    )
    p.add_argument("--no-water-removal", action="store_true", help="skip HLSVD water removal")
    p.add_argument(
        "--save-transients", action="store_true", help="also write the corrected single transients"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


_SIDECAR = {
    "transient": {"Description": "Index of the transient on the dyn axis (0-based)"},
    "time_s": {"Description": "Acquisition time from the first transient", "Units": "s"},
    "shift_hz": {
        "Description": "Frequency drift relative to the early transients "
        "(the alignment removed it)",
        "Units": "Hz",
    },
    "phase_rad": {
        "Description": "Zero-order phase relative to the early transients",
        "Units": "rad",
    },
    "snr": {
        "Description": "NAA peak height (magnitude) over the SD of the real spectrum "
        "noise, single transient"
    },
    "fwhm_hz": {
        "Description": "NAA full width at half maximum, measured on the moving "
        "average of aligned transients centred on this one",
        "Units": "Hz",
    },
    "rejected": {
        "Description": "Left out of the frame averages (outlier, zero, or failed alignment)"
    },
    "reason": {
        "Description": "Why the transient was rejected (empty when kept), or why it was not "
        "assessed (a single averaged spectrum)"
    },
    "residual_z": {"Description": "Robust z-score of the residual from the alignment reference"},
}


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Map the command-line options to configuration overrides (``section.key -> value``)."""
    return {
        "preprocess.block": args.block,
        # --block replaces a sliding window set in study.toml
        "preprocess.window": 0 if args.block is not None else args.window,
        "preprocess.step": args.step,
        "preprocess.linewidth_match": args.linewidth_match,
        "preprocess.remove_water": False if args.no_water_removal else None,
    }


def run(args: argparse.Namespace) -> int:
    """Preprocess one session and write the outputs; 0 on success."""
    import pandas as pd

    from ..config import load_config
    from ..errors import ConfigError
    from ..io.nifti_mrs import save_mrs
    from ..io.tables import write_table
    from ..pipeline import preprocess_files
    from ..report.qc_figure import plot_preprocess_qc

    out = Path(args.out)
    stem = _stem(args.data)
    targets = {
        "frames": out / f"{stem}_preproc.nii.gz",
        "qc": out / "qc_transients.tsv",
        "figure": out / "qc_preproc.png",
    }
    if args.save_transients:
        targets["transients"] = out / f"{stem}_transients.nii.gz"
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing)} exist(s); pass --overwrite to replace")
    config = load_config(args.config).with_overrides(overrides(args))
    if args.step is not None and config.preprocess.window is None:
        raise ConfigError("--step needs --window")
    result, _ = preprocess_files(args.data, args.water, ecc=args.ecc, options=config.preprocess)
    out.mkdir(parents=True, exist_ok=True)
    save_mrs(result.frames, targets["frames"], validate=True)
    if "transients" in targets:
        save_mrs(result.transients, targets["transients"], validate=True)
    table = pd.DataFrame(result.qc)
    sidecar: dict[str, Any] = dict(_SIDECAR)
    sidecar["Sources"] = [str(args.data)] + [str(r) for r in (args.water, args.ecc) if r]
    sidecar["ProcessingApplied"] = result.steps
    write_table(table, targets["qc"], sidecar=sidecar)
    plot_preprocess_qc(
        result.qc,
        ppm=result.frames.ppm,
        before=result.average_before,
        after=result.average_after,
        path=targets["figure"],
        title=stem,
    )
    n_rej = int(table["rejected"].sum())
    if result.frames.size("dyn") == 1 and len(table) == result.frames.fids[..., 0].size:
        echo(f"{args.data}: a single averaged spectrum (alignment and rejection skipped) -> {out}")
    else:
        echo(
            f"{args.data}: {len(table)} transients, {n_rej} rejected, "
            f"{result.frames.size('dyn')} frames -> {out}"
        )
    return 0
