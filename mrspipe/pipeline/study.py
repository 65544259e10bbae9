"""A whole study: check inputs, run every session, then the group step (tables, stats, report).

Expected input problems (no study folder, broken layout, unreadable basis, bad configuration,
an output folder that is not mrspipe's) raise :class:`~mrspipe.errors.MRSError` before any work.
Once sessions run, a failing session is logged, listed in ``OUT/errors.tsv`` and skipped; the
others finish and :attr:`StudyResult.exit_status` is 1.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._logging import progress
from .._version import __version__
from ..config import StudyConfig, defaults
from ..dynamic.options import Windows
from ..errors import ConfigError, StudyLayoutError
from ..io import derivatives as deriv
from ..io._lock import lock_output
from ..quantify import describe as describe_quantification
from .checks import check_study, study_warnings
from .design import incomplete_participants
from .executor import Workers
from .fit_step import default_fit, joint_fit_options
from .group import SessionTables, prepare_group, run_group
from .jobs import select_metabolites
from .lipid_pass import decide_lipids
from .output import check_output_paths, check_paths, first_missing, remove_empty
from .session import SessionOptions, SessionResult, clear_basis_cache
from .steps import Steps, check_modules

__all__ = ["StudyResult", "run_study", "resolve_contrast", "describe_window"]

logger = logging.getLogger("mrspipe")


@dataclass(frozen=True)
class StudyResult:
    """Outcome of :func:`run_study`.

    Attributes
    ----------
    out : Path
    sessions : list of SessionResult
    errors : list of dict
        Rows of ``errors.tsv`` (``participant_id, session_id, step, error``).
    report : Path or None
        ``OUT/report.html`` when it was written.
    contrast : (str, str)
        ``(active, control)``.
    """

    out: Path
    sessions: list[SessionResult] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    report: Path | None = None
    contrast: tuple[str, ...] = ("", "")

    @property
    def exit_status(self) -> int:
        """0 if everything finished, 1 if a session or group step failed."""
        return 1 if self.errors else 0


def describe_window(window: tuple[float | None, float | None], kind: str) -> str:
    """Words for a window, e.g. ``'every frame before the onset'`` or ``'-600 s to 0 s'``."""
    if kind == "baseline":
        return Windows(baseline=window).describe(kind)
    return Windows(response=window).describe(kind)


def resolve_contrast(configured: tuple[str, str] | None, sessions: list[Any]) -> tuple[str, str]:
    """Return the ``(active, control)`` conditions, checked against the study's sessions.

    Without a configured contrast, a study with two conditions one of which is called placebo
    (any case) contrasts the other against it; other pairs are taken in sorted order.

    Raises
    ------
    ConfigError
        A session has a condition outside the contrast, or the study has not exactly two
        conditions and none were configured.
    """
    found = sorted({str(s.condition) for s in sessions if s.condition is not None})
    unlabeled = [f"{s.participant_id}/{s.session_id}" for s in sessions if s.condition is None]
    if unlabeled:
        raise StudyLayoutError(
            f"sessions without a condition (sessions.tsv): {', '.join(unlabeled[:5])}"
        )
    if configured is None:
        if len(found) != 2:
            raise ConfigError(
                f"the study has conditions {found}; choose two with --conditions ACTIVE CONTROL"
            )
        lower = [c.lower() for c in found]
        configured = (
            (found[1 - lower.index("placebo")], found[lower.index("placebo")])
            if "placebo" in lower
            else (found[0], found[1])
        )
    other = [c for c in found if c not in configured]
    if other:
        raise ConfigError(
            f"sessions with conditions {other} are outside the contrast {list(configured)}; the "
            f"study has {found}"
        )
    return configured


def run_study(
    study: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    basis: str | os.PathLike[str],
    config: StudyConfig | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    overwrite: bool = False,
    steps: Steps | None = None,
    participant_labels: list[str] | tuple[str, ...] | None = None,
    task: str | None = None,
) -> StudyResult:
    """Run the whole pipeline on an MRS-BIDS study.

    Parameters
    ----------
    study : path-like
        MRS-BIDS study folder (read only).
    out : path-like
        Output folder; per-session derivatives go to ``OUT/sub-*/ses-*/``, group tables to
        ``OUT/group/``, the report to ``OUT/report.html``.
    basis : path-like
        Basis set (any format :func:`mrspipe.io.basis.load_basis` reads).
    config : StudyConfig, optional
        Options (default: :func:`mrspipe.config.defaults`).
    jobs : int
        Parallel sessions on local processes (or Dask workers with ``scheduler='local'``).
    scheduler : str, optional
        ``'local'`` or a Dask scheduler address; needs the ``[distributed]`` extra.
    overwrite : bool
        Recompute every session, ignoring ``done.json``.
    steps : Steps, optional
        The step callables (default: the real modules).
    participant_labels : list of str, optional
        Only these participants (``--participant-label``).
    task : str, optional
        Only the data of this task (``--task-id``); needed when the study has several.

    Returns
    -------
    StudyResult

    Raises
    ------
    MRSError
        Input errors, before any session runs.
    FileExistsError
        ``out`` holds something other than mrspipe output and ``overwrite`` is False.
    """
    study, out = Path(study), Path(out)
    steps = steps or Steps()
    config = config or defaults()
    check_modules(steps)
    check_paths(study, out, overwrite)
    created = first_missing(out)
    started = False
    try:
        # the lock is taken before the checks: a run started while this one checks its inputs
        # stops at once, naming this one
        with lock_output(out):
            selection = {
                k: v for k, v in (("participant_labels", participant_labels), ("task", task)) if v
            }
            sessions = list(steps.find_sessions(study, **selection))
            if not sessions:
                raise StudyLayoutError(
                    "no sessions found (expected sub-*/ses-*/mrs/*_svs.nii.gz)", study
                )
            check_output_paths(out, sessions)
            task_design = config.stats.contrast is None and all(
                s.condition is None for s in sessions
            )  # no drug condition: response vs baseline (e.g. task fMRS)
            contrast: tuple[str, ...] = (
                () if task_design else resolve_contrast(config.stats.contrast, sessions)
            )
            incomplete_participants(sessions, contrast)  # warns: analysed on what is complete
            check_study(sessions, contrast, steps=steps, source=study)
            if config.fit.constant_metabolites and not config.fit.dynamic:
                raise ConfigError(
                    "[fit] constant_metabolites needs the joint fit ([fit] dynamic = true, "
                    "or --dynamic)"
                )
            if (
                config.fit.dynamic
                and steps.fit is default_fit
                and importlib.util.find_spec("mrspipe.fit.dynamic") is None
            ):
                raise ConfigError(
                    "--dynamic needs mrspipe.fit.dynamic, which this installation lacks"
                )
            if config.fit.dynamic and steps.fit is default_fit:
                # what the joint fit really uses, warned once and recorded in run.json/report
                config = replace(config, fit=joint_fit_options(config.fit))
            basis_path = Path(basis)
            if not basis_path.exists():
                raise ConfigError("no such basis set", basis_path)
            basis_set = steps.load_basis(basis_path)
            basis_set = select_metabolites(basis_set, config.fit, config.source)
            windows = config.windows
            options = SessionOptions(
                out=out,
                preprocess=config.preprocess,
                fit=config.fit,
                windows=windows,
                quantify=config.quantify,
                basis_fingerprint=deriv.file_fingerprint(basis_path),
                overwrite=overwrite,
                version=__version__,
                covariance_names=config.pooling.metabolites,
            )
            tasks = {getattr(s, "task", None) for s in sessions} - {None}
            design = {
                "study": os.fspath(study),
                "basis": os.fspath(basis_path),
                "contrast": list(contrast),
                "event": windows.event,
                "baseline_window": list(windows.baseline),
                "response_window": list(windows.response),
                "baseline_window_text": windows.describe("baseline"),
                "response_window_text": windows.describe("response"),
                "config": config.as_dict(),
                "quantification": describe_quantification(config.quantify),
                "n_sessions": len(sessions),
                "task": next(iter(tasks)) if len(tasks) == 1 else None,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "warnings": study_warnings(sessions),
            }
            started = True
            return _run_locked(
                study,
                out,
                sessions,
                basis_set,
                config,
                contrast,
                windows,
                design,
                options,
                steps,
                jobs=jobs,
                scheduler=scheduler,
            )
    finally:
        if not started and created is not None:
            remove_empty(out, created)  # an input error leaves no output folder behind


def _run_locked(
    study: Path,
    out: Path,
    sessions: list[Any],
    basis_set: Any,
    config: StudyConfig,
    contrast: tuple[str, ...],
    windows: Windows,
    design: dict[str, Any],
    options: SessionOptions,
    steps: Steps,
    *,
    jobs: int,
    scheduler: str | None,
) -> StudyResult:
    """Run the part of :func:`run_study` that writes OUT (under its lock)."""
    # nothing of an earlier run may stay beside this run's run.json: its group tables and
    # report go first (an interrupted or failing rerun leaves them absent, not stale)
    removed = deriv.remove_group_outputs(out)
    if removed:
        logger.info("removed the group tables and report of the previous run")
    partial = deriv.remove_partial_files(out)  # left by a run that was killed mid-write
    if partial:
        logger.info("removed %d partial files of an interrupted run", len(partial))
    deriv.write_run_info(out, design, version=__version__)
    logger.info(
        "%d sessions, contrast %s; baseline: %s; response: %s",
        len(sessions),
        " - ".join(contrast) or "none (response vs baseline)",
        design["baseline_window_text"],
        design["response_window_text"],
    )

    clear_basis_cache()
    with Workers(basis_set, options, steps=steps, jobs=jobs, scheduler=scheduler) as workers:
        # each session's tables are read as it ends, while the others run
        session_tables = SessionTables(out)
        # the lipid model per participant/study: a first pass over the sessions when asked for
        plans, failed = decide_lipids(workers, sessions, options.fit, steps)
        results = _run_sessions(workers, sessions, session_tables, lipid=plans, failed=failed)
        # the group step draws its figures on the same worker processes
        report, group_errors = run_group(
            out,
            study,
            sessions,
            results,
            config,
            contrast,
            windows,
            design,
            steps,
            executor=workers.executor,
            session_tables=session_tables,
        )
    errors = [
        {
            "participant_id": r.participant_id,
            "session_id": r.session_id,
            "step": r.failed_step,
            "error": r.error,
        }
        for r in results
        if not r.ok
    ]
    errors += group_errors
    try:
        deriv.write_errors(out, errors)
    except OSError as exc:  # disk full: say so, and still list every failure on stderr
        logger.error("cannot write %s: %s", out / "errors.tsv", exc.strerror or exc)
        for row in errors:
            logger.error(
                "not in errors.tsv: %s %s %s: %s",
                row["participant_id"] or "group",
                row["session_id"] or "",
                row["step"],
                row["error"],
            )
        if not errors:
            errors = [{"participant_id": None, "session_id": None, "step": "write"}]
            errors[0]["error"] = f"cannot write errors.tsv: {exc.strerror or exc}"
    return StudyResult(out=out, sessions=results, errors=errors, report=report, contrast=contrast)


def _run_sessions(
    workers: Workers,
    sessions: list[Any],
    tables: SessionTables,
    *,
    lipid: dict[tuple[str, str | None], Any] | None = None,
    failed: list[SessionResult] | None = None,
) -> list[SessionResult]:
    """Run every session on ``workers``, logging each; return the results in study order.

    ``lipid``: the sessions' lipid plans (:func:`~.lipid_pass.decide_lipids`); ``failed``: the
    sessions that failed in its first pass (reported with the others).
    """
    results: list[SessionResult] = list(failed or [])
    for res in results:
        logger.error(
            "%s %s failed at %s: %s", res.participant_id, res.session_id, res.failed_step, res.error
        )
    out = {(r.participant_id, r.session_id) for r in results}
    todo = [s for s in sessions if (s.participant_id, s.session_id) not in out]
    # once fewer sessions remain than workers, a core is free until the last one ends: the
    # group step's imports are done then instead of after it
    prepare_at = max(len(results) + 1, len(sessions) - workers.jobs + 1)
    runs = workers.sessions(todo, lipid=lipid) if lipid else workers.sessions(todo)
    for res in progress(runs, total=len(todo), desc="sessions"):
        if not res.ok:
            logger.error(
                "%s %s failed at %s: %s",
                res.participant_id,
                res.session_id,
                res.failed_step,
                res.error,
            )
        else:
            logger.debug(
                "%s %s %s in %.1f s",
                res.participant_id,
                res.session_id,
                "computed " + "+".join(res.computed) if res.computed else "resumed",
                res.seconds,
            )
        results.append(res)
        tables.add(res)
        if len(results) == prepare_at:
            prepare_group(workers.steps)
    order = {(s.participant_id, s.session_id): i for i, s in enumerate(sessions)}
    results.sort(key=lambda r: order[(r.participant_id, r.session_id)])
    n_failed = sum(1 for r in results if not r.ok)
    logger.info(
        "%d sessions done (%d resumed), %d failed",
        len(results) - n_failed,
        sum(1 for r in results if r.ok and not r.computed),
        n_failed,
    )
    return results
