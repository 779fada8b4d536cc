"""The codealign service: an HTTP API over a store (SQLite or PostgreSQL) that takes coding
tasks, validates them in the sandbox, and starts, cancels and reads runs through the run
engine. `create_app(settings)` builds it; `codealign serve` runs it under uvicorn. The dashboard
(`codealign.service.dashboard`) is served by the same app at `/`.

Dependency direction: service -> runs -> stages. The service never imports a stage to run it:
runs execute in worker processes (`codealign.service.workers`) and are read through the run
reader; task validation calls the sandbox, the one stage it uses directly.

Threat model
============

Who may choose what. The **operator** (whoever writes files on the host and starts
`codealign serve`) chooses the infrastructure: the recipes in the configs directory (model,
generator backend, its URLs and the *name* of the environment variable holding its key, the
sandbox backend and all of its limits, the executor and any Ray address, paths, lineage), the
`Settings` (addresses, allowed hosts, validation sandbox, ceilings of the overrides) and the
keys. API callers choose experiments within that:

* a **read** key reads tasks, runs, rounds, pairs, metrics, events, the schedule and the
  dashboard. It never sees a secret: no endpoint returns a key, a key hash or a recipe's
  generator section, and the service's error messages name no server path.
* a **write** key also submits tasks, starts, cancels and resumes runs. A submitted task's
  tests, setup and reference run only in the operator's sandbox (never on the host; the host
  parses them with `ast` at most). A run is started from a recipe with the typed, bounded
  `recipes.Overrides` (rounds, seed, tasks per round, sampling n and temperature, DPO beta,
  learning rate and epochs, evaluation samples) and tasks from the store (`active`, by tag) or
  a named set (`bank`, `humaneval`, `mbpp`): it cannot name a path, a URL, an address, a model
  or a sandbox setting, so it cannot make the service read, write or fetch anything the
  operator did not name. It can spend the machine's time up to the ceilings (one run at a
  time, the global run lock; the validation queue's bound; its fair share of validation). It
  also reviews the pairs in the spot-check queue (`codealign.service.reviews`), attributed to
  the key: a *disagree* removes a pair from every later training set, so a write key can keep
  the loop from learning a pair, never make it learn one.
* an **admin** key also edits the nightly schedule (a recipe by name, a cron, the same
  overrides) and lists, creates and revokes keys. It chooses no more infrastructure than a
  write key does; it can lock the other callers out (revoking their keys).
* **open mode** (a store that never held a key) is admin for loopback clients only, and
  `codealign serve` binds only to loopback then. The Host header must be an allowed name
  (loopback names by default on a loopback bind), so a web page that rebinds its DNS name to
  127.0.0.1 is refused; the dashboard's cookie is HttpOnly and SameSite=Strict and opens no
  `/v1` call. Its one form that changes anything (a review) needs the cookie's key to be of
  scope write, and is refused when the browser names another Origin.
* `unsafe-no-isolation` (candidate code and submitted tests run as the service's user on the
  host) is never selectable by the API: the service refuses recipes and a validation backend
  that use it unless the operator passed `--allow-unsafe-no-isolation` (logged at start).

What is not covered, and who else is trusted:

* **write access to the database** is code execution in the service: APScheduler's job store
  (`apscheduler_jobs`) holds pickled jobs, unpickled when the scheduler loads them. Anyone who
  can write the database can also mint keys (insert a hash), mark tasks `active` without
  validation, and rewrite the schedule. Keep the database the service's alone: SQLite is
  created 0600 in a 0700 home; give PostgreSQL its own role.
* **write access to the run directories or the configs directory** is the operator's: a
  recipe chooses everything, and the run engine trusts its own run directories.
* the operator's generator servers and Ray cluster are trusted (a Ray cluster exchanges
  pickles); the API cannot point the service at any other.
* the sandbox's own limits are those of `codealign.sandbox` (see its threat model).
* keys are bearer secrets (SHA-256 stored, compared in constant time); a key revoked through
  the admin API fails at once in that process, one revoked elsewhere within
  `Settings.key_cache_ttl_s`. Run the service behind TLS when it leaves loopback.
"""
