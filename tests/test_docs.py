"""The README and docs/ say what the code is: every relative link resolves (anchors included),
every path of the README's layout exists, and the README's API table is the app's routes."""

from __future__ import annotations

import inspect
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")


def prose(text: str, code_spans: bool = False) -> str:
    """`text` without its fenced code blocks, and without its inline code spans unless
    `code_spans` (links in code are not links; a heading's anchor keeps its code's text)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        lines.append("" if fenced else line if code_spans else re.sub(r"`[^`]*`", "", line))
    assert not fenced, "a fenced code block is not closed"
    return "\n".join(lines)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    out: set[str] = set()
    for line in prose(page.read_text(encoding="utf-8"), code_spans=True).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*$", line)
        if m:
            base, n = slug(m.group(1)), 1
            name = base
            while name in out:          # GitHub numbers repeated headings: x, x-1, x-2
                name, n = f"{base}-{n}", n + 1
            out.add(name)
    return out


def links(page: Path) -> list[str]:
    return LINK.findall(prose(page.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):     # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file {file}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("heading, anchor", [
    ('What "passed" means', "what-passed-means"),
    ("The service: `codealign serve`", "the-service-codealign-serve"),
    ("The statistical gate (`gate`)", "the-statistical-gate-gate"),
    ("Spot-checking what the judges taught", "spot-checking-what-the-judges-taught"),
    ("What the demo showed (measured, not arranged)", "what-the-demo-showed-measured-not-arranged"),
])
def test_slug_is_githubs_anchor(heading, anchor):
    assert slug(heading) == anchor


def test_every_docs_page_is_linked_from_the_readme():
    assert len(PAGES) > 5
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README)}
    assert {p.resolve() for p in PAGES[1:]} <= linked


def _block_after(text: str, heading: str) -> list[str]:
    """The lines of the first fenced block after `heading`."""
    after = text.split(heading, 1)[1]
    return after.split("```", 2)[1].splitlines()[1:]


def test_every_path_of_the_layout_exists():
    lines = _block_after(README.read_text(encoding="utf-8"), "## Layout")
    assert lines[0] == "codealign/"
    missing, named = [], 0
    for line in lines:
        m = re.match(r"^((?:  )?)(\S+(?:/|\.py))(?:\s|$)", line)     # entries, not continuations
        if not m:
            continue
        named += 1
        path = ROOT / ("codealign/" if m.group(1) else "") / m.group(2)
        if not path.exists():
            missing.append(str(path.relative_to(ROOT)))
    assert named > 15 and not missing, f"the README's layout names missing paths: {missing}"


def _readme_api_rows() -> set[tuple[str, str, str]]:
    text = README.read_text(encoding="utf-8").split("### The API", 1)[1]
    rows = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 4 and cells[0].isupper():
            rows.add((cells[0], cells[1], cells[2]))
        elif rows and not line.startswith("|"):
            break
    return rows


def _scope(route) -> str:
    """The scope the route's `require(...)` dependency asks for, "—" when none."""
    found = []

    def walk(dependant):
        for dep in dependant.dependencies:
            if getattr(dep.call, "__qualname__", "").startswith("require."):
                found.append(inspect.getclosurevars(dep.call).nonlocals["needed"].value)
            walk(dep)

    walk(route.dependant)
    assert len(set(found)) <= 1, f"{route.path}: several scopes {found}"
    return found[0] if found else "—"


def test_the_readme_api_table_is_the_apps_routes():
    from fastapi.routing import APIRoute

    from codealign.service.app import create_app

    app = create_app()
    served = {(method, re.sub(r":\w+\}", "}", r.path), _scope(r))
              for r in app.routes if isinstance(r, APIRoute)
              and (r.path.startswith("/v1/") or r.path == "/healthz")
              for method in r.methods}
    documented = _readme_api_rows()
    assert documented, "no API table under '### The API' in the README"
    assert sorted(served - documented) == [], "routes (method, path, scope) missing from the README's API table"
    assert sorted(documented - served) == [], "rows of the README's API table that the app does not serve"
