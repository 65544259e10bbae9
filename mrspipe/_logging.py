"""The package logger and a progress bar that switches itself off outside a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

logger = logging.getLogger("mrspipe")
logger.addHandler(logging.NullHandler())

T = TypeVar("T")


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar when stderr is a terminal.

    Parameters
    ----------
    iterable : iterable
        Items to iterate over.
    total : int, optional
        Number of items, for the bar.
    desc : str
        Label shown before the bar.

    Returns
    -------
    iterator
        The same items.
    """
    from tqdm.auto import tqdm

    disable = not sys.stderr.isatty()
    yield from tqdm(iterable, total=total, desc=desc, disable=disable, leave=False)
