"""The Task record: one coding problem with its trusted tests."""

from __future__ import annotations

import dataclasses
import keyword
from dataclasses import dataclass
from typing import Any

from codealign.errors import InputError

__all__ = ["Task", "reference_id"]


@dataclass(frozen=True)
class Task:
    """A coding problem and the trusted material needed to judge a solution.

    Attributes:
        task_id: unique id, e.g. ``"HumanEval/0"`` or ``"bank/dedupe_keep_order"``.
            It, the prompt, entry point and tests must be UTF-8 text (no lone surrogates:
            ids are hashed and prompts tokenized); tags and source may be any string.
        prompt: what the model sees. For ``prompt_style="code"`` it is a Python prefix
            (signature and docstring) that a completion continues, HumanEval style; for
            ``"text"`` it is an instruction and the model writes a whole module.
        entry_point: name of the function under test.
        tests: trusted Python source. Either top-level statements (asserts, MBPP style)
            or a module defining ``check(candidate)`` (HumanEval style).
        prompt_style: ``"code"`` or ``"text"``.
        setup: trusted Python source run before the tests, beside them (never inside the
            candidate's process): helper functions the tests call, MBPP's
            ``test_setup_code``. For code prompts the prompt itself is also run there.
        reference: a known-good solution (a whole module), if any.
        perf_inputs: Python expressions, each evaluating (in the test namespace) to the
            tuple of positional arguments for one large call of the entry point; used by
            the efficiency judge.
        input_check: the task's input contract, for differential testing
            (`codealign.sandbox.strengthen`): Python source defining
            ``input_check(*args) -> bool``, True when the arguments are a valid input of the
            entry point (a precondition the reference does not check itself). Run only in
            the sandbox, beside the reference. None: every input the reference accepts.
        tags: free labels such as ``"strings"``, ``"insecure-trap"``, ``"slow-trap"``.
        timeout_s: wall-clock limit for one execution.
        memory_mb: address-space limit for the candidate's process.
        source: where the task came from (``"humaneval"``, ``"mbpp"``, ``"bank"``, a path).
    """

    task_id: str
    prompt: str
    entry_point: str
    tests: str
    prompt_style: str = "text"
    setup: str = ""
    reference: str | None = None
    perf_inputs: tuple[str, ...] = ()
    input_check: str | None = None
    tags: tuple[str, ...] = ()
    timeout_s: float = 10.0
    memory_mb: int = 1024
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("task_id", "prompt", "entry_point", "tests"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"must be a non-empty string, got {value!r:.60}", field=name)
            try:  # JSON can carry a lone surrogate ("\ud800"); ids are hashed, prompts tokenized
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InputError(f"not UTF-8 text ({exc.reason} at character {exc.start})",
                                 field=name) from exc
        if not self.entry_point.isidentifier() or keyword.iskeyword(self.entry_point):
            raise InputError(f"not a Python identifier: {self.entry_point!r}", field="entry_point")
        if self.prompt_style not in ("code", "text"):
            raise InputError(f"must be 'code' or 'text', got {self.prompt_style!r}",
                             field="prompt_style")
        if not isinstance(self.setup, str):
            raise InputError(f"must be a string, got {type(self.setup).__name__}", field="setup")
        for name in ("reference", "input_check"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InputError(f"must be a string or null, got {type(value).__name__}", field=name)
        if not (isinstance(self.timeout_s, (int, float)) and 0 < self.timeout_s <= 3600):
            raise InputError(f"must be in (0, 3600] seconds, got {self.timeout_s!r}", field="timeout_s")
        if not (isinstance(self.memory_mb, int) and 16 <= self.memory_mb <= 65536):
            raise InputError(f"must be an integer in [16, 65536], got {self.memory_mb!r}",
                             field="memory_mb")
        for name in ("perf_inputs", "tags"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise InputError("must be a list of strings", field=name)
            object.__setattr__(self, name, tuple(value))

    @property
    def continuation_prompt(self) -> str:
        """The text a model continues for this code prompt: the prompt without its trailing
        whitespace, so that the prompt ends on a token boundary.

        A byte-level BPE merges a prompt's final newline with the indentation after it: the
        sampler would see ``...\n`` as its own token while DPO, which tokenizes prompt and
        completion together, would train on ``\n    `` as one token after a shorter context
        (TRL warns "the tokenized prompt is not a prefix of the tokenized prompt+completion").
        Ending the prompt before the whitespace makes the model write it, so sampling and
        training see the same tokens. Text prompts are returned as they are.

        >>> Task("t", "def f(x):\\n    # Double.\\n", "f", "assert f(1) == 2",
        ...      prompt_style="code").continuation_prompt
        'def f(x):\\n    # Double.'
        """
        return self.prompt.rstrip() if self.prompt_style == "code" else self.prompt

    def program(self, completion: str) -> str:
        """The whole candidate module for a completion: prompt + completion for code prompts."""
        return self.prompt + completion if self.prompt_style == "code" else completion

    def trusted_setup(self) -> str:
        """Source run beside the tests: the code prompt (helpers such as HumanEval's
        ``poly``) followed by ``setup``."""
        parts = [self.prompt] if self.prompt_style == "code" else []
        if self.setup:
            parts.append(self.setup)
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The record; ``input_check`` only when there is one (a task without one has the
        same record, and hash, as before the field existed)."""
        d = dataclasses.asdict(self)
        d["perf_inputs"], d["tags"] = list(self.perf_inputs), list(self.tags)
        if self.input_check is None:
            del d["input_check"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Task":
        """Build from a dict with exactly our field names; unknown fields are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"unknown field(s) {unknown}; expected some of {sorted(names)}",
                             field=unknown[0])
        missing = [n for n in ("task_id", "prompt", "entry_point", "tests") if n not in d]
        if missing:
            raise InputError("missing required field", field=missing[0])
        return cls(**d)


def reference_id(task: Task) -> str:
    """The sample id under which a task's reference solution runs in the sandbox (the
    efficiency judge's baseline, `codealign tasks check`, the service's task validation)."""
    return f"{task.task_id}::reference"
