"""Leak control: are lightly edited copies of HumanEval / MBPP tasks flagged, and distinct tasks not?

For every task it makes lightly edited copies — identifiers renamed (the entry point, its
parameters and the reference's locals, in code, tests and text alike), the prompt's text
reworded (synonyms and rephrased openings; examples kept), the tests reordered — and checks
each copy against the set it came from (`codealign.tasks.similarity.SimilarityIndex`): a copy
is *detected* when it is flagged as a near duplicate of its own original. Every task is also
checked against the *other* tasks of its set, as a new submission against a held-out set:
a flag there is the real false-positive risk (some are true near duplicates inside the
datasets; the closest pairs flagged by the mean score alone are listed). Reformatted
copies (layout and comments only) must share the original's `content_key`: exact duplicates.

The threshold is never chosen on the figures it is reported with. Each set is split by task
id (sha256 of the id, even first byte: *calibration*, odd: *evaluation*). On the calibration
halves the mean-score threshold is swept: the chosen one is the lowest (the most tolerant of
heavier edits) that flags >= 99% of every kind of copy while the mean score alone flags <= 1%
of the distinct tasks, on each set. The same-tree rule (`tree_threshold`: the same normalised
tests or reference) is a definition, not tuned: what it flags is reported in its own column.
Rates are then reported on the evaluation halves only, for the chosen threshold and for the
library's defaults (`SimilarityConfig()`), beside a baseline measured in the same run: the
Jaccard index of 4-token shingles of the raw text (no normalisation), its threshold the lowest
with <= 1% of distinct calibration tasks flagged. Time: fingerprinting per task (median) and
one comparison (median over tasks of the mean over its comparisons).

    PYTHONPATH=. .venv/bin/python benchmarks/leak_control.py [--mbpp PATH] [--limit N] [--seed S]
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codealign.tasks import Task, load_humaneval, load_mbpp  # noqa: E402
from codealign.tasks.similarity import (Part, SimilarityConfig,  # noqa: E402
                                        compare, content_key, fingerprint)


# ----------------------------------------------------------------------------- light edits

VERBS = ("compute", "get", "find", "make", "calc", "build", "count", "pick", "solve", "eval")
NOUNS = ("result", "value", "items", "data", "answer", "total", "thing", "output", "seq", "entry")
PARAMS = ("alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "zeta", "rho",
          "xs", "ys", "vals", "arr", "num", "txt", "limit", "key", "idx", "acc")
SYNONYMS = {
    "write": "create", "function": "routine", "find": "determine", "return": "give back",
    "returns": "gives back", "given": "provided", "list": "sequence", "lists": "sequences",
    "number": "value", "numbers": "values", "string": "text", "strings": "texts",
    "check": "test", "element": "item", "elements": "items", "count": "tally",
    "maximum": "largest", "minimum": "smallest", "first": "initial", "remove": "delete",
    "sum": "total", "each": "every", "all": "every one of the", "whether": "if",
    "calculate": "compute", "characters": "symbols", "character": "symbol", "array": "list",
    "integer": "whole number", "integers": "whole numbers", "positive": "strictly positive",
    "true": "True", "false": "False", "contains": "includes", "occurrence": "appearance",
    "input": "argument", "output": "result", "two": "2", "larger": "bigger", "smaller": "lesser",
    "between": "amongst", "largest": "greatest", "smallest": "least", "words": "terms",
    "word": "term", "returned": "given back", "using": "with", "python": "Python 3",
}
OPENINGS = ((r"^Write a (python )?function (to|that) ", "Implement a routine which should "),
            (r"^Return ", "Produce "), (r"^Given ", "For "), (r"^Check if ", "Decide whether "))


def _edit_names(task: Task, rng: random.Random) -> dict[str, str]:
    """Old -> new names: the entry point, its parameters, the reference's own names."""
    trees = [ast.parse(s) for s in (task.prompt if task.prompt_style == "code" else "",
                                    task.reference or "")]
    bound: list[str] = [task.entry_point]
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                bound.append(node.name)
                bound += [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.append(node.id)
    used = {n.id for s in (task.tests, task.reference or "") for n in ast.walk(ast.parse(s))
            if isinstance(n, ast.Name)} | set(bound)
    names: dict[str, str] = {}
    pool = [f"{v}_{n}" for v in VERBS for n in NOUNS] + list(PARAMS)
    rng.shuffle(pool)
    for old in dict.fromkeys(bound):
        if old in ("self", "cls") or old.startswith("__"):
            continue
        new = next(p for p in pool if p not in used and p not in names.values())
        names[old] = new
    return names


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str], params: set[str]) -> None:
        self.names, self.params = names, params

    def visit_Name(self, node):
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.names.get(node.arg, node.arg)
        return self.generic_visit(node)

    def visit_FunctionDef(self, node):
        node.name = self.names.get(node.name, node.name)
        doc = ast.get_docstring(node, clean=False)
        if doc is not None:
            node.body[0].value.value = _replace_words(doc, self.names)
        return self.generic_visit(node)

    def visit_keyword(self, node):
        if node.arg in self.params:
            node.arg = self.names[node.arg]
        return self.generic_visit(node)


