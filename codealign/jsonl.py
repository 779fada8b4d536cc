"""Reading and writing JSON Lines with errors that name the file and line.

Readers load the whole file before returning, so a malformed line means nothing is
half-loaded. Writers write to a temporary file and rename it into place, so a killed
process never leaves a truncated file under the final name.

Any string JSON can carry is written back: `dumps` keeps text readable (no blanket
``\\uXXXX`` escaping) but escapes what UTF-8 cannot encode, the lone surrogates
(``"\\ud800"`` in a JSON file reads as one; candidate code and output carry them), so a
record never fails to write and reads back equal. NULs and control characters are escaped
by `json` itself.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from codealign.errors import InputError

__all__ = ["dumps", "read_jsonl", "write_jsonl", "append_jsonl", "write_json", "file_identity"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """JSON text for `obj` that always encodes as UTF-8: lone surrogates become escapes.

    >>> print(dumps({"code": "x = '\\ud800'", "note": "été"}))
    {"code": "x = '\\ud800'", "note": "été"}
    """
    text = json.dumps(obj, indent=indent, ensure_ascii=False)
    # Outside strings JSON text is ASCII, so every surrogate here is inside a string literal.
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def read_jsonl(path: str | os.PathLike) -> list[tuple[int, dict[str, Any]]]:
    """Return `(line_number, object)` for every non-blank line; raise `InputError` on the first bad one."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", path=str(path)) from exc
    rows = []
    for number, raw in enumerate(text.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except UnicodeDecodeError as exc:
            raise InputError(f"not valid UTF-8 ({exc.reason})", path=str(path), line=number) from exc
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg} at column {exc.colno}", path=str(path),
                             line=number) from exc
        if not isinstance(obj, dict):
            raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=str(path),
                             line=number)
        rows.append((number, obj))
    return rows


def _atomic_write(path: Path, chunks: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_identity(path: str | os.PathLike) -> list[int] | None:
    """[inode, size, mtime in ns] of `path` (None when it does not exist): what changes when a
    record file is replaced or appended to, for caches of what was read from it. A list, so
    that it compares equal after a JSON round trip."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    """Write records atomically, one compact JSON object per line."""
    _atomic_write(Path(path), (dumps(r) + "\n" for r in records))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write one JSON document atomically (used for manifests and summaries)."""
    _atomic_write(Path(path), [dumps(obj, indent=2) + "\n"])


def append_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    """Append records and fsync; for streaming outputs that are resumed by key."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for r in records:
            handle.write(dumps(r) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def iter_lines(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The objects of `read_jsonl`, without line numbers."""
    for _, obj in read_jsonl(path):
        yield obj
