"""The old home of the loop, kept so that ``codealign.runs.loop`` imports keep working.

The run engine is split by concern in this package: `state`, `events`, `stages`, `rounds`,
`engine`, `reader` (see `codealign.runs`). Prefer importing from `codealign.runs`.
"""

from codealign.runs.engine import LoopResult, run_loop
from codealign.runs.rounds import read_rounds, stage_timings, write_rounds
from codealign.runs.stages import KILL_ENV, ROUND_SEED_STRIDE, STAGES

__all__ = ["STAGES", "run_loop", "LoopResult", "stage_timings", "read_rounds", "write_rounds",
           "KILL_ENV", "ROUND_SEED_STRIDE"]
