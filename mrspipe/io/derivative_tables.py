"""The derivative tables' names, contract columns and sidecar descriptions.

The group tables (:data:`GROUP_TABLES`: columns from the interface contract, in this order),
the per-session tables (:data:`TABLE_NAMES`, :data:`SIDECARS`) and the column descriptions
and units written to every table's JSON sidecar (:func:`sidecar`). Where the files go and how
they are written: :mod:`mrspipe.io.derivatives`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GROUP_TABLES", "OUTPUT_NAMES", "SIDECARS", "TABLE_NAMES", "sidecar"]

#: column -> (description, units) in the sidecars
_DESCRIPTIONS: dict[str, tuple[str, str | None]] = {
    "participant_id": ("participant label, sub-<label>", None),
    "session_id": ("session label, ses-<label>", None),
    "condition": ("drug condition of the session", None),
    "sex": ("participant sex (M/F), n/a when unknown", None),
    "frame": ("frame index within the session (0-based)", None),
    "transient": ("transient index within the session (0-based)", None),
    "time_s": ("time of the frame centre (transient) relative to the infusion onset", "s"),
    "metabolite": (
        "metabolite or sum of metabolites; <lipid>_90: the 90-degree part of a lipid component "
        "with a phase of its own (lipid_phase; both parts free in sign)",
        None,
    ),
    "estimate": ("fitted amplitude, basis-relative units", None),
    "crlb_sd": ("Cramer-Rao lower bound of the estimate (standard deviation)", None),
    "metabolite_a": ("First metabolite or sum of the pair", None),
    "metabolite_b": ("Second metabolite or sum of the pair", None),
    "covariance": ("CRLB covariance of the two estimates in this frame", None),
    "crlb_percent": ("CRLB as a percentage of the estimate", "%"),
    "baseline": ("mean estimate over the baseline window", None),
    "response": ("mean estimate over the response window", None),
    "percent_change": ("100 * (response - baseline) / baseline", "%"),
    "shift_hz": ("frequency shift applied / fitted", "Hz"),
    "phase_rad": ("zero-order phase applied / fitted", "rad"),
    "snr": ("signal-to-noise ratio (NAA peak height / noise sd)", None),
    "fwhm_hz": ("linewidth, full width at half maximum", "Hz"),
    "rejected": ("true if the transient was excluded from averaging", None),
    "residual_rel": ("fit residual norm relative to the data norm", None),
    "converged": (
        "true if the fit converged (a joint dynamic fit's: the same in every frame); a frame "
        "that did not is left out of the time courses by default ([windows] exclude_unconverged)",
        None,
    ),
    "start_converged": ("true if the frame-wise start fit of a joint dynamic fit converged", None),
    "joint_converged": ("true if the joint dynamic fit converged", None),
    "joint_n_iter": ("iterations of the joint dynamic fit", None),
    "lipid_phase_rad": (
        "phase of the fitted lipid signal relative to the metabolites when the lipid components "
        "had a phase of their own (lipid_phase_model free); n/a otherwise",
        "rad",
    ),
    "lipid_out_of_phase": (
        "the fitted lipid (area > 3 SD) is more than pi/4 out of phase with the metabolites: "
        "lipid from outside the voxel, likely",
        None,
    ),
    "lipid_phase_model": (
        "lipid model fitted: free (Lip09/Lip13a/Lip13b each with a free complex amplitude, a "
        "phase of their own) or metabolites (nonnegative, in phase with the metabolites)",
        None,
    ),
    "lipid_phase_scope": (
        "where the lipid model was decided: data (lipid_phase auto on this data set alone), "
        "session, participant or study ([fit] lipid_phase_scope of mrspipe run: one model for "
        "all sessions of a participant or of the study, free when any of their sessions' own "
        "tests is significant), fixed (lipid_phase set to free or metabolites, not tested)",
        None,
    ),
    "lipid_phase_p": (
        "p-value of this data set's own test for an out-of-phase lipid (Wald chi-square on the "
        "fit of the mean of its frames; its own choice is free below 0.001); n/a: not tested",
        None,
    ),
    "lipid_phase_mean_rad": (
        "phase of the lipid signal relative to the metabolites in that test's fit of the mean "
        "spectrum; n/a: not tested",
        "rad",
    ),
    "step": ("pipeline step that failed", None),
    "error": ("error message", None),
}


def sidecar(columns: list[str], description: str) -> dict[str, Any]:
    """Return the JSON sidecar of a table: its description and each column's (and units)."""
    side: dict[str, Any] = {"Description": description}
    for col in columns:
        text, units = _DESCRIPTIONS.get(col, (col.replace("_", " "), None))
        side[col] = {"Description": text} | ({"Units": units} if units else {})
    return side


#: group table name -> (contract columns, description)
GROUP_TABLES: dict[str, tuple[list[str], str]] = {
    "timecourses": (
        [
            "participant_id",
            "session_id",
            "condition",
            "sex",
            "frame",
            "time_s",
            "metabolite",
            "estimate",
            "crlb_sd",
        ],
        "Metabolite time course of every session, time relative to the infusion onset.",
    ),
    "responses": (
        [
            "participant_id",
            "session_id",
            "condition",
            "sex",
            "metabolite",
            "baseline",
            "response",
            "percent_change",
        ],
        "Baseline and response window means of every session and metabolite.",
    ),
    "stats": (
        [
            "metabolite",
            "analysis",
            "term",
            "subgroup",
            "estimate",
            "ci_low",
            "ci_high",
            "p_value",
            "n",
        ],
        "Group statistics of the crossover design.",
    ),
    "glm": (
        [
            "participant_id",
            "session_id",
            "condition",
            "sex",
            "metabolite",
            "term",
            "estimate",
            "se",
            "t",
            "p_value",
            "df",
            "percent",
            "percent_se",
        ],
        "GLM of every session's time course: one row per metabolite and regressor; percent is "
        "the regressor's effect as % of the baseline level (intercept).",
    ),
    "pooling": (
        ["condition", "metabolite", "term", "mu", "tau", "n_sessions", "median_se"],
        "Neighbour responses pooled across the sessions of each condition ([pooling]): the "
        "mean response-window contrast mu of each pooled metabolite (its own units), the "
        "between-session SD tau (DerSimonian-Laird) and the median per-session SE; the group "
        "timecourses and responses of the other metabolites are conditioned on them.",
    ),
}

#: fixed names mrspipe writes directly under OUT (checked for symlinks before a run)
OUTPUT_NAMES: tuple[str, ...] = (
    "group",
    "figures",
    "report.html",
    "run.json",
    "errors.tsv",
    "errors.json",
    "dataset_description.json",
)

#: per-session table name -> description (columns come from the producing step)
SIDECARS: dict[str, str] = {
    "qc_transients": "Per-transient quality control of preprocessing.",
    "fits": "Fitted estimate and CRLB per frame and metabolite.",
    "qc": "Per-frame fit quality control.",
    "covariance": "CRLB covariance of the estimates of the time-course ratios' metabolites, "
    "per frame (the ratio SDs include it).",
    "timecourses": GROUP_TABLES["timecourses"][1],
    "responses": GROUP_TABLES["responses"][1],
}


#: per-session table name -> (desc label, suffix) of its BIDS-derivative file name
TABLE_NAMES: dict[str, tuple[str, str]] = {
    "qc_transients": ("transients", "qc"),
    "fits": ("fit", "estimates"),
    "covariance": ("fit", "covariance"),
    "qc": ("frames", "qc"),
    "timecourses": ("timecourse", "estimates"),
    "responses": ("response", "estimates"),
}
