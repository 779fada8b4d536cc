"""How alike two tasks are: exact duplicates, and near duplicates under light edits.

A task that copies a held-out task into the training set, lightly edited, makes every later
held-out figure a measure of memory. This module finds such copies, on the host, from the
tasks' text alone: it parses with `ast` and never runs task code.

**Exact duplicates** share a `content_key`: the same prompt, tests, setup and reference up
to formatting and comments (each Python part compared as its `ast.dump`, a text prompt with
its whitespace collapsed). A store can keep the key in a unique column and refuse a
submission with the id it duplicates.

**Near duplicates.** Each part of a task — prompt, tests, reference — is normalised and
compared two ways:

* *normalised AST*: docstrings dropped (comments never reach the AST), the entry point
  renamed ``ENTRY`` and its parameters ``ARG0``, ``ARG1``, … everywhere (code and text),
  every other name bound in the task renamed ``v0``, ``v1``, … in order of first appearance
  within its top-level statement (so reordering statements changes nothing), builtins and
  imported names kept, constants kept. The similarity is the Jaccard index of the
  multisets of subtree digests with at least `SimilarityConfig.min_subtree` nodes
  (``Σ min / Σ max`` of counts; the n-th copy of a digest is its own element): reordered
  asserts are the same subtrees.
* *token shingles*: the Jaccard index of the sets of k-grams of normalised tokens (the
  normalised source's tokens for code, `code_shingle`; for text — a text prompt, a code
  prompt's docstrings — lower-cased words with the same renaming, `text_shingle`).

A part's similarity is the larger of its two figures (a prompt is compared by its shingles
only: a code prompt's tree is a signature that most prompts of a set share); the task's
`score` is the mean over the parts both tasks have. A task is a **near duplicate** of
another when its score reaches `SimilarityConfig.threshold`, or when its tests or its
reference have the same normalised tree as the other's (AST similarity at least
`SimilarityConfig.tree_threshold`, 1.0 by default): judged by the same tests, or solved by
the same function, it is the same task whatever its prompt says. The threshold comes from
`benchmarks/leak_control.py`, calibrated on one half of HumanEval and MBPP and reported on
the other: every lightly edited copy flagged; of the distinct tasks, none of HumanEval's and
6.2% of MBPP's, most of them (4.9%) sharing normalised tests or reference with another MBPP
task, the rest template siblings ("the maximum product" / "the minimum product").

Use: ``index = SimilarityIndex(heldout_tasks)``; ``index.check(task)`` gives a `Check`
(``exact``: the id of an exact duplicate, ``best``: the closest task with per-part
scores, ``near_duplicate``). Fingerprints are computed once per task (`Fingerprint.of`);
a comparison is a few set operations. Hostile input: a part too deeply nested for the
parser's recursion is an `InputError` naming the task and part, never a crash.
"""

from __future__ import annotations

import ast
import builtins
import enum
import hashlib
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codealign.errors import ConfigError, InputError
from codealign.tasks.task import Task

__all__ = ["Part", "SimilarityConfig", "Fingerprint", "PartScore", "Match", "Check",
           "SimilarityIndex", "content_key", "fingerprint", "compare"]


class Part(str, enum.Enum):
    """The parts of a task that are compared."""

    PROMPT = "prompt"
    TESTS = "tests"
    REFERENCE = "reference"


@dataclass(frozen=True)
class SimilarityConfig:
    """How tasks are compared and when one counts as a near duplicate of another.

    Attributes:
        threshold: a task whose mean part similarity reaches this is a near duplicate.
        tree_threshold: a task whose tests or reference have at least this normalised-AST
            similarity to another's is a near duplicate whatever its prompt (1.0: the same
            tree; lower it to catch the same tests with a case added).
        code_shingle: tokens per shingle of normalised code (tests, reference, code prompts).
        text_shingle: words per shingle of text (text prompts, docstrings).
        min_subtree: AST subtrees with fewer nodes than this are not compared (a lone name
            or constant says nothing).
    """

    threshold: float = 0.75
    tree_threshold: float = 1.0
    code_shingle: int = 4
    text_shingle: int = 2
    min_subtree: int = 3

    def __post_init__(self) -> None:
        for name in ("threshold", "tree_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value <= 1:
                raise ConfigError(f"must be a number in (0, 1], got {value!r}", field=name)
        for name, high in (("code_shingle", 32), ("text_shingle", 32), ("min_subtree", 64)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise ConfigError(f"must be an integer in [1, {high}], got {value!r}", field=name)


# --------------------------------------------------------------------------- normalisation

_BUILTINS = frozenset(dir(builtins))
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|[^\sA-Za-z0-9_]")
_CODE_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d[\w.]*|\*\*|//|==|!=|<=|>=|->|[^\s\w]")


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"),
                                          digest_size=8).digest(), "big")


