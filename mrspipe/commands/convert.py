"""``mrspipe convert SRC... --out DIR``: vendor and text exchange formats to NIfTI-MRS.

Vendor raw data go through spec2nii; LCModel ``.RAW``/``.H2O`` and jMRUI ``.txt`` are read here.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from ..cli import echo


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``convert`` subcommand."""
    p = sub.add_parser(
        "convert",
        help="convert vendor raw data (twix, RDA, DICOM, SDAT/SPAR, P-file, Bruker) and "
        "LCModel .RAW/.H2O or jMRUI .txt spectra to NIfTI-MRS",
        description="Convert scanner exports to NIfTI-MRS (mrs_v0_9) through spec2nii "
        '(pip install "mrspipe[vendor]"), and LCModel .RAW/.H2O and jMRUI (or plain Re/Im '
        "column) .txt spectra directly. SRC may be files or folders (searched recursively "
        "for vendor files; a folder of DICOM files is one series). Each output is "
        "sanity-checked (TE/TR units, ppm reference, flipped spectrum). --te/--tr supply or "
        "override header values; --dwell/--frequency supply what a text file lacks (a value "
        "the file holds is used otherwise). Writes DIR/conversion.tsv. Exit 0 all converted, "
        "1 some failed, 2 nothing to convert.",
    )
    p.add_argument("sources", metavar="SRC", nargs="+", help="vendor files or scan folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    from ..io._vendor_files import VENDOR_KINDS

    p.add_argument(
        "--kind",
        default=None,
        choices=sorted([*VENDOR_KINDS, "dicom"]),
        help="force the vendor format (default: detect from extension or content)",
    )
    p.add_argument("--te", type=float, metavar="S", help="echo time, s (supply or override)")
    p.add_argument("--tr", type=float, metavar="S", help="repetition time, s (supply or override)")
    p.add_argument(
        "--dwell", type=float, metavar="S", help="dwell time, s, for text data without one"
    )
    p.add_argument(
        "--frequency",
        type=float,
        metavar="MHZ",
        help="spectrometer frequency, MHz, for text data without one",
    )
    p.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="write data even where a sanity check says they cannot be right",
    )
    p.set_defaults(func=run)


def output_bases(sources: list[Path]) -> list[str]:
    """Output base names: the source's stem, made unique with its extension, then a number."""
    stems = [s.name.split(".")[0] if s.is_file() else s.name for s in sources]
    counts = Counter(stems)
    bases = [
        f"{stem}_{s.suffix.lstrip('.').lower()}" if counts[stem] > 1 and s.suffix else stem
        for stem, s in zip(stems, sources, strict=True)
    ]
    seen: Counter[str] = Counter()
    unique = []
    for base in bases:
        seen[base] += 1
        unique.append(base if bases.count(base) == 1 else f"{base}_{seen[base]}")
    return unique


def _load_parts(source: Path, kind: str, args: argparse.Namespace) -> list:  # type: ignore[type-arg]
    """Convert one source: text exchange formats here, vendor formats through spec2nii."""
    from ..errors import MRSFormatError
    from ..io.sanity import Finding, check_mrs, errors_of
    from ..io.text_data import load_text_data
    from ..io.vendor import VendorPart, load_vendor_parts

    te, tr = getattr(args, "te", None), getattr(args, "tr", None)
    if kind != "text":
        return load_vendor_parts(
            source,
            kind=args.kind,
            strict=args.check,
            echo_time=te,
            repetition_time=tr,
        )
    parts = []
    for part in load_text_data(
        source,
        dwell_time=getattr(args, "dwell", None),
        spectrometer_frequency=getattr(args, "frequency", None),
        echo_time=te,
        repetition_time=tr,
    ):
        label = f"{source}{f' [{part.name}]' * bool(part.name)}"
        findings = [Finding("info", "conversion", n) for n in part.notes]
        findings += check_mrs(part.data, role=part.role, label=label)
        parts.append(VendorPart(name=part.name, role=part.role, data=part.data, findings=findings))
    problems = [f.message for p in parts for f in errors_of(p.findings)] if args.check else []
    if problems:
        raise MRSFormatError("; ".join(problems) + " (to write them anyway: --no-check)", source)
    return parts


