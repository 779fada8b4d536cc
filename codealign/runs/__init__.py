"""The run engine: a run is a directory with a state, a lease, events, and a reader.

    create_run(config, tasks=None, parent_run=None) -> run path     (state: queued)
    execute_run(run_path, rounds=None, subscribers=(), cancel=None) -> RunState
    request_cancel(run_path); read_state(run_path); list_runs(run_dir)
    RunReader(run_path): state, config, split, tasks, rounds, task_results, samples, pairs,
                         train_metrics, timings, events
                         (rounds, task results and pairs are `codealign.records` records)

Modules: `state` (state record, lease, cancel token), `events` (typed events, events.jsonl),
`stages` (the six stages and their manifests), `rounds` (rounds.jsonl from the manifests),
`engine` (create, execute, cancel, lineage), `reader`, `console` (the terminal subscriber).
Only light modules are imported here; each stage imports its heavy libraries when it runs.
"""

from codealign.errors import Canceled, RunBusy
from codealign.runs.engine import LoopResult, create_run, execute_run, list_runs, request_cancel, run_loop
from codealign.runs.events import (Event, Note, Progress, RoundDecided, RunCanceled, RunFailed, RunFinished,
                                   RunStarted, StageFinished, StageStarted, read_events)
from codealign.runs.reader import RunReader
from codealign.runs.rounds import read_rounds, stage_timings
from codealign.runs.stages import KILL_ENV, STAGES
from codealign.runs.state import RunState, RunStatus, read_state

__all__ = ["RunStatus", "RunState", "RunBusy", "Canceled", "create_run", "execute_run", "request_cancel",
           "read_state", "list_runs", "RunReader", "read_events", "Event", "RunStarted", "RunFinished",
           "RunFailed", "RunCanceled", "StageStarted", "StageFinished", "Progress", "RoundDecided", "Note",
           "run_loop", "LoopResult", "read_rounds", "stage_timings", "STAGES", "KILL_ENV"]
