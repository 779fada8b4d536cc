"""Request and response models, by resource: `TaskCreate` (what a client sends), `TaskPublic`
(what it gets back), pages, batch results, runs. Size limits live here, in the schema, so the
OpenAPI document states them and a violation is a 422 naming the field."""

from __future__ import annotations

import enum
import keyword
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from codealign.service.store.models import TaskStatus
from codealign.tasks.similarity import Part

MAX_PROMPT = 32_768
MAX_TESTS = 65_536
MAX_REFERENCE = 65_536
MAX_TIMEOUT_S = 60.0
MAX_MEMORY_MB = 4096
BATCH_LIMIT = 100
PAGE_LIMIT = 100

TASK_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/+-]*$"
# Text a database can store: no NUL (PostgreSQL refuses it; the schema says so) and no
# unpaired surrogate (a lone \ud800 escape in JSON decodes to one; it has no UTF-8 form).
NO_NUL = r"^[^\u0000]*$"
NOT_KEYWORD = {"not": {"enum": keyword.kwlist}}
REQUEST = ConfigDict(extra="forbid")


def _has_surrogate(value: str) -> bool:
    """A surrogate code point is the one thing strict UTF-8 cannot encode (the encoder runs in C;
    a Python loop over a 64 KB test file cost milliseconds a field)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _paired(value: str) -> str:
    if _has_surrogate(value):
        raise ValueError("text with an unpaired surrogate (not valid Unicode)")
    return value


Text = Annotated[str, AfterValidator(_paired)]
Tag = Annotated[Text, Field(min_length=1, max_length=128, pattern=NO_NUL)]
PerfInput = Annotated[Text, Field(min_length=1, max_length=4096, pattern=NO_NUL)]


class TaskLimits(BaseModel):
    model_config = REQUEST

    timeout_s: float = Field(10.0, gt=0, le=MAX_TIMEOUT_S, description="Wall clock per execution.")
    memory_mb: int = Field(1024, ge=16, le=MAX_MEMORY_MB, description="Address-space limit.")


class TaskCreate(BaseModel):
    """A coding task to submit. The server validates it in the sandbox before it is `active`."""

    model_config = REQUEST

    task_id: str | None = Field(None, min_length=1, max_length=200, pattern=TASK_ID, description=(
        "Your id for the task; default: derived from its content (t-<sha256 prefix>)."))
    prompt: Text = Field(min_length=1, max_length=MAX_PROMPT, pattern=NO_NUL, description="What the model sees.")
    entry_point: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                             json_schema_extra=NOT_KEYWORD, description="A Python identifier, not a keyword.")
    tests: Text = Field(min_length=1, max_length=MAX_TESTS, pattern=NO_NUL, description=(
        "Trusted Python: asserts, or a check(candidate) function (HumanEval style)."))
    reference: Text = Field(min_length=1, max_length=MAX_REFERENCE, pattern=NO_NUL, description=(
        "A solution (a whole module) that must pass the tests."))
    prompt_style: Literal["code", "text"] = "text"
    setup: Text = Field("", max_length=MAX_TESTS, pattern=NO_NUL, description="Trusted source run beside the tests.")
    perf_inputs: list[PerfInput] = Field(default_factory=list, max_length=32)
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    limits: TaskLimits = Field(default_factory=TaskLimits)
    source: Text = Field("api", min_length=1, max_length=200, pattern=NO_NUL)

    @field_validator("entry_point")
    @classmethod
    def _not_keyword(cls, value: str) -> str:
        if keyword.iskeyword(value):
            raise ValueError(f"{value!r} is a Python keyword, not a function name")
        return value

    def task_fields(self) -> dict[str, Any]:
        """The fields of a `codealign.tasks.Task` (without its id)."""
        return {"prompt": self.prompt, "entry_point": self.entry_point, "tests": self.tests,
                "prompt_style": self.prompt_style, "setup": self.setup, "reference": self.reference,
                "perf_inputs": list(self.perf_inputs), "tags": sorted(set(self.tags)),
                "timeout_s": float(self.limits.timeout_s), "memory_mb": self.limits.memory_mb,
                "source": self.source}


class WarningCode(str, enum.Enum):
    """Why an accepted task deserves a look."""

    WEAK_TESTS = "weak-tests"           # its tests kill too few mutants of its reference
    NEAR_DUPLICATE = "near-duplicate"   # it nearly duplicates a held-out task: kept out of training


class TaskWarning(BaseModel):
    code: WarningCode
    detail: str


class PartSimilarity(BaseModel):
    """How alike one part of two tasks is (`codealign.tasks.similarity.PartScore`)."""

    ast: float | None = Field(description="Normalised-AST similarity (null for a prompt).")
    shingle: float = Field(description="Token-shingle similarity.")


class NearDuplicate(BaseModel):
    """Leak control: the held-out task a task nearly duplicates. Such a task is kept out of the
    train side of every run made from the store's tasks (the run's split.json says so)."""

    of: str = Field(description="The held-out task's id.")
    run: str = Field(description="A run of this service in which that task is held out.")
    score: float = Field(description="Mean similarity over the parts both tasks have.")
    exact: bool = Field(description="The same task up to formatting and comments.")
    parts: dict[Part, PartSimilarity] = Field(description="Per part the two tasks both have.")


class TestStrength(BaseModel):
    """The task's mutation score, measured at validation (`codealign.judges.strength`): its
    reference's mutants run against its own tests in the sandbox."""

    __test__ = False                    # (pytest: not a test class)

    mutants: int
    killed: int = Field(description="Mutants the task's own tests reject.")
    likely_equivalent: int = Field(description=(
        "Surviving mutants that agree with the reference on every agreement input."))
    score: float | None = Field(description="killed / (mutants - likely_equivalent); null: nothing to score.")
    survivors: list[str] = Field(description="The non-equivalent mutants the tests let through.")
    why: str = Field(description="Why there is no score, if there is none.")


class TaskPublic(BaseModel):
    task_id: str
    status: TaskStatus
    reason: str | None
    source: str
    tags: list[str]
    prompt: str
    entry_point: str
    prompt_style: str
    tests: str
    setup: str
    reference: str | None
    perf_inputs: list[str]
    limits: TaskLimits
    content_hash: str
    content_key: str | None = Field(description=(
        "The exact-duplicate key (prompt, tests, setup and reference up to formatting and comments)."))
    near_duplicate: NearDuplicate | None = Field(description=(
        "Set when the task nearly duplicates a held-out task: it is kept out of training."))
    strength: TestStrength | None = Field(description="Null until validation measured it.")
    warnings: list[TaskWarning]
    created_at: datetime
    updated_at: datetime


class TaskPage(BaseModel):
    items: list[TaskPublic]
    has_more: bool
    next: int | None = Field(description="Pass as `after` for the next page (null on the last).")


class TaskBatch(BaseModel):
    model_config = REQUEST

    tasks: list[TaskCreate] = Field(min_length=1, max_length=BATCH_LIMIT)


class BatchItem(BaseModel):
    index: int
    outcome: Literal["created", "existing", "error"]
    task: TaskPublic | None = None
    status: int = Field(description="The HTTP status this item alone would have had.")
    detail: str | None = None
    duplicate_of: str | None = Field(None, description=(
        "With status 409 for an exact duplicate: the id of the task it duplicates."))


class BatchResult(BaseModel):
    results: list[BatchItem]