def _parse(source: str, task_id: str, part: str) -> ast.Module:
    try:
        with warnings.catch_warnings():   # invalid escapes in old MBPP code are not our concern
            warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
            return ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        raise InputError(f"task {task_id!r}: {part} does not parse: {exc}", field=part) from exc
    except (RecursionError, MemoryError) as exc:
        raise InputError(f"task {task_id!r}: {part} is nested too deeply to compare",
                         field=part) from exc


def _docstring_free(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:] or [ast.Pass()]
    return body


def _docstrings(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                out.append(doc)
    return out


def _kept_names(trees: Sequence[ast.AST]) -> set[str]:
    """Names that stay as they are: imported ones, and builtins the task never rebinds (a
    local called ``dict`` or ``sum`` is the task's own name, renamed like any other)."""
    imported, bound = set(), set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported.update(a.asname or a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                bound.add(node.id)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
    return imported | (_BUILTINS - bound)


class _Canon(ast.NodeTransformer):
    """Renames a statement's names canonically and drops docstrings (in place)."""

    def __init__(self, fixed: dict[str, str], keep: set[str]) -> None:
        self.fixed, self.keep = fixed, keep
        self.names: dict[str, str] = {}

    def rename(self, name: str) -> str:
        if name in self.fixed:
            return self.fixed[name]
        if name in self.keep:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self.rename(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self.rename(node.arg)
        self.generic_visit(node)
        return node

    def _scope(self, node):
        node.name = self.rename(node.name)
        node.body = _docstring_free(node.body)
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    def visit_Global(self, node: ast.Global) -> ast.AST:
        node.names = [self.rename(n) for n in node.names]
        return node

    visit_Nonlocal = visit_Global

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.name:
            node.name = self.rename(node.name)
        self.generic_visit(node)
        return node


def _fixed_names(task: Task, trees: Iterable[ast.Module]) -> dict[str, str]:
    """ENTRY for the entry point and ARGi for its parameters (from the first definition)."""
    fixed = {task.entry_point: "ENTRY"}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == task.entry_point:
                args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                for i, a in enumerate(args):
                    fixed.setdefault(a.arg, f"ARG{i}")
                return fixed
    return fixed


def _canonical(tree: ast.Module, fixed: dict[str, str], keep: set[str]) -> ast.Module:
    """`tree` renamed (each top-level statement on its own) without docstrings, in place."""
    body = []
    for stmt in _docstring_free(tree.body):
        body.append(_Canon(fixed, keep).visit(stmt))
    return ast.Module(body=body, type_ignores=[])


_SKIP_FIELDS = frozenset({"ctx", "type_comment", "kind"})


_OCCURRENCE = 0x9E3779B97F4A7C15   # the n-th copy of a digest: digest ^ n * this (64 bits)


def _subtrees(tree: ast.AST, min_nodes: int) -> frozenset[int]:
    """The multiset of the digests of every subtree with at least `min_nodes` nodes, as a set
    (the n-th copy of a digest is its own element), so that set Jaccard is multiset Jaccard.

    Iterative (a hostile task may nest deeper than the interpreter recurses). Nodes without
    fields (operators, contexts) are shared by the parser and enter their parent's digest by
    name."""
    seen: dict[int, int] = {}
    out = set()
    done: dict[int, tuple[int, int]] = {}      # id(node) -> (digest, size)
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if not expanded:
            stack.append((node, True))
            stack.extend((c, False) for c in ast.iter_child_nodes(node) if c._fields)
            continue
        parts = [type(node).__name__]
        size = 1
        for name, value in ast.iter_fields(node):
            if name in _SKIP_FIELDS:
                continue
            for v in value if isinstance(value, list) else [value]:
                if not isinstance(v, ast.AST):
                    parts.append(f"{name}={type(v).__name__}:{v!r}")
                elif not v._fields:
                    parts.append(f"{name}:{type(v).__name__}")
                    size += 1
                else:
                    digest, n = done.pop(id(v))
                    parts.append(f"{name}:{digest:x}")
                    size += n
        digest = _digest("|".join(parts))
        done[id(node)] = (digest, size)
        if size >= min_nodes and node is not tree:   # the whole module is no subtree
            n = seen[digest] = seen.get(digest, -1) + 1
            out.add(digest ^ (n * _OCCURRENCE) & 0xFFFFFFFFFFFFFFFF)
    return frozenset(out)


def _shingles(tokens: Sequence[str], k: int) -> frozenset[int]:
    if not tokens:
        return frozenset()
    if len(tokens) <= k:
        return frozenset({_digest("\x1f".join(tokens))})
    return frozenset(_digest("\x1f".join(tokens[i:i + k])) for i in range(len(tokens) - k + 1))


def _words(text: str, fixed: dict[str, str]) -> list[str]:
    return [fixed.get(w, w.lower()) for w in _WORD.findall(text)]


# --------------------------------------------------------------------------- fingerprints


@dataclass(frozen=True)
class PartPrint:
    """One part's normalised features: AST subtree digests (None for a prompt) and shingles."""

    subtrees: frozenset[int] | None
    shingles: frozenset[int]


@dataclass(frozen=True)
class Fingerprint:
    """What comparisons need of one task, computed once (`Fingerprint.of`)."""

    task_id: str
    key: str                                   # `content_key`
    parts: dict[Part, PartPrint]

    @classmethod
    def of(cls, task: Task, config: SimilarityConfig = SimilarityConfig()) -> "Fingerprint":
        return fingerprint(task, config)


def content_key(task: Task) -> str:
    """The exact-duplicate key: a hex digest of the task's prompt, tests, setup and reference
    up to formatting and comments (Python parts as their `ast.dump`; a text prompt with its
    whitespace collapsed). Ids, tags, limits and perf inputs are not part of it.

    >>> a = Task("a", "Add  two\\nnumbers.", "add", "assert add(1, 2) == 3")
    >>> b = Task("b", "Add two numbers.", "add", "assert add(1,2)==3  # sum")
    >>> content_key(a) == content_key(b), content_key(a) == content_key(Task("c", "Add.", "add", "assert add(1, 2) == 3"))
    (True, False)
    """
    def code(source: str, part: str) -> str:
        if not source.strip():
            return ""
        tree = _parse(source, task.task_id, part)
        try:
            return ast.dump(tree)
        except RecursionError as exc:
            raise InputError(f"task {task.task_id!r}: {part} is nested too deeply to compare",
                             field=part) from exc

    prompt = code(task.prompt, "prompt") if task.prompt_style == "code" else " ".join(task.prompt.split())
    fields = [task.prompt_style, task.entry_point, prompt, code(task.tests, "tests"),
              code(task.setup, "setup"), code(task.reference or "", "reference")]
    return hashlib.sha256("\x00".join(fields).encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(task: Task, config: SimilarityConfig = SimilarityConfig()) -> Fingerprint:
    """The normalised features of `task` (see the module docstring); parsing only."""
    try:
        return _fingerprint(task, config)
    except RecursionError as exc:
        raise InputError(f"task {task.task_id!r} is nested too deeply to compare") from exc


def _fingerprint(task: Task, config: SimilarityConfig) -> Fingerprint:
    trees = {Part.TESTS: _parse(task.tests, task.task_id, "tests")}
    if task.prompt_style == "code":
        trees[Part.PROMPT] = _parse(task.prompt, task.task_id, "prompt")
    if task.reference:
        trees[Part.REFERENCE] = _parse(task.reference, task.task_id, "reference")
    fixed = _fixed_names(task, [trees[p] for p in (Part.PROMPT, Part.REFERENCE) if p in trees])
    keep = _kept_names(list(trees.values()))
    parts: dict[Part, PartPrint] = {}
    for part, tree in trees.items():
        docstrings = _docstrings(tree) if part is Part.PROMPT else []
        canon = _canonical(tree, fixed, keep)
        shingles = _shingles(_CODE_TOKEN.findall(ast.unparse(canon)), config.code_shingle)
        if part is Part.PROMPT:
            # A code prompt's words are its docstrings; its code, a signature that most
            # prompts of a set share, is no tree worth comparing: shingles only.
            words = _words("\n".join(docstrings), fixed)
            parts[part] = PartPrint(None, shingles | _shingles(words, config.text_shingle))
        else:
            parts[part] = PartPrint(_subtrees(canon, config.min_subtree), shingles)
    if task.prompt_style == "text":
        parts[Part.PROMPT] = PartPrint(None, _shingles(_words(task.prompt, fixed), config.text_shingle))
    return Fingerprint(task.task_id, content_key(task), parts)


# --------------------------------------------------------------------------- comparison


def _jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a and not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


@dataclass(frozen=True)
class PartScore:
    """How alike one part of two tasks is: AST (None for a prompt) and shingle similarity."""

    ast: float | None
    shingle: float

    @property
    def value(self) -> float:
        """The part's similarity: the larger of its two figures."""
        return max(self.shingle, self.ast or 0.0)


@dataclass(frozen=True)
class Match:
    """The comparison of a task with one other (`task_id`): per-part scores, mean `score`."""

    task_id: str
    parts: dict[Part, PartScore]
    score: float
    near_duplicate: bool

    def to_dict(self) -> dict:
        return {"task_id": self.task_id, "score": round(self.score, 4),
                "near_duplicate": self.near_duplicate,
                "parts": {p.value: {"ast": None if s.ast is None else round(s.ast, 4),
                                    "shingle": round(s.shingle, 4)} for p, s in self.parts.items()}}


def compare(a: Fingerprint, b: Fingerprint, config: SimilarityConfig = SimilarityConfig()) -> Match:
    """`a` compared with `b` (symmetric in its figures); `Match.task_id` is `b`'s."""
    parts = {}
    for part in Part:
        pa, pb = a.parts.get(part), b.parts.get(part)
        if pa is None or pb is None:
            continue
        tree = (_jaccard(pa.subtrees, pb.subtrees)
                if pa.subtrees is not None and pb.subtrees is not None else None)
        parts[part] = PartScore(tree, _jaccard(pa.shingles, pb.shingles))
    score = sum(s.value for s in parts.values()) / len(parts)
    near = score >= config.threshold or any(
        s.ast is not None and s.ast >= config.tree_threshold for s in parts.values())
    return Match(b.task_id, parts, score, near)


@dataclass(frozen=True)
class Check:
    """A task checked against an index: `exact` names a task with the same `content_key`;
    `best` is the closest other task (None for an empty index)."""

    task_id: str
    exact: str | None
    best: Match | None

    @property
    def near_duplicate(self) -> bool:
        return self.exact is not None or (self.best is not None and self.best.near_duplicate)

    def to_dict(self) -> dict:
        return {"task_id": self.task_id, "exact": self.exact, "near_duplicate": self.near_duplicate,
                "best": None if self.best is None else self.best.to_dict()}


class SimilarityIndex:
    """A set of tasks (e.g. a lineage's held-out set) to check new tasks against.

    >>> held = Task("he/1", "def add(a, b):\\n    '''Sum of a and b.'''\\n", "add",
    ...             "assert add(1, 2) == 3\\nassert add(0, 0) == 0", prompt_style="code",
    ...             reference="def add(a, b):\\n    return a + b\\n")
    >>> copy = Task("new/1", "def plus(x, y):\\n    '''Return x plus y.'''\\n", "plus",
    ...             "assert plus(0, 0) == 0\\nassert plus(1, 2) == 3", prompt_style="code",
    ...             reference="def plus(x, y):\\n    return x + y\\n")
    >>> check = SimilarityIndex([held]).check(copy)
    >>> check.exact, check.best.task_id, check.near_duplicate, check.best.parts[Part.TESTS].ast
    (None, 'he/1', True, 1.0)
    """

    def __init__(self, tasks: Iterable[Task | Fingerprint], config: SimilarityConfig = SimilarityConfig()) -> None:
        """`tasks`: tasks, or their fingerprints made with the same `config` (kept by a caller
        that indexes the same tasks again)."""
        self.config = config
        self.prints = [t if isinstance(t, Fingerprint) else fingerprint(t, config) for t in tasks]
        self.keys: dict[str, list[str]] = {}
        for p in self.prints:
            self.keys.setdefault(p.key, []).append(p.task_id)

    def __len__(self) -> int:
        return len(self.prints)

    def check(self, task: Task | Fingerprint) -> Check:
        """`task` against every task of the index except one with the same id."""
        mine = task if isinstance(task, Fingerprint) else fingerprint(task, self.config)
        exact = next((tid for tid in self.keys.get(mine.key, ()) if tid != mine.task_id), None)
        matches = (compare(mine, other, self.config) for other in self.prints
                   if other.task_id != mine.task_id)
        best = max(matches, key=lambda m: (m.near_duplicate, m.score), default=None)
        return Check(mine.task_id, exact, best)
