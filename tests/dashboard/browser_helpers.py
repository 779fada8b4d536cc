"""Helpers of the browser tests (a module of its own: several test folders have a conftest.py,
so `from conftest import ...` would find whichever was imported first)."""

from __future__ import annotations


class Console:
    """Console errors and uncaught page errors seen by one page."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))


def log_in(page, service, key: str | None = None) -> None:
    page.goto(service.url + "/login")
    page.fill("input[name=key]", key or service.key)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready]")


def number(value: str | None) -> float | None:
    """A figure from a data-* attribute (empty: none)."""
    return None if value in (None, "") else float(value)


def open_view(page, service, path: str):
    """Go to `path`, wait until the page and every chart on it are drawn."""
    page.goto(service.url + path)
    page.wait_for_selector("body[data-ready]")
    page.wait_for_selector(".chart:not([data-ready])", state="detached")
    return page