def run(args: argparse.Namespace) -> int:
    """Convert every source; one line per output, failures on stderr."""
    import pandas as pd

    from ..errors import ConfigError, MissingExtraError, MRSError, MRSFormatError
    from ..io.nifti_mrs import save_mrs
    from ..io.tables import write_table
    from ..io.text_data import is_text_data
    from ..io.vendor import detect_vendor_kind, find_vendor_sources

    for name in ("te", "tr", "dwell", "frequency"):
        value = getattr(args, name, None)
        if value is not None and not value > 0:
            raise ConfigError(f"--{name} must be positive, got {value}")
    out_dir = Path(args.out)
    given = [Path(s) for s in args.sources]
    rows: list[dict[str, str]] = []
    failed = 0
    texts = [p for p in given if args.kind is None and is_text_data(p)]
    given = [p for p in given if p not in texts]
    for path in given:
        if not path.exists():
            rows.append({"source": str(path), "status": "failed", "message": "no such file"})
        elif path.is_file() and args.kind is None and detect_vendor_kind(path) is None:
            rows.append(
                {
                    "source": str(path),
                    "status": "failed",
                    "message": "not a recognised vendor format",
                }
            )
    failed += len(rows)
    if args.kind is not None:
        sources = [(p, args.kind) for p in given if p.exists()]
    elif given:
        sources, _ = find_vendor_sources([p for p in given if p.exists()])
    else:
        sources = []
    sources += [(p, "text") for p in texts]
    if not sources:
        reasons = "; ".join(f"{r['source']}: {r['message']}" for r in rows)
        raise MRSFormatError(f"no vendor data to convert ({reasons or 'empty folders'})")
    bases = output_bases([s for s, _ in sources])
    for (source, kind), base in zip(sources, bases, strict=True):
        row = {"source": str(source), "kind": kind}
        main_out = out_dir / f"{base}.nii.gz"
        try:
            if main_out.exists() and not args.overwrite:
                raise FileExistsError(f"{main_out} exists; pass --overwrite to replace it")
            parts = _load_parts(source, kind, args)
            outs = [out_dir / f"{base}{'_' + p.name if p.name else ''}.nii.gz" for p in parts]
            clash = [o for o in outs if o.exists() and not args.overwrite]
            if clash:
                raise FileExistsError(f"{clash[0]} exists; pass --overwrite to replace it")
            for part, out in zip(parts, outs, strict=True):
                save_mrs(part.data, out)
                notes = [
                    f.message for f in part.findings if f.level != "info" or f.check == "conversion"
                ]
                rows.append(
                    {
                        **row,
                        "part": part.name or "main",
                        "role": part.role,
                        "output": str(out),
                        "status": "ok",
                        "message": "; ".join(notes),
                    }
                )
                echo(f"{source} -> {out} ({part.role}, {part.data.shape})")
        except MissingExtraError:
            raise
        except (MRSError, FileExistsError, OSError) as exc:
            failed += 1
            rows.append({**row, "status": "failed", "message": str(exc)})
            echo(f"mrspipe convert: FAILED {source}: {exc}", err=True)
    columns = ["source", "kind", "part", "role", "output", "status", "message"]
    write_table(
        pd.DataFrame(rows, columns=columns),
        out_dir / "conversion.tsv",
        sidecar={
            "Description": "mrspipe convert: one row per output (or failed source)",
            "status": {"Description": "ok or failed"},
            "message": {"Description": "sanity-check warnings, or why it failed"},
        },
    )
    sys.stdout.flush()
    return 1 if failed else 0