def _replace_words(text: str, names: dict[str, str]) -> str:
    if not names:
        return text
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")\b")
    return pattern.sub(lambda m: names[m.group(1)], text)


def rename(task: Task, rng: random.Random) -> Task:
    names = _edit_names(task, rng)
    params = {k for k in names if k != task.entry_point}

    def code(source: str) -> str:
        return ast.unparse(_Rename(names, params).visit(ast.parse(source))) + "\n" if source.strip() else source

    prompt = code(task.prompt) if task.prompt_style == "code" else _replace_words(task.prompt, names)
    return dataclasses.replace(task, prompt=prompt, tests=code(task.tests),
                               reference=code(task.reference) if task.reference else None,
                               entry_point=names[task.entry_point])


def _reword_text(text: str, rng: random.Random) -> str:
    lines = []
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith((">>>", "assert")) or not stripped:
            lines.append(line)   # examples and the shown test stay as they are
            continue
        for pattern, repl in OPENINGS:
            line = re.sub(pattern, repl, line.lstrip(), count=1) if re.match(pattern, line.lstrip()) \
                else line
        words = re.split(r"(\W+)", line)
        lines.append("".join(SYNONYMS.get(w.lower(), w) if rng.random() < 0.8 else w
                             for w in words))
    return "\n".join(lines)


def reword(task: Task, rng: random.Random) -> Task:
    if task.prompt_style == "text":
        return dataclasses.replace(task, prompt=_reword_text(task.prompt, rng))
    tree = ast.parse(task.prompt)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(node):
            node.body[0].value.value = _reword_text(ast.get_docstring(node, clean=False), rng)
    return dataclasses.replace(task, prompt=ast.unparse(tree) + "\n")


def reorder(task: Task, rng: random.Random) -> Task:
    tree = ast.parse(task.tests)

    def shuffle(body: list[ast.stmt]) -> None:
        at = [i for i, s in enumerate(body) if isinstance(s, ast.Assert)]
        asserts = [body[i] for i in at]
        if len(asserts) > 1:
            order = asserts[:]
            while order == asserts:
                rng.shuffle(order)
            for i, s in zip(at, order):
                body[i] = s

    shuffle(tree.body)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            shuffle(node.body)
    return dataclasses.replace(task, tests=ast.unparse(tree) + "\n")


def reformat(task: Task, rng: random.Random) -> Task:
    """Formatting and comments only: an *exact* duplicate (the same `content_key`)."""
    def code(source: str) -> str:
        return "\n\n# copied\n".join(ast.unparse(s) for s in ast.parse(source).body) + "  # end\n"

    return dataclasses.replace(task, prompt=code(task.prompt) if task.prompt_style == "code"
                               else "  " + task.prompt.replace(" ", "  "),
                               tests=code(task.tests),
                               reference=code(task.reference) if task.reference else None)


EDITS = {"rename": (rename,), "reword": (reword,), "reorder": (reorder,),
         "all three": (rename, reword, reorder)}


