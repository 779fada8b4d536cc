"""The codealign service: an HTTP API over a store (SQLite or PostgreSQL) that takes coding
tasks, validates them in the sandbox, and starts, cancels and reads runs through the run
engine. `create_app(settings)` builds it; `codealign serve` runs it under uvicorn. The dashboard
(`codealign.service.dashboard`) is served by the same app at `/`.

Dependency direction: service -> runs -> stages. The service never imports a stage to run it:
runs execute in worker processes (`codealign.service.workers`) and are read through the run
reader; task validation calls the sandbox, the one stage it uses directly.
"""
