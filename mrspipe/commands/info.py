"""``mrspipe info FILE``: what a file holds."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``info`` subcommand."""
    p = sub.add_parser(
        "info",
        help="print what an MRS file or basis set holds",
        description="Print shape, dims and tags, dwell, frequency, nucleus, TE/TR, number of "
        "transients and time span of a NIfTI-MRS file (or the metabolites of a basis set).",
    )
    p.add_argument("path", metavar="FILE", nargs="+", help="NIfTI-MRS file or basis set")
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


def run(args: argparse.Namespace) -> int:
    """Print a description of each file; exit 2 on the first unreadable one."""
    from ..io.nifti_mrs import load_mrs

    for i, path in enumerate(args.path):
        if i:
            print()
        data = load_mrs(path)
        print(path)
        for line in describe(data):
            print(f"  {line}")
    sys.stdout.flush()
    return 0
