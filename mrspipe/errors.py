"""Exceptions for expected failures.

Every error a user can cause (a wrong file, a missing header field, a basis that does not match
the data, a bad option) is raised as a subclass of :class:`MRSError`. The CLI turns these into
one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import os

__all__ = [
    "MRSError",
    "MRSFormatError",
    "BasisMismatchError",
    "StudyLayoutError",
    "ConfigError",
    "FitError",
    "SimulationError",
    "PreprocessError",
    "MissingExtraError",
    "OutputError",
    "OutputLockedError",
]


class MRSError(Exception):
    """Base class of every expected mrspipe error.

    Parameters
    ----------
    message : str
        What is wrong, in words a user can act on.
    path : str or os.PathLike, optional
        The file or folder concerned; it is named in ``str(error)``.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.message = message
        self.path = None if path is None else os.fspath(path)
        super().__init__(message)

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        return f"{self.path}: {self.message}"


class MRSFormatError(MRSError, ValueError):
    """A file is not what it claims to be, or lacks a required field."""


class BasisMismatchError(MRSError, ValueError):
    """A basis set does not fit the data (nucleus, ppm range, frequency convention)."""


class StudyLayoutError(MRSError, ValueError):
    """A study folder does not follow the MRS-BIDS layout mrspipe expects."""


class ConfigError(MRSError, ValueError):
    """An option or configuration value is invalid."""


class FitError(MRSError, RuntimeError):
    """A fit could not be set up (a failing frame is flagged, not raised)."""


class SimulationError(MRSError, ValueError):
    """Invalid simulation input (unknown metabolite, impossible timing, ...)."""


class PreprocessError(MRSError, ValueError):
    """Preprocessing cannot proceed on this input."""


class MissingExtraError(MRSError, ImportError):
    """An optional dependency is needed; the message names the pip extra to install."""


class OutputError(MRSError):
    """The output folder cannot be written (read-only, no permission, disk full)."""


class OutputLockedError(OutputError):
    """Another run holds the output folder's lock; the message names its PID and host."""
