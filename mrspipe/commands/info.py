"""``mrspipe info FILE``: what a NIfTI-MRS file or a basis set holds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import echo


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``info`` subcommand."""
    p = sub.add_parser(
        "info",
        help="print what an MRS file or basis set holds",
        description="Print shape, dims and tags, dwell, frequency, nucleus, TE/TR, number of "
        "transients and time span of a NIfTI-MRS file; or the metabolites, points, dwell, "
        "field and TE of a basis set (an LCModel .BASIS file, or a folder of .RAW, FSL-MRS "
        "JSON, jMRUI or plain-text FIDs).",
    )
    p.add_argument(
        "path",
        metavar="FILE",
        nargs="+",
        help="NIfTI-MRS file (.nii, .nii.gz), .BASIS file or basis folder",
    )
    p.add_argument(
        "--dwell-time",
        type=float,
        metavar="S",
        default=None,
        help="dwell time in s for basis formats without one (text FIDs, .RAW)",
    )
    p.add_argument(
        "--field",
        type=float,
        metavar="MHz",
        default=None,
        help="spectrometer frequency in MHz for basis formats without one",
    )
    p.set_defaults(func=run)


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g} s"


def describe(data) -> list[str]:  # noqa: ANN001
    """Lines describing an :class:`~mrspipe.data.MRSData`."""
    lines = [
        f"shape        {data.shape}  (spectral axis last)",
        f"dims         {', '.join(data.dims) or '(none)'}",
        f"nucleus      {data.nucleus}",
        f"frequency    {data.spectrometer_frequency:.6f} MHz",
        f"dwell        {data.dwell_time:.6g} s  (bandwidth {data.bandwidth:.1f} Hz)",
        f"points       {data.n_points}",
        f"TE           {_seconds(data.echo_time)}",
        f"TR           {_seconds(data.repetition_time)}",
        f"ppm at 0 Hz  {data.ppm_reference:g}",
    ]
    for name in data.dims:
        extra = data.dim_info.get(name, "")
        header = data.dim_headers.get(name)
        desc = f"{name:<12} {data.size(name)}"
        if extra:
            desc += f"  {extra}"
        if header:
            desc += f"  header keys: {', '.join(header)}"
        lines.append(desc)
    if "dyn" in data.dims:
        times = data.transient_times()
        src = "header" if data.frame_times is not None else "index x TR"
        lines.append(
            f"transients   {data.size('dyn')} over {times[-1] - times[0]:.1f} s ({src})"
            if len(times)
            else "transients   0"
        )
    return lines


def describe_basis(basis) -> list[str]:  # noqa: ANN001
    """Lines describing a :class:`~mrspipe.data.Basis`."""
    bandwidth = 1.0 / basis.dwell_time
    flipped = (
        "  (conjugated on load: looked flipped)" if basis.meta.get("conjugated_on_load") else ""
    )
    return [
        f"basis format {basis.meta.get('format', 'unknown')}{flipped}",
        f"metabolites  {basis.n_metabolites}: {', '.join(basis.names)}",
        f"points       {basis.n_points}",
        f"dwell        {basis.dwell_time:.6g} s  (bandwidth {bandwidth:.1f} Hz)",
        f"field        {basis.spectrometer_frequency:.6f} MHz  {basis.nucleus}",
        f"TE           {_seconds(basis.echo_time)}",
        f"ppm at 0 Hz  {basis.ppm_reference:g}",
        f"ppm range    {basis.ppm.min():.2f} to {basis.ppm.max():.2f}",
    ]


def _is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and (name.endswith(".nii") or name.endswith(".nii.gz"))


def run(args: argparse.Namespace) -> int:
    """Print a description of each file; exit 2 on the first unreadable one."""
    from ..io.basis import load_basis
    from ..io.nifti_format import read_nifti_mrs
    from ..io.nifti_mrs import load_mrs

    for i, name in enumerate(args.path):
        path = Path(name)
        if _is_nifti(path):  # the header and the first FID only: fast on a large file
            lines = describe(read_nifti_mrs(path, header_only=True))
        elif path.exists():
            lines = describe_basis(
                load_basis(path, dwell_time=args.dwell_time, spectrometer_frequency=args.field)
            )
        else:
            lines = describe(load_mrs(path))  # raises "no such file" as an MRSFormatError
        if i:
            echo()
        echo(name)
        for line in lines:
            echo(f"  {line}")
    sys.stdout.flush()
    return 0
