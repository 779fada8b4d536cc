"""The dashboard's Jinja2 environment, shared by the served pages and the static report."""

from __future__ import annotations

import math
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from codealign.service.dashboard.views import fmt, fmt_cost

__all__ = ["STATIC", "render", "static_text"]

HERE = Path(__file__).parent
STATIC = HERE / "static"
ASSETS = ("uPlot.min.css", "dashboard.css", "uPlot.iife.min.js", "dashboard.js")


def _attr(value: Any) -> str:
    """A number as it goes into a data-* attribute: full precision, empty for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


@lru_cache(maxsize=4096)
def _cell(value: float | None) -> str:
    return "<td></td>" if value is None else f'<td class="num p{round(value * 4)}">{value:.2f}</td>'


def _cells(values: list[float | None]) -> Markup:
    """A matrix row's pass-rate cells (coloured in quarters). Built here rather than by a
    template loop: a 500 × 60 matrix is 30,000 cells (pass rates take few distinct values)."""
    return Markup("".join(map(_cell, values)))


def _signed(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(attr=_attr, fmt=fmt, cost=fmt_cost, signed=_signed, cells=_cells)
    return env


@cache
def static_text(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def render(template: str, **context: Any) -> str:
    """Render `template`; `inline=True` (the static report) puts the CSS and JS in the page."""
    context.setdefault("inline", False)
    context.setdefault("base", "")
    if context["inline"]:
        context["assets"] = {name: static_text(name) for name in ASSETS}
    return _env().get_template(template).render(**context)
