"""`codealign ...`: every stage runnable alone. Heavy imports stay inside each command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from codealign.errors import CodealignError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Code-quality alignment: sample, sandbox, judge, pair, DPO.")


def main() -> None:
    """Entry point: our own errors become one clear line and exit status 2, not a traceback."""
    try:
        app()
    except CodealignError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
