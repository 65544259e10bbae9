"""``mrspipe bids-init RAW_DIR STUDY --map MAPPING.tsv``: an MRS-BIDS study from scanner files.

The mapping table (TSV) has one row per raw file: ``file`` (path or glob relative to RAW_DIR),
``participant``, ``session``, ``condition``, ``sex`` (M/F), optional ``role`` (``svs`` or
``mrsref``, default ``svs``) and ``infusion_onset_s`` (s from the first transient). Every file is
converted through spec2nii and written in the layout of SPEC.md, ready for ``mrspipe run``.
"""

from __future__ import annotations

import argparse
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cli import echo
from ..errors import MRSError, StudyLayoutError
from ..io.sanity import Finding, check_reference

__all__ = ["add_parser", "bids_init", "plan_study", "SessionPlan"]

logger = logging.getLogger("mrspipe")

#: mapping role -> SessionPlan attribute
_ROLES = {"svs": "svs", "mrsref": "ref", "": "svs"}
_SEX = {"m": "M", "male": "M", "f": "F", "female": "F"}
_LABEL = re.compile(r"[A-Za-z0-9]+")


@dataclass
class SessionPlan:
    """What one session of the study is made of (before conversion)."""

    participant: str
    session: str
    condition: str
    sex: str
    svs: tuple[Path, str] | None = None
    ref: tuple[Path, str] | None = None
    onset_s: float | None = None

    @property
    def label(self) -> str:
        """``sub-XX_ses-N``."""
        return f"sub-{self.participant}_ses-{self.session}"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``bids-init`` subcommand."""
    p = sub.add_parser(
        "bids-init",
        help="build an MRS-BIDS study folder from raw scanner files and a mapping table",
        description="Convert raw vendor files (through spec2nii) into the MRS-BIDS layout "
        "mrspipe run reads. MAPPING.tsv has one row per raw data set with the columns file "
        "(path or glob relative to RAW_DIR), participant, session, condition, sex (M/F), and "
        "optionally role (svs | mrsref) and infusion_onset_s (s from the first transient). "
        "Writes participants.tsv, sub-*/sub-*_sessions.tsv, sub-*/ses-*/mrs/*_svs.nii.gz, "
        "*_mrsref.nii.gz and *_svs_events.tsv. Raw files are never modified; an existing study "
        "is refused without --overwrite. Exit 0 done, 1 some session failed, 2 bad input.",
    )
    p.add_argument("raw_dir", metavar="RAW_DIR", help="folder of raw vendor files (read only)")
    p.add_argument("study", metavar="STUDY", help="study folder to create")
    p.add_argument("--map", required=True, metavar="MAPPING.tsv", help="mapping table")
    p.add_argument("--overwrite", action="store_true", help="write into an existing study")
    p.set_defaults(func=run)


def _label(value: str, prefix: str, row: int, path: Path) -> str:
    label = value.removeprefix(f"{prefix}-")
    if not _LABEL.fullmatch(label):
        raise StudyLayoutError(f"row {row}: {prefix} label {value!r} must be letters/digits", path)
    return label


def _unit(raw: Path, pattern: str, row: int, path: Path) -> tuple[Path, str]:
    """Resolve a mapping pattern to one conversion unit (a DICOM series folder is one)."""
    from ..io.vendor import find_vendor_sources

    if not pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise StudyLayoutError(f"row {row}: file {pattern!r} must be relative to RAW_DIR", path)
    matches = sorted(raw.glob(pattern))
    if not matches:
        raise StudyLayoutError(f"row {row}: no file in {raw} matches {pattern!r}", path)
    units, unknown = find_vendor_sources(matches)
    parents = {u.parent for u, _ in units}
    if len(units) > 1 and all(k == "dicom" and u.is_file() for u, k in units) and len(parents) == 1:
        units = [(parents.pop(), "dicom")]  # files of one DICOM series: spec2nii takes the folder
    if len(units) != 1:
        found = [str(u.relative_to(raw)) for u, _ in units] or [str(u) for u in unknown[:3]]
        raise StudyLayoutError(
            f"row {row}: {pattern!r} must name one vendor data set, found {len(units)}: {found}",
            path,
        )
    return units[0]


def plan_study(mapping: Any, raw: Path, map_path: Path) -> list[SessionPlan]:
    """Validate the mapping table and resolve its files; no conversion yet.

    Raises
    ------
    StudyLayoutError
        Naming the row and the problem (unknown sex, conflicting conditions, two water
        references for one session, a pattern matching nothing, ...).
    """
    sessions: dict[tuple[str, str], SessionPlan] = {}
    sexes: dict[str, str] = {}
    for i, rec in enumerate(mapping.to_dict("records"), start=2):  # row 1 is the header
        participant = _label(rec["participant"], "sub", i, map_path)
        session = _label(rec["session"], "ses", i, map_path)
        sex = _SEX.get(rec["sex"].lower())
        if sex is None:
            raise StudyLayoutError(f"row {i}: sex {rec['sex']!r} must be M or F", map_path)
        if sexes.setdefault(participant, sex) != sex:
            raise StudyLayoutError(f"row {i}: sub-{participant} has two sexes", map_path)
        role = _ROLES.get(rec.get("role", "").lower())
        if role is None:
            raise StudyLayoutError(f"row {i}: role {rec['role']!r} must be svs or mrsref", map_path)
        plan = sessions.setdefault(
            (participant, session), SessionPlan(participant, session, rec["condition"], sex)
        )
        if plan.condition != rec["condition"]:
            raise StudyLayoutError(
                f"row {i}: {plan.label} has two conditions "
                f"({plan.condition!r}, {rec['condition']!r})",
                map_path,
            )
        if getattr(plan, role) is not None:
            raise StudyLayoutError(
                f"row {i}: {plan.label} has two {rec.get('role') or 'svs'} files", map_path
            )
        setattr(plan, role, _unit(raw, rec["file"], i, map_path))
        onset = rec.get("infusion_onset_s", "")
        if onset not in ("", "n/a"):
            try:
                value = float(onset)
            except ValueError:
                raise StudyLayoutError(
                    f"row {i}: infusion_onset_s {onset!r} is not a number (seconds)", map_path
                ) from None
            if value < 0 or (plan.onset_s is not None and plan.onset_s != value):
                raise StudyLayoutError(
                    f"row {i}: infusion_onset_s {onset} is negative or "
                    f"conflicts with {plan.onset_s}",
                    map_path,
                )
            plan.onset_s = value
    for plan in sessions.values():
        if plan.svs is None:
            raise StudyLayoutError(f"{plan.label} has a water reference but no svs file", map_path)
    return list(sessions.values())


def _pick(parts: list[Any], role: str, what: str) -> Any:
    chosen = [p for p in parts if p.role == role] or (parts if len(parts) == 1 else [])
    if len(chosen) != 1:
        raise StudyLayoutError(
            f"the {what} file holds {len(parts)} data sets "
            f"({[p.name or 'main' for p in parts]}); cannot tell which to use"
        )
    return chosen[0]


def _write_session(plan: SessionPlan, study: Path) -> list[Finding]:
    import pandas as pd

    from ..io.nifti_mrs import save_mrs
    from ..io.tables import write_table
    from ..io.vendor import load_vendor_parts

    assert plan.svs is not None
    parts = load_vendor_parts(plan.svs[0], kind=plan.svs[1])
    svs = _pick([p for p in parts if p.role != "mrsref"] or parts, "svs", "svs")
    findings = list(svs.findings)
    ref = None
    if plan.ref is not None:
        ref = _pick(load_vendor_parts(plan.ref[0], kind=plan.ref[1]), "mrsref", "mrsref")
        findings += ref.findings
    else:
        embedded = [p for p in parts if p.role == "mrsref"]
        if len(embedded) == 1:
            ref = embedded[0]
            logger.info("%s: using the water reference embedded in %s", plan.label, plan.svs[0])
    findings += check_reference(svs.data, None if ref is None else ref.data)
    folder = study / f"sub-{plan.participant}" / f"ses-{plan.session}" / "mrs"
    save_mrs(svs.data, folder / f"{plan.label}_svs.nii.gz")
    if ref is not None:
        save_mrs(ref.data, folder / f"{plan.label}_mrsref.nii.gz")
    if plan.onset_s is not None:
        events = pd.DataFrame(
            {"onset": [plan.onset_s], "duration": [float("nan")], "trial_type": ["infusion"]}
        )
        write_table(
            events,
            folder / f"{plan.label}_svs_events.tsv",
            sidecar={
                "onset": {"Description": "infusion start from the first transient", "Units": "s"},
                "duration": {"Description": "infusion duration (n/a: not given)", "Units": "s"},
                "trial_type": {"Description": "event type"},
            },
        )
    return [Finding(f.level, f.check, f"{plan.label}: {f.message}", f.value) for f in findings]


def bids_init(
    raw_dir: str | Path, study: str | Path, mapping: str | Path, *, overwrite: bool = False
) -> tuple[list[Finding], list[str]]:
    """Build the MRS-BIDS layout of a study from raw vendor files and a mapping table.

    Parameters
    ----------
    raw_dir : path
        Folder of raw files; never modified.
    study : path
        Study folder to create (must not exist or be empty unless ``overwrite``).
    mapping : path
        Mapping TSV (module docstring).
    overwrite : bool
        Write into an existing, non-empty study folder, replacing files of the same name.

    Returns
    -------
    findings : list of Finding
        Sanity-check results per session (missing water references, ppm offsets, ...).
    failures : list of str
        One line per session that could not be converted (the others are written).
    """
    import pandas as pd

    from ..io.tables import write_json, write_table
    from ..io.vendor import read_mapping

    raw, study = Path(raw_dir), Path(study)
    if not raw.is_dir():
        raise StudyLayoutError("raw data folder not found", raw)
    if study.resolve() == raw.resolve():
        raise StudyLayoutError("the study folder must differ from the raw data folder", study)
    if study.exists() and not study.is_dir():
        raise StudyLayoutError("exists and is not a folder", study)
    if study.exists() and any(study.iterdir()) and not overwrite:
        raise StudyLayoutError("study folder exists and is not empty; pass --overwrite", study)
    plans = plan_study(read_mapping(mapping), raw, Path(mapping))
    findings: list[Finding] = []
    failures: list[str] = []
    done: list[SessionPlan] = []
    for plan in plans:
        try:
            findings += _write_session(plan, study)
            done.append(plan)
        except MRSError as exc:
            failures.append(f"{plan.label}: {exc}")
            logger.error("%s: not converted: %s", plan.label, exc)
    for f in findings:
        if f.check == "water_reference":
            logger.warning("%s", f.message)
    participants = sorted({p.participant for p in done})
    write_table(
        pd.DataFrame(
            {
                "participant_id": [f"sub-{p}" for p in participants],
                "sex": [next(d.sex for d in done if d.participant == p) for p in participants],
            }
        ),
        study / "participants.tsv",
        sidecar={
            "sex": {"Description": "sex of the participant", "Levels": {"M": "male", "F": "female"}}
        },
    )
    for p in participants:
        own = sorted(
            (d for d in done if d.participant == p), key=lambda d: (len(d.session), d.session)
        )  # ses-2 before ses-10
        write_table(
            pd.DataFrame(
                {
                    "session_id": [f"ses-{d.session}" for d in own],
                    "condition": [d.condition for d in own],
                }
            ),
            study / f"sub-{p}" / f"sub-{p}_sessions.tsv",
        )
    write_json(
        study / "dataset_description.json",
        {
            "Name": study.name,
            "BIDSVersion": "1.10.0",
            "DatasetType": "raw",
            "GeneratedBy": [
                {
                    "Name": "mrspipe bids-init",
                    "Description": "raw vendor data converted to NIfTI-MRS through spec2nii",
                }
            ],
        },
    )
    return findings, failures


def run(args: argparse.Namespace) -> int:
    """Build the study; exit 1 when some session could not be converted."""
    findings, failures = bids_init(args.raw_dir, args.study, args.map, overwrite=args.overwrite)
    n_warn = sum(f.level == "warning" for f in findings)
    echo(
        f"{args.study}: study written ({n_warn} warning(s)); next: "
        f"mrspipe run {args.study} OUT --basis BASIS"
    )
    for line in failures:
        echo(f"mrspipe bids-init: FAILED {line}", err=True)
    return 1 if failures else 0
