"""`codealign ...`: every stage runnable alone. Heavy imports stay inside each command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from codealign.errors import CodealignError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Code-quality alignment: sample, sandbox, judge, pair, DPO.")


@app.command("loop")
def loop(
    config: Annotated[Path, typer.Option("--config", help="Run recipe (YAML), e.g. configs/demo.yaml.")],
    rounds: Annotated[Optional[int], typer.Option("--rounds", help="Rounds to run (default: the config's).")] = None,
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="Parent of the run directory "
                                                    "(default: the config's run_dir).")] = None,
) -> None:
    """Run (or resume) DPO rounds: sample, execute, judge, train, evaluate, gate."""
    from rich.console import Console

    from codealign.config import load_config
    from codealign.loop import run_loop

    console = Console(stderr=True)
    run = load_config(config)           # every check before any work
    result = run_loop(run, rounds=rounds, run_dir=run_dir, progress=True,
                      log=lambda line: console.print(f"[bold]loop[/bold] {line}"))
    for r in result.rounds:
        m = r["metrics"] or {}
        console.print(f"round {r['round']}: {r['status']:9} pass@1 {m.get('pass@1', float('nan')):.3f}"
                      + (f"  {r['reason']}" if r.get("reason") else ""))
    console.print(f"rounds: {result.run_path / 'rounds.jsonl'}")


def main() -> None:
    """Entry point: our own errors become one clear line and exit status 2, not a traceback."""
    try:
        app()
    except CodealignError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
