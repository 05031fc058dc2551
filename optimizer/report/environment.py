"""The report's jinja2 environment: templates from the package's `templates/` folder, every
value HTML-escaped unless it is already markup (the inline SVG maps)."""

from __future__ import annotations

import functools

import jinja2


@functools.cache
def environment() -> jinja2.Environment:
    """One environment per process: package templates, autoescape on, undefined names errors."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("optimizer.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(template: str, **context: object) -> str:
    """`template` rendered with `context`, as markup safe to place in another template."""
    return jinja2.utils.markupsafe.Markup(environment().get_template(template).render(**context))
