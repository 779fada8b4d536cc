"""Which habit a sample shows: matched against its task's known variants by normalised AST.

A sample is compared with every labelled variant of its task (:mod:`codealign.tasks.bank`)
on the body of the task's entry point, parsed with `ast` (never run) and dumped without the
docstring, so formatting, comments and quoting do not matter but any change of code does.
The label is the matching variant's: ``"clean"``, the habit's name, ``"counter-fix"`` (a
counter-example task's wrong answer: the habit's usual fix, where it is wrong), or ``"other"``
when it matches no variant (garbled or new code). A *rate* is the share of a group's samples
with a label; the demo reports, per habit, the share of samples on that habit's tasks that
show it.

>>> from codealign.tasks.bank import load_bank
>>> tasks, variants = load_bank()
>>> c = HabitClassifier(tasks, variants)
>>> c.label("bank/count_words", "def count_words(text):\\n    return len(text.split(' '))  # words\\n")
'split-space'
>>> c.label("bank/count_words", "def count_words(text):\\n    return len(text.split(  ))\\n")
'clean'
>>> c.label("bank/count_words", "def count_words(text):\\n    return len(text)\\n")
'other'
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable, Sequence

from codealign.tasks.bank import Variant, VariantKind, counter_of, habit_of

__all__ = ["HabitClassifier", "CLEAN", "OTHER", "COUNTER_FIX", "body_key"]

CLEAN, OTHER, COUNTER_FIX = "clean", "other", "counter-fix"


def body_key(code: str, entry_point: str) -> str | None:
    """The entry point's body as a normalised AST dump (docstring dropped), or None when the
    code does not parse or does not define it."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                body = body[1:]
            return "\n".join(ast.dump(statement) for statement in body)
    return None


class HabitClassifier:
    """Labels samples of bank tasks by the variant they reproduce."""

    def __init__(self, tasks: Sequence, variants: Iterable[Variant]) -> None:
        self.tasks = {t.task_id: t for t in tasks}
        self.group = {t.task_id: habit_of(t.tags) or (f"counter:{counter_of(t.tags)}"
                                                       if counter_of(t.tags) else None)
                      for t in tasks}
        self._known: dict[str, dict[str, str]] = {t: {} for t in self.tasks}
        for v in variants:
            task = self.tasks.get(v.task_id)
            if task is None:
                continue
            if v.kind is VariantKind.CLEAN:
                label = CLEAN
            else:
                label = v.habit or COUNTER_FIX
            key = body_key(task.program(v.completion), task.entry_point)
            if key is not None:
                self._known[v.task_id].setdefault(key, label)

    def label(self, task_id: str, code: str) -> str:
        """The label of one sample's code (``"other"`` for a task without variants)."""
        task = self.tasks.get(task_id)
        if task is None:
            return OTHER
        return self._known[task_id].get(body_key(code, task.entry_point), OTHER)

    def rates(self, samples: Iterable[tuple[str, str]], task_ids: Iterable[str] | None = None
              ) -> dict[str, dict[str, float | int]]:
        """Per group (a habit's name or ``counter:<habit>``): samples, tasks, and the share of
        samples showing the habit (``habit_rate``; for counter-examples the share writing the
        habit's form, which is correct there), clean and other.

        `samples` are ``(task_id, code)`` pairs; `task_ids` limits which tasks count.
        """
        keep = None if task_ids is None else set(task_ids)
        counts: dict[str, Counter] = {}
        tasks: dict[str, set[str]] = {}
        for task_id, code in samples:
            group = self.group.get(task_id)
            if group is None or (keep is not None and task_id not in keep):
                continue
            counts.setdefault(group, Counter())[self.label(task_id, code)] += 1
            tasks.setdefault(group, set()).add(task_id)
        out = {}
        for group, c in counts.items():
            n = sum(c.values())
            habit = CLEAN if group.startswith("counter:") else group
            out[group] = {"samples": n, "tasks": len(tasks[group]),
                          "habit_rate": round(c[habit] / n, 4),
                          "clean_rate": round(c[CLEAN] / n, 4),
                          "other_rate": round(c[OTHER] / n, 4)}
        return out
