"""`codealign report RUN_DIR --out report.html`: a run's dashboard as one self-contained file.

The overview, quality, flips (round 0 → the last promoted round, or the last round when none
was promoted), per-task matrix and DPO-health views of the served dashboard, rendered by the
same templates from the same `RunView` figures, with uPlot and the styles inlined: the file
opens with no server and no network (a CI artifact, or a run to show someone without the
service). It lives beside the CLI rather than in the service package because it needs no
server: it imports the dashboard's views and templates only, never FastAPI.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from codealign.errors import InputError

__all__ = ["write_report"]


def write_report(run_path: str | Path, out: str | Path) -> Path:
    """Render the report of the run at `run_path` into `out` (written atomically); return it."""
    from codealign.service.dashboard.render import render
    from codealign.service.dashboard.views import DPO_SERIES, RunView

    run_path, out = Path(run_path), Path(out)
    if not (run_path / "rounds.jsonl").is_file():
        raise InputError("not a run directory with a finished round (no rounds.jsonl)", path=str(run_path))
    view = RunView(run_path)
    html = render("report.html", inline=True, links=False, run=view.name, state=view.state.to_dict(),
                  path=str(run_path.resolve()), written=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  ov=view.overview, q=view.quality, fl=view.flips(*view.flip_rounds()), mx=view.matrix,
                  dpos=[view.dpo(k) for k in view.trained_rounds()], guard=view.guard,
                  series_names=DPO_SERIES)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(html)
    os.replace(tmp, out)
    return out
