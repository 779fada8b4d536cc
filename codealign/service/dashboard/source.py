"""Where the dashboard reads runs from: the run engine's reader (`codealign.runs`).

INTERIM: until the run engine's reader lands, the same names read today's run layout.
"""

try:
    from codealign.runs import RunReader, list_runs
except ImportError:                       # INTERIM, removed when codealign.runs has the reader
    from codealign.service.dashboard._interim_reader import RunReader, list_runs

__all__ = ["RunReader", "list_runs"]
