"""Jinja2 templates of the HTML report (``report.html.j2``, ``report.css``).

They are rendered by :mod:`mrspipe.report.render` with autoescape on: every value is escaped
unless it is an embedded figure (a base64 ``data:`` URI, which needs no escaping).
"""
