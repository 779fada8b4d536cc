"""The executor seam: where sandbox work runs.

An `Executor` performs a list of work items (`codealign.sandbox.work`: sample runs,
measuring runs, input probes) and returns their results in item order. Both
implementations compute the same thing from the same records and honour the same contract:

* `on_result(i, result)` is called once per item as it finishes (from one thread at a
  time), in whatever order items finish: the progress bar and the run's events subscribe;
* `cancel()`, when given, is asked before each item (or chunk of items) is handed out: once
  it returns true, queued work is dropped, work already running finishes (and is reported),
  and `Canceled` is raised;
* our own faults (`SandboxUnavailable`, `SandboxFault`) are raised as themselves; untrusted
  code failing is never an exception.

`LocalExecutor` (`codealign.sandbox.local`) runs a pool of sandboxes on this machine;
`RayExecutor` (`codealign.sandbox.ray_executor`) sends chunks of items to Ray workers, each
of which runs them with a one-sandbox `LocalExecutor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from codealign.sandbox.config import SandboxConfig
from codealign.sandbox.work import Cancel, OnResult, Result, Work

__all__ = ["Executor", "executor_for"]


class Executor(Protocol):
    """Performs sandbox work (see the module docstring for the contract)."""

    def run(self, items: Sequence[Work], on_result: OnResult | None = None,
            cancel: Cancel | None = None) -> list[Result]:
        """Every item's result, in item order."""


def executor_for(config: SandboxConfig) -> Executor:
    """The executor `config.executor` names."""
    if config.executor == "ray":
        from codealign.sandbox.ray_executor import RayExecutor
        return RayExecutor(config)
    from codealign.sandbox.local import LocalExecutor
    return LocalExecutor(config)
