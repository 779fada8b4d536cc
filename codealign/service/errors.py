"""The service's domain errors, under the package's `CodealignError` (codealign/errors.py).

    CodealignError
    ├── InputError / ConfigError      bad input (422, naming the field)
    ├── RunBusy (codealign.runs)      the run's lease or the global run lock is held (409)
    └── ServiceError                  what the service refuses, with its HTTP meaning
        ├── NotFound                  404: no such task, run, round
        ├── Conflict                  409: a different task under that id; a request in progress
        │   └── Duplicate             409: an exact duplicate of a known task (carries duplicate_of)
        ├── Unprocessable             422: e.g. an Idempotency-Key reused with another body
        ├── Overloaded                503: the validation queue is full (carries retry_after)
        ├── Unauthorized              401: no or unknown API key
        └── Forbidden                 403: the key's scope is too small

Route code raises these; `codealign.service.api.errors` is the one place that maps them to
RFC 9457 problem+json responses.
"""

from __future__ import annotations

from codealign.errors import CodealignError

__all__ = ["ServiceError", "NotFound", "Conflict", "Duplicate", "Unprocessable", "Overloaded",
           "Unauthorized", "Forbidden"]


class ServiceError(CodealignError):
    """A request the service refuses. `status` is its HTTP status; `title` a short summary."""

    status = 400
    title = "Bad request"


class NotFound(ServiceError):
    status, title = 404, "Not found"


class Conflict(ServiceError):
    status, title = 409, "Conflict"


class Duplicate(Conflict):
    """A submitted task is an exact duplicate of a task the service knows (stored, or in a
    named task set): `duplicate_of` is that task's id."""

    title = "Duplicate task"

    def __init__(self, message: str, *, duplicate_of: str) -> None:
        super().__init__(message)
        self.duplicate_of = duplicate_of


class Unprocessable(ServiceError):
    status, title = 422, "Unprocessable request"


class Overloaded(ServiceError):
    status, title = 503, "Service overloaded"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthorized(ServiceError):
    status, title = 401, "Unauthorized"


class Forbidden(ServiceError):
    status, title = 403, "Forbidden"
