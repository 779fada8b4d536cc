"""The dashboard of pass-rate deltas: server-rendered pages (Jinja2, vendored uPlot) on the
service, and the same views as one self-contained HTML file (`codealign report`).

    views.py    what each page shows, from the run reader (no HTTP, no HTML)
    render.py   the Jinja2 environment shared by the pages and the report
    pages.py   the FastAPI routes, login cookie, static files: `install(app, ...)`
"""


def __getattr__(name: str):
    """`router` is imported on first use, so `codealign report` needs no FastAPI."""
    if name == "router":
        from codealign.service.dashboard.pages import router

        return router
    raise AttributeError(name)
