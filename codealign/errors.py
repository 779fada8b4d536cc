"""The exceptions codealign raises for its own faults and for bad input.

Untrusted code failing is *data* (an `Execution` with a status), never one of these.

    CodealignError                 anything codealign raises on purpose
    ├── InputError                 a file, record or config the user gave is malformed;
    │                              the message names the file, line and field
    ├── ConfigError(InputError)    a config field is unknown or has a bad value
    ├── SandboxUnavailable         the chosen isolation cannot run on this machine
    ├── SandboxFault               our sandbox machinery broke (not the candidate)
    ├── GeneratorError             a model, adapter or server cannot be used
    ├── TrainerError               a training or evaluation step cannot run
    ├── RunBusy                    another process holds the run's lease (names its pid/host)
    └── Canceled                   a cancel request stopped the run (cooperative, resumable)

`ExitStatus` is how every ``codealign`` command ends, these errors included.
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """The exit status of a ``codealign`` command (and of ``python -m codealign.runs.lock``)."""

    OK = 0           # done; `nightly`: a night ran, or nothing new was recorded
    FAILED = 1       # the command ran and found failures (`tasks check`, a failed run or night)
    BAD_INPUT = 2    # a `CodealignError`: bad input or usage, an unusable model or sandbox
    BUSY = 3         # `RunBusy`: another process holds the run's lease or the run lock (nightly: skipped)
    CANCELED = 4     # the run was canceled (resumable)
    RESUMED = 5      # `nightly`: the interrupted previous night was resumed and finished
    INTERNAL = 70    # an unexpected error (sysexits' EX_SOFTWARE); its traceback is in a log file


class CodealignError(Exception):
    """Base of every error codealign raises on purpose."""


class InputError(CodealignError, ValueError):
    """A user-supplied file or record is malformed.

    >>> str(InputError("bad value", path="t.jsonl", line=3, field="entry_point"))
    't.jsonl:3: field entry_point: bad value'
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.path, self.line, self.field, self.reason = path, line, field, message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        elif line is not None:
            where = f"line {line}: "
        if field is not None:
            where += f"field {field}: "
        super().__init__(where + message)


class ConfigError(InputError):
    """A configuration is invalid (unknown field, bad value, missing model, empty task set)."""


class SandboxUnavailable(CodealignError):
    """The requested isolation (bwrap, docker) cannot be used here; says how to fix it."""


class SandboxFault(CodealignError):
    """The sandbox machinery itself failed, as opposed to the code it ran."""


class GeneratorError(CodealignError):
    """A model path, adapter or inference server cannot be used."""


class TrainerError(CodealignError):
    """A training or evaluation step cannot run."""


class RunBusy(CodealignError):
    """Another process holds the run's lease; nothing of the run was touched."""


class Canceled(CodealignError):
    """A cancel request stopped the work; the run ends ``canceled`` and can be resumed."""