def edited(task: Task, edits, seed: int) -> Task:
    rng = random.Random(f"{seed}:{task.task_id}")
    for edit in edits:
        task = edit(task, rng)
    return dataclasses.replace(task, task_id=f"edited/{task.task_id}")


# ----------------------------------------------------------------------------- the raw baseline

_RAW = re.compile(r"\w+|[^\w\s]")


@dataclasses.dataclass(frozen=True)
class RawPrint:
    task_id: str
    shingles: frozenset


def raw_print(task: Task) -> RawPrint:
    tokens = _RAW.findall("\n".join([task.prompt, task.tests, task.reference or ""]))
    return RawPrint(task.task_id, frozenset(hash(tuple(tokens[i:i + 4])) for i in range(len(tokens) - 3)))


def raw_score(a: RawPrint, b: RawPrint) -> float:
    return len(a.shingles & b.shingles) / len(a.shingles | b.shingles) if a.shingles or b.shingles else 0.0


# ----------------------------------------------------------------------------- measurement


def split(tasks: list[Task]) -> tuple[list[Task], list[Task]]:
    """(calibration, evaluation): the first byte of sha256(task_id) even or odd."""
    def calibration(t: Task) -> bool:
        return hashlib.sha256(t.task_id.encode()).digest()[0] % 2 == 0

    return [t for t in tasks if calibration(t)], [t for t in tasks if not calibration(t)]


@dataclasses.dataclass(frozen=True)
class Near:
    """One comparison worth keeping: the mean score, the highest AST similarity of tests or
    reference (0 without either), and the other task."""

    score: float
    tree: float
    other: str


@dataclasses.dataclass
class Measured:
    copies: dict[str, list[Near]]     # edit -> each copy against its own original
    distinct: dict[str, list[Near]]   # task id -> its close comparisons with the other tasks
    raw_copies: dict[str, list[float]]
    raw_distinct: list[float]         # per task, the highest raw score against the others
    exact_copies: float               # share of reformatted copies with the original's key
    exact_edited: float               # share of all-three copies with the original's key


KEEP_SCORE = 0.4                      # below the grid: never flagged by the mean, not kept


def near(m) -> Near:
    trees = [s.ast for p, s in m.parts.items() if p is not Part.PROMPT and s.ast is not None]
    return Near(m.score, max(trees, default=0.0), m.task_id)


def measure(tasks: list[Task], config: SimilarityConfig, seed: int,
            timing: dict[str, list[float]]) -> Measured:
    prints = [fingerprint(t, config) for t in tasks]
    raws = [raw_print(t) for t in tasks]
    copies: dict[str, list[Near]] = {}
    raw_copies: dict[str, list[float]] = {}
    for name, edits in EDITS.items():
        copies[name], raw_copies[name] = [], []
        for t, p, r in zip(tasks, prints, raws):
            copy = edited(t, edits, seed)
            start = time.perf_counter()
            cp = fingerprint(copy, config)
            timing["fingerprint"].append(time.perf_counter() - start)
            copies[name].append(near(compare(cp, p, config)))
            raw_copies[name].append(raw_score(raw_print(copy), r))
    keys = [p.key for p in prints]
    exact_copies = sum(content_key(edited(t, (reformat,), seed)) == k for t, k in zip(tasks, keys))
    exact_edited = sum(content_key(edited(t, EDITS["all three"], seed)) == k for t, k in zip(tasks, keys))
    distinct: dict[str, list[Near]] = {}
    raw_distinct = []
    for i, p in enumerate(prints):
        start = time.perf_counter()
        matches = [compare(p, q, config) for j, q in enumerate(prints) if j != i]
        timing["compare"].append((time.perf_counter() - start) / max(len(matches), 1))
        kept = [near(m) for m in matches]
        distinct[p.task_id] = [n for n in kept if n.score >= KEEP_SCORE or n.tree >= TREE]
        start = time.perf_counter()
        raw_distinct.append(max(raw_score(raws[i], q) for j, q in enumerate(raws) if j != i))
        timing["raw compare"].append((time.perf_counter() - start) / max(len(raws) - 1, 1))
    return Measured(copies, distinct, raw_copies, raw_distinct,
                    exact_copies / len(tasks), exact_edited / len(tasks))


