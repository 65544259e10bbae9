"""The keys and input fingerprints that make a session resumable (``done.json``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from ..io import derivatives as deriv
from .session_options import SessionOptions

__all__ = ["hash_of", "fit_key_of", "session_inputs", "inputs_match"]


def hash_of(obj: Any) -> str:
    """Return a short SHA-256 of ``obj`` as JSON (dataclasses as dicts, tuples as lists)."""

    def plain(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return list(o) if isinstance(o, tuple) else str(o)

    text = json.dumps(obj, sort_keys=True, default=plain)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fit_key_of(session: Any, options: SessionOptions) -> str:
    """Return the key of what a session's preprocessing and fit depend on besides its inputs."""
    return hash_of(
        {
            "preprocess": options.preprocess,
            "fit": options.fit,
            "quantify": options.quantify,
            "basis": options.basis_fingerprint.get("sha256"),
            "version": options.version,
            # covariance.tsv keeps these too (a key without them: earlier runs still resume)
            **({"covariance": options.covariance_names} if options.covariance_names else {}),
            # the joint dynamic fit's design comes from the infusion event
            **({"event": options.windows.event} if options.fit.dynamic else {}),
        }
    )


def session_inputs(session: Any) -> dict[str, Any]:
    """Return the session's input files by name (``svs``, ``ref``, ``ecc`` when given)."""
    inputs = {"svs": session.svs_path, "ref": session.ref_path}
    if getattr(session, "ecc_path", None) is not None:
        inputs["ecc"] = session.ecc_path
    return inputs


def inputs_match(recorded: dict[str, Any], names: dict[str, Any]) -> bool:
    """Return whether the files ``names`` (name -> path or None) are those ``recorded``."""
    for name, path in names.items():
        if (path is None) != (recorded.get(name) is None):
            return False
        if path is not None and not deriv.fingerprint_matches(recorded[name], path):
            return False
    return True
