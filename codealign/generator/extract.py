"""From a model's raw completion to the Python module the sandbox runs.

Two shapes of output come back:

* **Continuations** (a base model continuing a HumanEval-style code prompt): the text is the
  function body and then whatever the model rambles on with. It is cut at the first of
  `CONTINUATION_STOP` (the usual HumanEval stop list: a new top-level ``def``/``class``/``if``/
  ``print``/comment/``assert``, or a closing fence) and appended to the prompt. A completion
  cut off by ``max_tokens`` loses its last, partial line, and further lines until the module
  parses.
* **Whole answers** (an instruct model, or a text prompt): chatter around one or more fenced
  blocks, or bare code. The block that defines the entry point wins; from it we keep the
  imports, the entry-point function and the top-level helpers (functions, classes,
  constants) it uses, transitively, and drop the rest (example calls, prints, tests).

If nothing defines the entry point the text is returned as it is (stripped): the sandbox then
reports the failure, which is data, not an error here. All functions are pure.
"""

from __future__ import annotations

import ast
import re

from codealign.generator.protocol import FinishReason
from codealign.tasks.task import Task

__all__ = ["CONTINUATION_STOP", "cut_continuation", "extract_code", "fenced_blocks",
           "keep_entry_point"]

# HumanEval's stop list (Chen et al. 2021), plus asserts and a closing markdown fence.
CONTINUATION_STOP: tuple[str, ...] = ("\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#",
                                      "\nassert ", "\n```")

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S | re.I)


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def cut_continuation(prompt: str, text: str, finish_reason: FinishReason | str = "stop",
                     stop: tuple[str, ...] = CONTINUATION_STOP) -> str:
    """The continuation of `prompt` in `text`, cut at the first stop sequence.

    >>> cut_continuation("def f(x):\\n", "    return x + 1\\n\\nprint(f(2))\\n")
    '    return x + 1\\n'
    >>> cut_continuation("def f(x):\\n", "    y = x * 2\\n    return y\\n    z = (1,", "length")
    '    y = x * 2\\n    return y\\n'
    """
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    if cut >= 0:
        return text[:cut].rstrip() + "\n"
    if FinishReason(finish_reason) is not FinishReason.LENGTH:
        return text.rstrip() + "\n" if text.strip() else ""
    return _parsing_prefix(text, prompt)


def _parsing_prefix(text: str, prompt: str = "") -> str:
    """`text` without its last (partial) line, and without further lines until
    ``prompt + text`` parses: what is left of a completion cut off by max_tokens."""
    lines = text.split("\n")[:-1]
    while lines and not _parses(prompt + "\n".join(lines) + "\n"):
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def fenced_blocks(text: str) -> list[str]:
    """The contents of the markdown code blocks in `text` (an unclosed last block included).

    >>> fenced_blocks("Here:\\n```python\\nx = 1\\n```\\nand\\n```\\ny = 2")
    ['x = 1', 'y = 2']
    """
    return [m.group(1) for m in _FENCE.finditer(text)]


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.value.id for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}


def _defined(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def keep_entry_point(source: str, entry_point: str) -> str | None:
    """Imports + `entry_point` + the top-level definitions it uses; None if it is not defined.

    >>> print(keep_entry_point('''import math
    ... def helper(x):
    ...     return math.sqrt(x)
    ... def unused():
    ...     pass
    ... def area(r):
    ...     return helper(r) * 2
    ... print(area(3))
    ... ''', "area"))
    import math
    def helper(x):
        return math.sqrt(x)
    def area(r):
        return helper(r) * 2
    <BLANKLINE>
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    body = tree.body
    entry = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and n.name == entry_point]
    if not entry:
        return None
    keep: set[int] = {id(n) for n in body if isinstance(n, (ast.Import, ast.ImportFrom))}
    keep.add(id(entry[-1]))
    wanted = _names_used(entry[-1])
    changed = True
    while changed:  # pull in helpers, and the helpers' helpers
        changed = False
        for node in body:
            if id(node) not in keep and _defined(node) & wanted:
                keep.add(id(node))
                wanted |= _names_used(node)
                changed = True
    lines = source.splitlines()
    parts = []
    for node in body:
        if id(node) in keep:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            parts.append("\n".join(lines[start - 1:node.end_lineno]))
    return "\n".join(parts) + "\n"


def extract_code(task: Task, completion: str, finish_reason: FinishReason | str = "stop",
                 *, chat: bool = False, prompt: str | None = None) -> str:
    """The module to run for `completion` of `task` (see the module docstring).

    `prompt` is the text the completion continues when it is not `task.prompt` itself: the
    generator samples continuations of `Task.continuation_prompt`.

    >>> t = Task("t/1", "def inc(x):\\n", "inc", "assert inc(1) == 2", prompt_style="code")
    >>> extract_code(t, "    return x + 1\\n\\ndef other():\\n")
    'def inc(x):\\n    return x + 1\\n'
    >>> extract_code(t, "\\n    return x + 1\\n", prompt=t.continuation_prompt)
    'def inc(x):\\n    return x + 1\\n'
    >>> t = Task("t/2", "Write inc(x).", "inc", "assert inc(1) == 2")
    >>> extract_code(t, "Sure!\\n```python\\ndef inc(x):\\n    return x + 1\\n\\nprint(inc(1))\\n```")
    'def inc(x):\\n    return x + 1\\n'
    """
    reason = FinishReason(finish_reason)
    if task.prompt_style == "code" and not chat:
        prefix = task.prompt if prompt is None else prompt
        return prefix + cut_continuation(prefix, completion, reason)
    blocks = fenced_blocks(completion) or [completion]
    if reason is FinishReason.LENGTH:  # the last block was cut off
        blocks[-1] = _parsing_prefix(blocks[-1])
    for block in blocks:
        code = keep_entry_point(block, task.entry_point)
        if code is not None:
            # A code prompt may hold imports and helpers the solution relies on (HumanEval's
            # `poly`); the solution's own definition of the entry point comes later and wins.
            return task.prompt.rstrip("\n") + "\n\n\n" + code if task.prompt_style == "code" \
                else code
    if task.prompt_style == "code":  # a bare body, as a continuation
        return task.prompt + cut_continuation(task.prompt, blocks[0], reason)
    return blocks[0].strip() + "\n"