TREE = SimilarityConfig().tree_threshold   # the same-tree rule: a definition, not tuned here


def is_flagged(n: Near, threshold: float) -> bool:
    return n.score >= threshold or n.tree >= TREE


def rates(m: Measured, threshold: float) -> dict[str, float]:
    """Detected share per edit; the share of tasks flagged against another task of the set,
    split into those sharing normalised tests or reference with it (the same-tree rule) and
    the others (the mean score alone)."""
    out = {name: sum(is_flagged(n, threshold) for n in v) / len(v) for name, v in m.copies.items()}
    out["by mean"] = sum(n.score >= threshold for n in m.copies["all three"]) / len(m.copies["all three"])
    hits = [[n for n in v if is_flagged(n, threshold)] for v in m.distinct.values()]
    out["distinct"] = sum(bool(h) for h in hits) / len(hits)
    out["same tree"] = sum(any(n.tree >= TREE for n in h) for h in hits) / len(hits)
    out["other"] = out["distinct"] - out["same tree"]
    return out


def raw_rates(m: Measured, threshold: float) -> dict[str, float]:
    out = {name: sum(v >= threshold for v in vs) / len(vs) for name, vs in m.raw_copies.items()}
    out["by mean"] = out["all three"]   # one score: it is the only rule
    out["distinct"] = sum(v >= threshold for v in m.raw_distinct) / len(m.raw_distinct)
    return out


DETECT = 0.99                                             # of every edit kind, every set
FP_CAP = 0.01                                             # distinct tasks flagged by the mean
GRID = [round(0.40 + 0.025 * i, 3) for i in range(25)]    # 0.400 .. 1.000
RAW_GRID = [round(0.05 + 0.025 * i, 3) for i in range(38)]


def calibrate(halves: list[Measured]) -> tuple[float, float | None]:
    """The mean-score threshold from the calibration halves: the lowest — the most tolerant
    of heavier edits — that flags >= DETECT of every kind of copy on every half while flagging
    <= FP_CAP of the distinct tasks on every half by the mean score alone (the same-tree rule
    is a definition: what it flags is reported, not tuned away). The raw baseline: the lowest
    threshold with <= FP_CAP of the distinct tasks flagged."""
    feasible = [t for t in GRID
                if all(r[e] >= DETECT for r in (rates(m, t) for m in halves) for e in EDITS)
                and all(rates(m, t)["other"] <= FP_CAP for m in halves)]
    raw = [t for t in RAW_GRID if all(raw_rates(m, t)["distinct"] <= FP_CAP for m in halves)]
    if not feasible:
        raise SystemExit(f"no threshold flags {DETECT:.0%} of the copies and <= {FP_CAP:.0%} "
                         "of the distinct calibration tasks")
    return min(feasible), min(raw) if raw else None


def quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mbpp", default=None, help="mbpp.jsonl (default: the `mbpp` task set)")
    ap.add_argument("--limit", type=int, default=0, help="first N tasks of each set (0: all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the edits")
    args = ap.parse_args()

    sets = {"humaneval": load_humaneval(), "mbpp": load_mbpp(args.mbpp)}
    sets = {k: v[:args.limit or None] for k, v in sets.items()}
    by_id = {t.task_id: t for tasks in sets.values() for t in tasks}
    config = SimilarityConfig()
    halves = {name: split(tasks) for name, tasks in sets.items()}
    print("split by sha256(task_id), first byte even = calibration: " + ", ".join(
        f"{n} {len(c)} / {len(e)}" for n, (c, e) in halves.items()))
    same_key = {name: len(tasks) - len({content_key(t) for t in tasks}) for name, tasks in sets.items()}

    timing: dict[str, list[float]] = {"fingerprint": [], "compare": [], "raw compare": []}
    measured = {(name, half): measure(tasks, config, args.seed, timing)
                for name, (cal, ev) in halves.items()
                for half, tasks in (("calibration", cal), ("evaluation", ev))}
    threshold, raw_threshold = calibrate([measured[name, "calibration"] for name in sets])
    print(f"chosen on the calibration halves (>= {DETECT:.0%} of every kind of copy flagged, "
          f"<= {FP_CAP:.0%} of distinct tasks flagged by the mean score; the lowest such): "
          f"threshold {threshold} (same-tree rule: tree_threshold {TREE:g}); raw-shingle "
          f"baseline {raw_threshold} (the lowest with <= {FP_CAP:.0%} distinct flagged)")

    out = {"benchmark": "leak_control", "split": "sha256(task_id)[0] even: calibration",
           "chosen": {"threshold": threshold, "raw_threshold": raw_threshold},
           "defaults": {"threshold": config.threshold, "tree_threshold": config.tree_threshold}}
    columns = list(EDITS) + ["by mean", "distinct", "same tree", "other"]
    print("\nevaluation halves: share of copies flagged as near duplicates of their original "
          "(by mean: all-three copies flagged by the mean score alone); "
          "share of distinct tasks flagged against another task of the set, split into those "
          "sharing normalised tests or reference with it (same tree) and the others")
    print(f"{'set':<10} {'method':<24}" + "".join(f"{c:>10}" for c in columns))
    for name in sets:
        m = measured[name, "evaluation"]
        rows = {f"chosen {threshold:g}": rates(m, threshold),
                f"defaults {config.threshold:g}": rates(m, config.threshold)}
        if raw_threshold is not None:
            rows[f"raw shingles {raw_threshold:g}"] = raw_rates(m, raw_threshold)
        out[name] = {"tasks": len(m.distinct), "exact_duplicates_in_set": same_key[name],
                     "reformatted_copies_exact": round(m.exact_copies, 4),
                     "edited_copies_exact": round(m.exact_edited, 4),
                     **{k: {c: round(v, 4) for c, v in r.items()} for k, r in rows.items()}}
        for label, r in rows.items():
            print(f"{name:<10} {label:<24}" + "".join(
                f"{r[c]:>10.1%}" if c in r else f"{'':>10}" for c in columns))
        copy_scores = [n.score for n in m.copies["all three"]]
        best_other = [max((n.score for n in v), default=0.0) for v in m.distinct.values()]
        print(f"{'':<10} mean score: all-three copies min {min(copy_scores):.3f}, 1st percentile "
              f"{quantile(copy_scores, 0.01):.3f}; distinct tasks' closest other: 99th percentile "
              f"{quantile(best_other, 0.99):.3f}, max {max(best_other):.3f}")
        out[name]["copy_score_min"] = round(min(copy_scores), 4)
        out[name]["distinct_score_p99"] = round(quantile(best_other, 0.99), 4)
        print(f"{'':<10} exact: reformatted copies {m.exact_copies:.1%} share the original's key, "
              f"edited copies {m.exact_edited:.1%}; tasks of the whole set sharing a key: {same_key[name]}")
        flagged = sorted({(n.score, min(tid, n.other), max(tid, n.other)) for tid, v in m.distinct.items()
                          for n in v if n.score >= config.threshold and n.tree < TREE})
        for score, a, b in flagged[::-1][:3] + [f for f in flagged[:3] if f not in flagged[::-1][:3]]:
            first = lambda t: " ".join(by_id[t].prompt.strip().split("\n")[0].split())[:70]
            print(f"{'':<10}   flagged pair {score:.2f}: {a} {first(a)!r} ~ {b} {first(b)!r}")
    fp_ms = statistics.median(timing["fingerprint"]) * 1e3
    cmp_us = statistics.median(timing["compare"]) * 1e6
    raw_us = statistics.median(timing["raw compare"]) * 1e6
    out["fingerprint_ms_median"], out["compare_us_median"] = round(fp_ms, 3), round(cmp_us, 2)
    out["raw_compare_us_median"] = round(raw_us, 2)
    print(f"\ntime: fingerprint {fp_ms:.2f} ms per task (median); one comparison {cmp_us:.1f} µs, "
          f"{cmp_us / raw_us:.1f}x the raw baseline's {raw_us:.1f} µs (median over tasks of the "
          f"mean over its comparisons)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
