"""The service's store: typed SQLAlchemy tables (`models`), the engine and schema upgrades
(`db`), API keys (`keys`). Run directories stay the source of truth for run artifacts; the
database holds tasks, runs, API keys, idempotency records and an index of round results."""

from codealign.service.store.db import Database, upgrade
from codealign.service.store.models import (ApiKey, Base, IdempotencyRecord, RoundRow, RunRow,
                                            TaskRow, TaskStatus, TaskTag)

__all__ = ["Database", "upgrade", "Base", "TaskRow", "TaskTag", "TaskStatus", "ApiKey",
           "IdempotencyRecord", "RunRow", "RoundRow"]
