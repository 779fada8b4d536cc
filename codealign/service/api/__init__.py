"""The HTTP API, laid out by resource: `routes/tasks.py`, `routes/runs.py`, `routes/metrics.py`,
`routes/info.py`; typed dependencies in `deps.py`; one error mapping in `errors.py`."""
