"""Render the report's Jinja2 template (autoescape on) to one HTML string."""

from __future__ import annotations

from typing import Any

__all__ = ["render_page", "environment"]

_ENV: Any = None


def environment() -> Any:
    """Return the Jinja2 environment of the report (autoescape on, undefined is an error)."""
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("mrspipe.report", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=False,
            lstrip_blocks=False,
            keep_trailing_newline=True,
        )
    return _ENV


def render_page(context: dict[str, Any]) -> str:
    """Render ``report.html.j2`` with ``context`` (see :func:`mrspipe.report.sections.context`)."""
    return str(environment().get_template("report.html.j2").render(**context))
